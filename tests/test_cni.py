"""The silk-cni entry point: lean imports, validation, JSON and result shapes."""

import json
import os
import subprocess
import sys

import pytest

import silkctl
from silkctl import cni
from silkctl.cni import CniError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(silkctl.__file__)))

HEAVY = (
    "typer",
    "rich",
    "peewee",
    "bottle",
    "pyroute2",
    "click",
    "os",
    "json",
    "socket",
    "re",
    "logging",
    "subprocess",
    "silkctl.cni_service",
)

ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "abc",
    "CNI_NETNS": "/run/netns/x",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin",
}


def conf(**overrides) -> str:
    values = {
        "cniVersion": "1.0.0",
        "name": "silk",
        "type": "silk-cni",
        "dataDir": "/var/lib/silk",
        "datastore": "/var/lib/silk/store.json",
    }
    values.update(overrides)
    return json.dumps({k: v for k, v in values.items() if v is not None})


def error_of(env: dict, stdin: str) -> CniError:
    with pytest.raises(CniError) as caught:
        cni.parse_request(env, stdin)
    return caught.value


def test_cni_import_stays_lean_when_loaded_alone():
    code = "import sys; import silkctl.cni; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {ROOT!r}); " + code,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
        env={},
    )
    loaded = set(done.stdout.split())
    assert "silkctl.cni" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_cni_launcher_imports_nothing_heavy_when_installed(cni_bin):
    launcher = (cni_bin / "silk-cni").read_text()
    interpreter, flags = launcher.splitlines()[0][2:].split()
    assert flags == "-IS"
    assert os.path.dirname(interpreter) == os.path.dirname(sys.executable)
    probe = launcher.replace("launch()", "print(' '.join(sorted(sys.modules)))")
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    assert not set(done.stdout.split()) & set(HEAVY)


def test_launcher_prints_answer_and_exit_code_when_it_skips_finalization(
    cni_bin, tmp_path
):
    plugin = str(cni_bin / "silk-cni")
    version = subprocess.run(
        [plugin], input=b"", env={"CNI_COMMAND": "VERSION"}, capture_output=True
    )
    assert version.returncode == 0
    assert json.loads(version.stdout)["supportedVersions"][-1] == cni.SPEC_VERSION
    add = subprocess.run(
        [plugin],
        input=conf(cniSocket=str(tmp_path / "none.sock")).encode(),
        env=ENV,
        capture_output=True,
    )
    assert add.returncode == 1
    assert json.loads(add.stdout)["code"] == cni.TRY_AGAIN_LATER


