"""The `silk-cni` entry point: parse a CNI call, forward it to the daemon, print.

A runtime starts this program once per container and verb, so its hot path
stays lean: it imports only the C halves of `json` and `socket` (the
pure-Python wrappers pull in `re`, `enum` and `selectors`, which cost more
than the rest of the call), and reads the environment through `posix`,
which the interpreter has loaded already, rather than `os` (about 1 ms).
The installed launcher calls `launch()`, which skips the interpreter's
finalization (about 1.5 ms) once the answer is out. The netlink work runs in the
host daemon, where pyroute2 is already loaded, behind the root-only Unix
socket `cniSocket`:

    runtime ──stdin/env──► silk-cni ──unix socket──► daemon (cni_service)
            ◄──stdout────           ◄──"<exit>\\n<stdout>"──

When the socket cannot be reached, ADD fails fast with code 11 (try again
later) and STATUS with code 50; DEL, GC and CHECK run the same service code
in this process instead (importing pyroute2 then), so DEL always frees the
address.

This module is also the protocol library the service uses: request
parsing and validation, spec error JSON and result shapes per version.
"""

import _json
import _socket
import posix
import sys
import time

SPEC_VERSION = "1.1.0"
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")
DEFAULT_SOCKET = "/run/silkctl/cni.sock"
GATEWAY = "169.254.0.1"
VALID_ATTACHMENTS = "cni.dev/valid-attachments"
SOCKET_TIMEOUT_SECONDS = 120.0
CONNECT_WAIT_SECONDS = 30.0

# Error codes of the CNI spec ...
INCOMPATIBLE_VERSION = 1
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILED = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50
# ... and silk-cni's own (100 and up).
SETUP_FAILED = 100
POOL_EXHAUSTED = 101
ALREADY_ATTACHED = 102
IPAM_FAILED = 103
CHECK_FAILED = 104

_ENV_KEYS = (
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CNI_PATH",
)
_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
)
MIN_MTU = 68
MAX_MTU = 65535


class CniError(Exception):
    """A CNI failure reported as the spec's error JSON on stdout."""

    def __init__(self, code: int, msg: str, details: str = ""):
        super().__init__(f"{msg}: {details}" if details else msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, version: str = SPEC_VERSION) -> str:
        return dumps(
            {
                "cniVersion": version,
                "code": self.code,
                "msg": self.msg,
                "details": self.details,
            }
        )


# ---- lean JSON ---------------------------------------------------------------


