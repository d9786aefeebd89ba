"""silk-cni on bad input: the spec's code and message, and no state changed."""

import json

import pytest

from tests.fixtures.cni import ip_json

pytestmark = pytest.mark.kernel


def assert_untouched(host, box) -> None:
    assert host.host_links() == []
    assert host.reservations() == []
    assert host.records() == {}
    assert [link["ifname"] for link in ip_json(box.name, "link", "show")] == ["lo"]


def assert_spec_error(run, code: int, text: str, version: str = "1.1.0") -> None:
    assert run.code == 1
    error = json.loads(run.stdout)
    assert set(error) == {"cniVersion", "code", "msg", "details"}
    assert (error["cniVersion"], error["code"]) == (version, code)
    assert text in f"{error['msg']}: {error['details']}"


@pytest.mark.parametrize(
    "stdin, code, text",
    [
        ("{this is not json", 6, "decode network config"),
        ("[" * 30000, 6, "decode network config: document nested too deeply"),
        (
            '{"cniVersion": "7.0.0", "name": "silk", "type": "silk-cni"}',
            1,
            "incompatible CNI versions: config is 7.0.0",
        ),
    ],
)
def test_add_reports_decode_errors_when_config_is_unreadable(
    cni_host, stdin, code, text
):
    box = cni_host.container()
    assert_spec_error(cni_host.cni("ADD", box, stdin=stdin), code, text)
    assert_untouched(cni_host, box)


@pytest.mark.parametrize(
    "env, code, text",
    [
        ({"CNI_NETNS": None}, 4, "missing environment variables: CNI_NETNS"),
        ({"CNI_IFNAME": "a-very-long-ifname"}, 4, "interface name is too long"),
        ({"CNI_COMMAND": "RESTART"}, 4, "unknown CNI_COMMAND"),
        ({"CNI_PATH": None}, 4, "CNI_PATH"),
    ],
)
def test_add_reports_code_4_when_environment_is_wrong(cni_host, env, code, text):
    box = cni_host.container()
    assert_spec_error(cni_host.cni("ADD", box, env=env), code, text)
    assert_untouched(cni_host, box)


@pytest.mark.parametrize(
    "overrides, text",
    [
        ({"mtu": -123}, "mtu: -123 is negative"),
        ({"datastore": ""}, "datastore: must be an absolute path"),
        ({"ipam": "host-local"}, "ipam: must be an object"),
    ],
)
def test_add_reports_code_7_when_network_config_is_invalid(cni_host, overrides, text):
    box = cni_host.container()
    assert_spec_error(cni_host.cni("ADD", box, cni_host.conf(**overrides)), 7, text)
    assert_untouched(cni_host, box)


def test_add_reports_code_11_when_daemon_is_down(cni_host):
    cni_host.stop_service()
    box = cni_host.container()
    run = cni_host.cni("ADD", box, cni_host.conf(cniVersion="0.4.0"))
    assert_spec_error(run, 11, "silk daemon is not ready: connect", version="0.4.0")
    assert_untouched(cni_host, box)


def test_version_answers_without_daemon_or_config(cni_host):
    cni_host.stop_service()
    run = cni_host.cni("VERSION", stdin="")
    assert run.code == 0
    assert run.json["supportedVersions"] == [
        "0.3.0",
        "0.3.1",
        "0.4.0",
        "1.0.0",
        "1.1.0",
    ]


def test_cni_writes_only_one_json_document_to_stdout_when_it_fails(cni_host):
    box = cni_host.container()
    run = cni_host.cni("ADD", box, cni_host.conf(mtu=-1))
    assert run.stdout.count("\n") == 1
    json.loads(run.stdout)