def test_environment_reads_cni_variables_as_os_environ_decodes_them():
    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "from silkctl import cni\n"
        "env = cni.environment()\n"
        "print(sorted(env), env == {k: os.environ[k] for k in env})"
    )
    environ = {
        "CNI_COMMAND": "ADD",
        "CNI_ARGS": "K8S_POD_NAME=caf\xc3\xa9;RAW=\udcff",
        "OTHER": "x",
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        env={
            key.encode(): value.encode("utf-8", "surrogateescape")
            for key, value in environ.items()
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split("\n")[0] == "['CNI_ARGS', 'CNI_COMMAND'] True"


def test_loads_decodes_documents_when_valid():
    assert cni.loads(' {"a": [1, 2.5, "é", null, true, false], "b": {}} \n') == {
        "a": [1, 2.5, "é", None, True, False],
        "b": {},
    }


@pytest.mark.parametrize(
    "text", ["", "   ", "{", '{"a": }', "[1] [2]", '{"a": NaN}', "nul"]
)
def test_loads_raises_value_error_when_malformed(text):
    with pytest.raises(ValueError):
        cni.loads(text)


def test_loads_names_the_position_when_json_module_was_never_imported():
    code = (
        "import sys; import silkctl.cni\n"
        "try:\n    silkctl.cni.loads('{\"a\": 1,')\n"
        "except ValueError as err:\n    print(type(err).__name__, err)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {ROOT!r}); " + code,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("JSONDecodeError Expecting property name")


def test_dumps_round_trips_through_json_when_nested():
    value = {"s": 'q"\\\n\u00e9', "n": [1, -2, 0.5, None, True, False], "o": {"k": []}}
    assert json.loads(cni.dumps(value)) == value


def test_parse_request_accepts_every_supported_version():
    for version in cni.SUPPORTED_VERSIONS:
        request = cni.parse_request(ENV, conf(cniVersion=version))
        assert (request.command, request.version, request.ifname) == (
            "ADD",
            version,
            "eth0",
        )


def test_parse_request_answers_version_when_stdin_is_anything():
    request = cni.parse_request({"CNI_COMMAND": "VERSION"}, "not json")
    assert request.command == "VERSION"
    reply = json.loads(cni.version_reply())
    assert reply == {
        "cniVersion": "1.1.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


@pytest.mark.parametrize(
    "env, stdin, code, text",
    [
        ({**ENV, "CNI_COMMAND": "FROB"}, conf(), 4, "unknown CNI_COMMAND"),
        ({**ENV, "CNI_COMMAND": ""}, conf(), 4, "unknown CNI_COMMAND"),
        (ENV, "{not json", 6, "decode network config"),
        (ENV, "[1, 2]", 6, "not a JSON object"),
        (ENV, conf(cniVersion="9.9.9"), 1, "incompatible CNI versions"),
        (ENV, conf(cniVersion="0.2.0"), 1, "plugin supports"),
        (ENV, conf(cniVersion=None), 7, "cniVersion is missing"),
        ({**ENV, "CNI_COMMAND": "CHECK"}, conf(cniVersion="0.3.1"), 1, "CHECK needs"),
        ({**ENV, "CNI_COMMAND": "GC"}, conf(), 1, "GC needs cniVersion 1.1.0"),
        ({**ENV, "CNI_COMMAND": "STATUS"}, conf(cniVersion="0.4.0"), 1, "STATUS needs"),
        ({k: v for k, v in ENV.items() if k != "CNI_NETNS"}, conf(), 4, "CNI_NETNS"),
        ({**ENV, "CNI_NETNS": "relative/path"}, conf(), 4, "absolute path"),
        ({**ENV, "CNI_PATH": ""}, conf(), 4, "CNI_PATH"),
        ({**ENV, "CNI_CONTAINERID": ""}, conf(), 4, "CNI_CONTAINERID"),
        ({**ENV, "CNI_CONTAINERID": "a/b"}, conf(), 4, "invalid characters"),
        ({**ENV, "CNI_IFNAME": "x" * 16}, conf(), 4, "interface name is too long"),
        ({**ENV, "CNI_IFNAME": "a/b"}, conf(), 4, "invalid interface name"),
        ({**ENV, "CNI_ARGS": "novalue"}, conf(), 4, "invalid CNI_ARGS"),
        (ENV, conf(mtu=-5), 7, "mtu: -5 is negative"),
        (ENV, conf(mtu=20), 7, "mtu: 20 is outside"),
        (ENV, conf(mtu="1450"), 7, "not an integer"),
        (ENV, conf(daemonPort=70000), 7, "daemonPort"),
        (ENV, conf(name="a/b"), 7, "name:"),
        (ENV, conf(type=None), 7, "type:"),
        (ENV, conf(dataDir=None), 7, "dataDir: must be an absolute path"),
        (
            ENV,
            conf(datastore="relative.json"),
            7,
            "datastore: must be an absolute path",
        ),
        (ENV, conf(cniSocket=5), 7, "cniSocket"),
        (ENV, conf(ipam=[]), 7, "ipam: must be an object"),
        (ENV, conf(ipam={"type": "../evil"}), 7, "ipam.type"),
        (
            ENV,
            conf(prevResult={"cniVersion": "0.2.0"}),
            1,
            "incompatible prevResult version",
        ),
        (
            ENV,
            conf(prevResult={"ips": [{"gateway": "1.2.3.4"}]}),
            6,
            "decode prevResult",
        ),
        (
            {**ENV, "CNI_COMMAND": "GC"},
            conf(cniVersion="1.1.0"),
            7,
            "valid-attachments",
        ),
    ],
)
def test_parse_request_reports_spec_code_when_input_is_bad(env, stdin, code, text):
    error = error_of(env, stdin)
    assert error.code == code
    assert text in str(error)


def test_parse_request_allows_del_without_netns():
    env = {**ENV, "CNI_COMMAND": "DEL", "CNI_NETNS": ""}
    assert cni.parse_request(env, conf()).netns == ""


def test_parse_request_reads_cni_args_when_given():
    request = cni.parse_request(
        {**ENV, "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web"}, conf()
    )
    assert request.args == {"IgnoreUnknown": "1", "K8S_POD_NAME": "web"}


def test_parse_request_reads_prev_result_by_its_own_version():
    old = {
        "cniVersion": "0.3.1",
        "interfaces": [{"name": "eth0"}],
        "ips": [{"version": "4", "address": "10.1.0.5/24", "interface": 0}],
    }
    request = cni.parse_request(ENV, conf(cniVersion="1.0.0", prevResult=old))
    assert request.prev_result["ips"] == [{"address": "10.1.0.5/24", "interface": 0}]


@pytest.mark.parametrize(
    "version, has_ip_version, has_mtu",
    [
        ("0.3.0", True, False),
        ("0.3.1", True, False),
        ("0.4.0", True, False),
        ("1.0.0", False, False),
        ("1.1.0", False, True),
    ],
)
def test_format_result_takes_the_shape_of_the_version(version, has_ip_version, has_mtu):
    result = {
        "interfaces": [
            {
                "name": "eth0",
                "mac": "ee:ee:0a:ff:1e:02",
                "mtu": 1450,
                "sandbox": "/run/netns/x",
            }
        ],
        "ips": [
            {"address": "10.255.30.2/32", "gateway": "169.254.0.1", "interface": 0}
        ],
        "routes": [{"dst": "0.0.0.0/0", "gw": "169.254.0.1"}],
        "dns": {},
    }
    shaped = cni.format_result(result, version)
    assert shaped["cniVersion"] == version
    assert ("version" in shaped["ips"][0]) is has_ip_version
    assert ("mtu" in shaped["interfaces"][0]) is has_mtu
    assert shaped["routes"] == result["routes"]


def test_cni_error_json_carries_the_four_spec_keys():
    text = CniError(11, "silk daemon is not ready", "connect: refused").to_json("0.4.0")
    assert json.loads(text) == {
        "cniVersion": "0.4.0",
        "code": 11,
        "msg": "silk daemon is not ready",
        "details": "connect: refused",
    }


def test_run_reports_try_again_when_socket_is_missing(tmp_path):
    code, out = cni.run(ENV, conf(cniSocket=str(tmp_path / "none.sock")))
    error = json.loads(out)
    assert code == 1
    assert (error["code"], error["cniVersion"]) == (11, "1.0.0")
    assert "none.sock" in error["details"]


def test_run_reports_not_available_when_status_cannot_reach_daemon(tmp_path):
    env = {"CNI_COMMAND": "STATUS", "CNI_PATH": "/opt/cni/bin"}
    code, out = cni.run(
        env, conf(cniVersion="1.1.0", cniSocket=str(tmp_path / "x.sock"))
    )
    assert (code, json.loads(out)["code"]) == (1, 50)