class _Decoding:
    """Settings the C scanner of the json module reads; NaN and friends are refused."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"{name} is not valid JSON")


_scan = _json.make_scanner(_Decoding)
_quote = _json.encode_basestring_ascii
_BLANK = " \t\n\r"


def loads(text: str):
    """Decode one JSON document; raises ValueError naming the position."""
    start = len(text) - len(text.lstrip(_BLANK))
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        raise ValueError(f"expecting a value at char {stop.value}") from None
    except RecursionError:
        raise ValueError("document nested too deeply") from None
    except SystemError:
        # The C scanner raises its errors through json.decoder, which it expects
        # to be loaded already; load it (only on this error path) and rescan.
        if "json.decoder" in sys.modules:
            raise
        import json.decoder  # noqa: F401

        return loads(text)
    if text[end:].strip(_BLANK):
        raise ValueError(f"extra data at char {end}")
    return value


def dumps(value) -> str:
    """Encode dicts, lists, strings, numbers, booleans and None as compact JSON."""
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{_quote(str(k))}:{dumps(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# ---- the request ---------------------------------------------------------------


class Request:
    """One validated CNI call: verb, environment and network config."""

    __slots__ = (
        "command",
        "container_id",
        "netns",
        "ifname",
        "args",
        "path",
        "conf",
        "version",
        "prev_result",
    )

    def __init__(
        self,
        command,
        container_id,
        netns,
        ifname,
        args,
        path,
        conf,
        version,
        prev_result,
    ):
        self.command = command
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = args
        self.path = path
        self.conf = conf
        self.version = version
        self.prev_result = prev_result

    @property
    def env(self) -> dict:
        """The CNI_* variables, as a delegated plugin must see them."""
        return {
            "CNI_COMMAND": self.command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": self.ifname,
            "CNI_ARGS": ";".join(f"{k}={v}" for k, v in self.args.items()),
            "CNI_PATH": ":".join(self.path),
        }

    def socket_path(self) -> str:
        return self.conf.get("cniSocket") or DEFAULT_SOCKET


def version_key(version: str) -> tuple:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def config_version(stdin: str) -> str:
    """The cniVersion of a network config, or the newest one when it has none."""
    try:
        conf = loads(stdin)
    except ValueError:
        return SPEC_VERSION
    version = conf.get("cniVersion") if isinstance(conf, dict) else None
    return version if version in SUPPORTED_VERSIONS else SPEC_VERSION


def parse_request(env, stdin: str) -> Request:
    """Validate the CNI environment and network config; raises CniError."""
    command = env.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        raise CniError(
            INVALID_ENV,
            "unknown CNI_COMMAND",
            f"{command!r} is not one of {', '.join(COMMANDS)}",
        )
    if command == "VERSION":
        return Request(command, "", "", "", {}, [], {}, SPEC_VERSION, None)
    try:
        conf = loads(stdin)
    except ValueError as err:
        raise CniError(DECODE_FAILED, "decode network config", str(err)) from None
    if not isinstance(conf, dict):
        raise CniError(DECODE_FAILED, "decode network config", "not a JSON object")
    version = _check_version(conf, command)
    container_id, netns, ifname, args, path = _check_env(env, command, conf)
    _check_conf(conf, command)
    prev = conf.get("prevResult")
    prev_result = (
        parse_result(prev, version, "prevResult") if prev is not None else None
    )
    return Request(
        command, container_id, netns, ifname, args, path, conf, version, prev_result
    )


def _check_version(conf: dict, command: str) -> str:
    version = conf.get("cniVersion")
    if not isinstance(version, str) or not version:
        raise CniError(
            INVALID_CONFIG, "invalid network config", "cniVersion is missing"
        )
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f"config is {version}, plugin supports {', '.join(SUPPORTED_VERSIONS)}",
        )
    needs = {"CHECK": "0.4.0", "STATUS": "1.1.0", "GC": "1.1.0"}.get(command)
    if needs and version_key(version) < version_key(needs):
        raise CniError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f"{command} needs cniVersion {needs} or later, config is {version}",
        )
    return version


def _check_env(env, command: str, conf: dict):
    required = {
        "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
        "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
        "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    }.get(command, ())
    if (
        command == "GC"
        and isinstance(conf.get("ipam"), dict)
        and conf["ipam"].get("type")
    ):
        required = ("CNI_PATH",)
    missing = [key for key in required if not env.get(key)]
    if missing:
        raise CniError(INVALID_ENV, "missing environment variables", ", ".join(missing))
    container_id = env.get("CNI_CONTAINERID", "")
    if container_id and not valid_name(container_id):
        raise CniError(
            INVALID_ENV, "invalid characters in CNI_CONTAINERID", container_id
        )
    ifname = env.get("CNI_IFNAME", "")
    if ifname:
        _check_ifname(ifname)
    netns = env.get("CNI_NETNS", "")
    if netns and not netns.startswith("/"):
        raise CniError(INVALID_ENV, "CNI_NETNS must be an absolute path", netns)
    path = [part for part in env.get("CNI_PATH", "").split(":") if part]
    return container_id, netns, ifname, _parse_args(env.get("CNI_ARGS", "")), path


def valid_name(name: str) -> bool:
    """A network name or container id as the spec allows: letters, digits, _ . -,
    not starting with one of the last three."""
    return bool(name) and name[0] not in "_.-" and set(name) <= _NAME_CHARS


def _check_ifname(ifname: str) -> None:
    if len(ifname) > 15:
        raise CniError(
            INVALID_ENV,
            "interface name is too long",
            f"{ifname!r} has {len(ifname)} characters, at most 15 fit",
        )
    if ifname in (".", "..") or any(c in ifname for c in "/: \t\n\r"):
        raise CniError(INVALID_ENV, "invalid interface name", repr(ifname))


def _parse_args(text: str) -> dict:
    args = {}
    for pair in text.split(";"):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CniError(
                INVALID_ENV, "invalid CNI_ARGS", f"{pair!r} is not KEY=VALUE"
            )
        args[key] = value
    return args


def _check_conf(conf: dict, command: str) -> None:
    problems = []
    name = conf.get("name")
    if not isinstance(name, str) or not valid_name(name):
        problems.append(f"name: {dumps(name)} must be letters, digits, '_', '.', '-'")
    if not isinstance(conf.get("type"), str) or not conf.get("type"):
        problems.append("type: must be a non-empty string")
    for key in ("dataDir", "datastore"):
        value = conf.get(key)
        if not isinstance(value, str) or not value.startswith("/"):
            problems.append(f"{key}: must be an absolute path, got {dumps(value)}")
    for key in ("cniSocket", "logFile"):
        value = conf.get(key)
        if value is not None and (
            not isinstance(value, str) or not value.startswith("/")
        ):
            problems.append(f"{key}: must be an absolute path, got {dumps(value)}")
    mtu = conf.get("mtu", 0)
    if not _is_int(mtu):
        problems.append(f"mtu: {dumps(mtu)} is not an integer")
    elif mtu < 0:
        problems.append(f"mtu: {mtu} is negative (0 takes the daemon's MTU)")
    elif 0 < mtu < MIN_MTU or mtu > MAX_MTU:
        problems.append(f"mtu: {mtu} is outside {MIN_MTU}-{MAX_MTU}")
    port = conf.get("daemonPort", 0)
    if not _is_int(port) or not 0 <= port <= 65535:
        problems.append(f"daemonPort: {dumps(port)} is not a port number")
    for key in ("ipam", "runtimeConfig", "args", "prevResult"):
        if key in conf and not isinstance(conf[key], dict):
            problems.append(f"{key}: must be an object")
    ipam = conf.get("ipam")
    if isinstance(ipam, dict) and ipam:
        kind = ipam.get("type")
        if not isinstance(kind, str) or not kind or "/" in kind:
            problems.append(f"ipam.type: {dumps(kind)} is not a plugin name")
    if command == "GC":
        problems += _attachment_problems(conf.get(VALID_ATTACHMENTS))
    if problems:
        raise CniError(INVALID_CONFIG, "invalid network config", "; ".join(problems))


def _attachment_problems(attachments) -> list[str]:
    if not isinstance(attachments, list):
        return [f"{VALID_ATTACHMENTS}: must be a list of attachments"]
    for item in attachments:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("containerID"), str)
            or not isinstance(item.get("ifname"), str)
        ):
            return [f"{VALID_ATTACHMENTS}: {dumps(item)} needs containerID and ifname"]
    return []


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---- results per version ------------------------------------------------------


def parse_result(data, version: str, what: str = "result") -> dict:
    """A result of any supported version in the 1.x shape; its own cniVersion wins."""
    if not isinstance(data, dict):
        raise CniError(DECODE_FAILED, f"decode {what}", "not a JSON object")
    version = data.get("cniVersion") or version
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            INCOMPATIBLE_VERSION,
            f"incompatible {what} version",
            f"{version} is not one of {', '.join(SUPPORTED_VERSIONS)}",
        )
    try:
        interfaces = [dict(item) for item in data.get("interfaces") or []]
        ips = [dict(item) for item in data.get("ips") or []]
        routes = [dict(item) for item in data.get("routes") or []]
        for ip in ips:
            ip.pop("version", None)
            if not isinstance(ip.get("address"), str):
                raise ValueError(f"ip {dumps(ip)} has no address")
    except (TypeError, ValueError) as err:
        raise CniError(DECODE_FAILED, f"decode {what}", str(err)) from None
    dns = data.get("dns") if isinstance(data.get("dns"), dict) else {}
    return {"interfaces": interfaces, "ips": ips, "routes": routes, "dns": dns}


def format_result(result: dict, version: str) -> dict:
    """A 1.x-shaped result in the shape of `version` (0.3.x/0.4.0 carry ip versions)."""
    old = version_key(version) < (1, 0, 0)
    interfaces = []
    for item in result.get("interfaces", []):
        item = dict(item)
        if version_key(version) < (1, 1, 0):
            item.pop("mtu", None)
        interfaces.append(item)
    ips = []
    for item in result.get("ips", []):
        item = dict(item)
        if old:
            item["version"] = "6" if ":" in item["address"] else "4"
        ips.append(item)
    return {
        "cniVersion": version,
        "interfaces": interfaces,
        "ips": ips,
        "routes": list(result.get("routes", [])),
        "dns": dict(result.get("dns", {})),
    }


def version_reply() -> str:
    return dumps(
        {"cniVersion": SPEC_VERSION, "supportedVersions": list(SUPPORTED_VERSIONS)}
    )


# ---- the entry point ----------------------------------------------------------


class DaemonUnreachable(Exception):
    """The daemon's CNI socket refused, was missing or dropped the call."""


def forward(
    socket_path: str, env: dict, stdin: str, request_id: str
) -> tuple[int, str]:
    """Send the call to the daemon; returns its (exit code, stdout)."""
    payload = dumps({"id": request_id, "env": env, "stdin": stdin}).encode()
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(SOCKET_TIMEOUT_SECONDS)
        _connect(sock, socket_path)
        sock.sendall(payload)
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except OSError as err:
        raise DaemonUnreachable(
            f"talk to {socket_path}: {err.strerror or err}"
        ) from None
    finally:
        sock.close()
    head, newline, body = b"".join(chunks).partition(b"\n")
    if not newline or not head.isdigit():
        raise DaemonUnreachable(f"talk to {socket_path}: the daemon closed the call")
    return int(head), body.decode()


def _connect(sock, path: str) -> None:
    """Connect, waiting while the daemon's accept queue is full (EAGAIN)."""
    delay, waited = 0.001, 0.0
    while True:
        try:
            sock.connect(path)
            return
        except BlockingIOError:
            if waited > CONNECT_WAIT_SECONDS:
                raise DaemonUnreachable(
                    f"connect {path}: the daemon does not accept "
                    f"calls (queue full for {waited:.0f} s)"
                ) from None
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.05)
        except OSError as err:
            raise DaemonUnreachable(f"connect {path}: {err.strerror or err}") from None


def _in_process(env: dict, stdin: str, request_id: str) -> tuple[int, str]:
    """Run the call here; the service needs only the standard library."""
    try:
        from silkctl import cni_service
    except ImportError:
        # A dependency outside the standard library: add the site-packages
        # that the -S launcher skipped, then try again.
        import site

        site.main()
        from silkctl import cni_service

    return cni_service.run_in_process(env, stdin, request_id)


def run(env, stdin: str) -> tuple[int, str]:
    """One CNI call from environment and stdin to (exit code, stdout)."""
    env = {key: env[key] for key in _ENV_KEYS if key in env}
    try:
        request = parse_request(env, stdin)
    except CniError as err:
        return 1, err.to_json(config_version(stdin))
    if request.command == "VERSION":
        return 0, version_reply()
    request_id = posix.urandom(6).hex()
    try:
        return forward(request.socket_path(), env, stdin, request_id)
    except DaemonUnreachable as err:
        if request.command == "ADD":
            error = CniError(TRY_AGAIN_LATER, "silk daemon is not ready", str(err))
            return 1, error.to_json(request.version)
        if request.command == "STATUS":
            error = CniError(NOT_AVAILABLE, "silk daemon is not available", str(err))
            return 1, error.to_json(request.version)
    return _in_process(env, stdin, request_id)


def environment() -> dict:
    """The CNI_* variables of this process, decoded as `os.environ` would."""
    encoding = sys.getfilesystemencoding()
    env = {}
    for key in _ENV_KEYS:
        value = posix.environ.get(key.encode())
        if value is not None:
            env[key] = value.decode(encoding, "surrogateescape")
    return env


def main() -> int:
    """One CNI call: exactly one JSON document (or nothing) on stdout; the exit code."""
    try:
        stdin = sys.stdin.buffer.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        code, out = (
            1,
            CniError(DECODE_FAILED, "read network config", str(err)).to_json(),
        )
    else:
        code, out = run(environment(), stdin)
    if out:
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
        sys.stdout.flush()
    return code


def launch() -> None:
    """Program entry: `main()`, then exit at once when the call was forwarded.

    A forwarded call leaves nothing to clean up but the standard streams,
    so they are flushed and the process ends without finalizing the
    interpreter. A call served in this process (the daemon was down) has
    loaded logging and pyroute2 and exits the ordinary way.
    """
    code = main()
    if "silkctl.cni_service" in sys.modules:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        code = code or 1  # the answer did not reach the runtime
    posix._exit(code)


if __name__ == "__main__":
    launch()
