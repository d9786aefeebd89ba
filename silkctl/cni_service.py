"""The CNI plugin's work (veth, IPAM, datastore) behind the daemon's root-only socket.

The host daemon calls `start_cni_server(config, network_info)` once its
lease and VTEP are ready; `silk-cni` then forwards every call to
`config.cni_socket` and prints the answer. When the daemon is down,
`silk-cni` runs DEL, GC and CHECK through `run_in_process` instead.

Wire format on the socket (one call per connection): the client sends a
JSON object `{"id", "env", "stdin"}` and shuts down its sending side; the
service answers `<exit code>\\n<stdout text>` and closes.

`python -m silkctl.cni_service --config daemon.json --subnet S --mtu M`
serves the socket (and the daemon's `{"overlay_subnet","mtu"}` endpoint)
with a fixed subnet, for development and tests without a controller. Run
it inside the host's network namespace: the veths are made where it runs.
"""

import argparse
import http.client
import http.server
import json
import logging
import os
import queue
import signal
import socket
import socketserver
import stat
import struct
import threading

from silkctl import cni, datastore, ipam, logsetup
from silkctl.backends import veth
from silkctl.cni import CniError, Request
from silkctl.errors import KernelError, SilkError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 20
HEALTH_TIMEOUT_SECONDS = 2.0


class _Call:
    """One CNI call being served: request, id, host network info, netlink handle
    and the daemon's policy tagger."""

    def __init__(
        self, request: Request, request_id: str, network_info, netlink=None, tagger=None
    ):
        self.req = request
        self.rid = request_id
        self.network_info = network_info
        self.netlink = netlink
        self.tagger = tagger

    def log(self, level: int, event: str, **fields) -> None:
        log.log(
            level,
            event,
            extra={
                "request_id": self.rid,
                "command": self.req.command,
                "container_id": self.req.container_id,
                **fields,
            },
        )

    @property
    def store(self) -> str:
        return self.req.conf["datastore"]

    @property
    def ipam_type(self) -> str | None:
        section = self.req.conf.get("ipam") or {}
        return section.get("type") or None

    def host_local(self) -> ipam.HostLocal:
        return ipam.HostLocal(self.req.conf["dataDir"], self.req.conf["name"])


def handle(
    env: dict,
    stdin: str,
    request_id: str = "",
    network_info=None,
    netlink=None,
    tagger=None,
) -> tuple[int, str]:
    """Serve one CNI call; returns (exit code, stdout). Never raises.

    `netlink` is a `veth.Handle` of the calling thread to reuse for the
    host side; without one each call opens its own. `tagger` is the
    daemon's `policy.Tagger`, told of every container added and removed;
    without one (served in-process) no plugin hears of the call.
    """
    try:
        request = cni.parse_request(env, stdin)
    except CniError as err:
        return 1, err.to_json(cni.config_version(stdin))
    if request.command == "VERSION":
        return 0, cni.version_reply()
    call = _Call(request, request_id, network_info, netlink, tagger)
    try:
        return 0, VERBS[request.command](call)
    except CniError as err:
        call.log(logging.WARNING, "cni-call-failed", code=err.code, error=str(err))
        return 1, err.to_json(request.version)
    except Exception as err:
        call.log(logging.ERROR, "cni-call-crashed", error=repr(err))
        error = CniError(
            cni.SETUP_FAILED, "internal error", f"{type(err).__name__}: {err}"
        )
        return 1, error.to_json(request.version)


def run_in_process(env: dict, stdin: str, request_id: str) -> tuple[int, str]:
    """The daemon is unreachable: serve here, logging to stderr or `logFile`."""
    try:
        conf = cni.loads(stdin)
        log_file = conf.get("logFile") if isinstance(conf, dict) else None
    except ValueError:
        log_file = None
    stream = None
    if isinstance(log_file, str) and log_file.startswith("/"):
        try:
            stream = open(log_file, "a", encoding="utf-8")  # noqa: SIM115
        except OSError:
            stream = None
    logsetup.configure(-1, "json", stream=stream)
    log.warning(
        "daemon-unreachable-serving-in-process", extra={"request_id": request_id}
    )
    try:
        return handle(env, stdin, request_id, network_info=None)
    finally:
        if stream is not None:
            stream.close()


# ---- ADD ----------------------------------------------------------------------------


def _add(call: _Call) -> str:
    req = call.req
    existing = _record(call)
    if existing is not None:
        raise CniError(
            cni.ALREADY_ATTACHED,
            "container is already attached",
            f"{req.container_id} holds {existing.get('ip')} on "
            f"{existing.get('ifname')}",
        )
    subnet, mtu = _network(call)
    undo = []
    try:
        ip, dns = _allocate(call, subnet)
        _test_crash_point("ip-reserved")
        undo.append(("release address", lambda: _release(call, ip)))
        att = veth.Attachment(ip, req.ifname, req.netns, mtu)
        try:
            veth.attach(att, call.netlink)
        except veth.NetnsMissing as err:
            raise CniError(cni.INVALID_ENV, "open CNI_NETNS", str(err)) from err
        except KernelError as err:
            raise CniError(cni.SETUP_FAILED, "set up veth", str(err)) from err
        undo.append(("remove veth", lambda: veth.remove_host_end(ip, call.netlink)))
        _test_crash_point("veth-made")
        record = {
            "ip": ip,
            "ifname": req.ifname,
            "netns": req.netns,
            "network": req.conf["name"],
            "metadata": _metadata(req),
        }
        try:
            datastore.add(
                call.store,
                req.container_id,
                ip,
                ifname=record["ifname"],
                netns=record["netns"],
                network=record["network"],
                metadata=record["metadata"],
                replace=False,
            )
        except datastore.DatastoreConflict as err:
            raise CniError(
                cni.ALREADY_ATTACHED, "container is already attached", str(err)
            ) from err
        except SilkError as err:
            raise CniError(
                cni.SETUP_FAILED, "write container metadata", str(err)
            ) from err
        _test_crash_point("datastore-written")
        if call.tagger is not None:
            undo.append(("forget container", lambda: _forget(call, req.container_id)))
            _tag(call, record)
    except BaseException:
        _roll_back(call, undo)
        raise
    call.log(logging.INFO, "container-added", ip=ip, ifname=req.ifname, mtu=mtu)
    result = _result(req, att, dns)
    return cni.dumps(cni.format_result(result, req.version))


def _tag(call: _Call, record: dict) -> None:
    """Tell the policy plugins of the new container and mark its egress."""
    from silkctl.policy import TagError, container_info

    try:
        call.tagger.added(container_info(call.req.container_id, record))
    except TagError as err:
        raise CniError(cni.SETUP_FAILED, "tag container", str(err)) from err


def _test_crash_point(step: str) -> None:
    """Tests only (tests/faults/): SIGKILL this process at ADD step `step`
    when SILKCTL_TEST_CNI_KILL_AT names it, as a crash there would."""
    if os.environ.get("SILKCTL_TEST_CNI_KILL_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _network(call: _Call) -> tuple[str, int]:
    if call.network_info is None:
        raise CniError(
            cni.TRY_AGAIN_LATER,
            "silk daemon is not ready",
            "no network info without the daemon",
        )
    try:
        subnet, daemon_mtu = call.network_info()
    except Exception as err:
        raise CniError(cni.TRY_AGAIN_LATER, "discover network info", str(err)) from err
    if not subnet:
        raise CniError(
            cni.TRY_AGAIN_LATER,
            "discover network info",
            "the daemon holds no lease yet",
        )
    return subnet, call.req.conf.get("mtu") or daemon_mtu


def _allocate(call: _Call, subnet: str) -> tuple[str, dict]:
    req = call.req
    if call.ipam_type is None:
        try:
            return call.host_local().allocate(subnet, req.container_id, req.ifname), {}
        except ipam.Exhausted as err:
            raise CniError(cni.POOL_EXHAUSTED, "allocate address", str(err)) from err
        except SilkError as err:
            raise CniError(cni.SETUP_FAILED, "allocate address", str(err)) from err
    conf = _ipam_conf(call, subnet)
    raw = _delegate(call, "ADD", conf)
    result = cni.parse_result(raw, conf["cniVersion"], "ipam result")
    # TODO: routes and IPv6 addresses from a delegated IPAM plugin are dropped;
    # the container gets only its /32 and the default route via 169.254.0.1.
    for entry in result["ips"]:
        address = entry["address"].partition("/")[0]
        if "." in address:
            return address, result["dns"]
    _delegate(call, "DEL", conf)
    raise CniError(
        cni.IPAM_FAILED,
        f"run ipam plugin {call.ipam_type}",
        "its result has no IPv4 address",
    )


def _ipam_conf(call: _Call, subnet: str | None) -> dict:
    """The IPAM plugin's network config; host-local gets the host subnet if unset."""
    conf = {key: value for key, value in call.req.conf.items() if key != "prevResult"}
    section = dict(conf["ipam"])
    if (
        section["type"] == "host-local"
        and "ranges" not in section
        and "subnet" not in section
    ):
        # Any subnet will do to release: host-local frees by container and ifname.
        section["ranges"] = [[{"subnet": subnet or "0.0.0.0/0"}]]
        section.setdefault("dataDir", os.path.join(conf["dataDir"], "ipam"))
    conf["ipam"] = section
    if conf["cniVersion"] == "1.1.0":
        # IPAM results did not change in 1.1.0, and older plugins stop at 1.0.0.
        conf["cniVersion"] = "1.0.0"
    return conf


def _delegate(call: _Call, command: str, conf: dict, env: dict | None = None):
    try:
        return ipam.delegate(call.ipam_type, command, env or call.req.env, conf)
    except ipam.IpamError as err:
        raise CniError(cni.IPAM_FAILED, str(err), err.details) from err


def _release(
    call: _Call,
    ip: str | None,
    env: dict | None = None,
    container_id: str | None = None,
    ifname: str | None = None,
) -> list[str]:
    if call.ipam_type is None:
        try:
            return call.host_local().release(
                container_id or call.req.container_id, ifname or call.req.ifname, ip
            )
        except SilkError as err:
            raise CniError(cni.IO_FAILURE, "release address", str(err)) from err
    _delegate(call, "DEL", _ipam_conf(call, None), env)
    return [ip] if ip else []


def _roll_back(call: _Call, undo: list) -> None:
    for what, action in reversed(undo):
        try:
            action()
        except Exception as err:
            call.log(logging.ERROR, "rollback-step-failed", step=what, error=str(err))
    if undo:
        call.log(logging.INFO, "add-rolled-back", steps=[what for what, _ in undo])


def _metadata(req: Request) -> dict | None:
    metadata = {}
    args = {k: v for k, v in req.args.items() if k != "IgnoreUnknown"}
    if args:
        metadata["cni_args"] = args
    for key, name in (("runtimeConfig", "runtime_config"), ("args", "args")):
        if req.conf.get(key):
            metadata[name] = req.conf[key]
    return metadata or None


def _result(req: Request, att: veth.Attachment, dns: dict) -> dict:
    prev = req.prev_result or {"interfaces": [], "ips": [], "routes": [], "dns": {}}
    base = len(prev["interfaces"])
    interfaces = prev["interfaces"] + [
        {"name": att.host_name, "mac": att.host_mac, "mtu": att.mtu},
        {
            "name": att.ifname,
            "mac": att.container_mac,
            "mtu": att.mtu,
            "sandbox": att.netns,
        },
    ]
    ips = prev["ips"] + [
        {"address": f"{att.ip}/32", "gateway": cni.GATEWAY, "interface": base + 1}
    ]
    routes = prev["routes"] + [{"dst": "0.0.0.0/0", "gw": cni.GATEWAY}]
    return {
        "interfaces": interfaces,
        "ips": ips,
        "routes": routes,
        "dns": dns or prev["dns"],
    }


def _record(call: _Call) -> dict | None:
    # TODO: records are keyed by container id alone, so a container can have one
    # silk interface; a second network attachment is refused as already attached.
    try:
        return datastore.read_all(call.store).get(call.req.container_id)
    except SilkError as err:
        if call.req.command == "ADD":
            raise CniError(cni.IO_FAILURE, "read container metadata", str(err)) from err
        call.log(logging.WARNING, "datastore-unreadable", error=str(err))
        return None


# ---- DEL ----------------------------------------------------------------------------


def _del(call: _Call) -> str:
    req = call.req
    record = _record(call)
    if record is not None and record.get("ifname", req.ifname) != req.ifname:
        record = None
    ip = record.get("ip") if record else None
    if ip is None and call.ipam_type is None:
        ip = call.host_local().find(req.container_id, req.ifname)
    problems = _remove_links(call, ip, req.netns, req.ifname)
    try:
        _release(call, ip)
    except CniError as err:
        problems.append(str(err))
    if record is not None:
        _forget(call, req.container_id, record)
    if problems:
        raise CniError(cni.SETUP_FAILED, "tear down", "; ".join(problems))
    call.log(logging.INFO, "container-deleted", ip=ip, ifname=req.ifname)
    return ""


def _remove_links(call: _Call, ip: str | None, netns: str, ifname: str) -> list[str]:
    problems = []
    try:
        # Deleting the host end takes the container end with it.
        removed = bool(ip) and veth.remove_host_end(ip, call.netlink)
        if netns and not removed and not veth.remove_container_end(netns, ifname):
            call.log(logging.DEBUG, "container-link-gone", netns=netns, ifname=ifname)
    except KernelError as err:
        problems.append(str(err))
    return problems


def _forget(call: _Call, handle: str, record: dict | None = None) -> None:
    """Drop `handle`'s datastore record; with the record, untag the container too."""
    if call.tagger is not None and record is not None and record.get("ip"):
        from silkctl.policy import container_info

        call.tagger.removed(container_info(handle, record))
    try:
        datastore.remove(call.store, handle)
    except SilkError as err:
        call.log(
            logging.WARNING, "datastore-remove-failed", handle=handle, error=str(err)
        )


# ---- CHECK ----------------------------------------------------------------------


def _check(call: _Call) -> str:
    req = call.req
    if req.prev_result is None:
        raise CniError(
            cni.INVALID_CONFIG, "invalid network config", "CHECK needs prevResult"
        )
    ip = _ip_in_result(req)
    problems = []
    record = _record(call)
    if record is None:
        problems.append(f"datastore has no record for {req.container_id}")
    elif record.get("ip") != ip:
        problems.append(f"datastore records {record.get('ip')}, result has {ip}")
    if call.ipam_type is None:
        held = call.host_local().find(req.container_id, req.ifname)
        if held != ip:
            problems.append(f"address reservation is {held}, result has {ip}")
    else:
        try:
            _delegate(call, "CHECK", _ipam_conf(call, None))
        except CniError as err:
            problems.append(str(err))
    mtu = req.conf.get("mtu") or None
    if mtu is None and call.network_info is not None:
        try:
            mtu = call.network_info()[1]
        except Exception as err:
            call.log(logging.WARNING, "network-info-failed", error=str(err))
    problems += veth.differences(
        veth.Attachment(ip, req.ifname, req.netns, mtu or 0), mtu, call.netlink
    )
    if problems:
        raise CniError(
            cni.CHECK_FAILED, "container network differs", "; ".join(problems)
        )
    return ""


def _ip_in_result(req: Request) -> str:
    interfaces = req.prev_result["interfaces"]
    for index, item in enumerate(interfaces):
        if item.get("name") == req.ifname and item.get("sandbox") == req.netns:
            for entry in req.prev_result["ips"]:
                address = entry["address"].partition("/")[0]
                if entry.get("interface") == index and "." in address:
                    return address
            raise CniError(
                cni.CHECK_FAILED,
                "container network differs",
                f"prevResult has no IPv4 address on {req.ifname}",
            )
    raise CniError(
        cni.CHECK_FAILED,
        "container network differs",
        f"prevResult has no interface {req.ifname} in {req.netns}",
    )


# ---- STATUS and GC --------------------------------------------------------------


def _status(call: _Call) -> str:
    if call.network_info is None:
        raise CniError(
            cni.NOT_AVAILABLE, "silk daemon is not available", "daemon is down"
        )
    try:
        subnet, _ = call.network_info()
    except Exception as err:
        raise CniError(
            cni.NOT_AVAILABLE, "silk daemon is not available", str(err)
        ) from err
    if not subnet:
        raise CniError(
            cni.NOT_AVAILABLE,
            "silk daemon is not available",
            "the daemon holds no lease yet",
        )
    port = call.req.conf.get("daemonPort") or 0
    if port:
        _probe_health(port)
    return ""


def _probe_health(port: int) -> None:
    """GET the daemon's local endpoint; it must answer with the host's subnet."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=HEALTH_TIMEOUT_SECONDS
    )
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
        info = json.loads(body) if response.status == 200 else {}
    except (OSError, ValueError) as err:
        raise CniError(
            cni.NOT_AVAILABLE,
            "silk daemon is not healthy",
            f"GET 127.0.0.1:{port}: {err}",
        ) from err
    finally:
        connection.close()
    if not isinstance(info, dict) or not info.get("overlay_subnet"):
        raise CniError(
            cni.NOT_AVAILABLE,
            "silk daemon is not healthy",
            f"GET 127.0.0.1:{port}: no overlay_subnet in the answer",
        )


def _gc(call: _Call) -> str:
    # TODO: host veths (s-...) with neither a record nor a reservation are not
    # swept, so links left by a crash in the middle of an ADD stay until a DEL.
    req = call.req
    valid = {(a["containerID"], a["ifname"]) for a in req.conf[cni.VALID_ATTACHMENTS]}
    stale: dict[tuple[str, str], str | None] = {}
    try:
        records = datastore.read_all(call.store)
    except SilkError as err:
        raise CniError(cni.IO_FAILURE, "read container metadata", str(err)) from err
    for handle, record in records.items():
        key = (handle, record.get("ifname", ""))
        if record.get("network") == req.conf["name"] and key not in valid:
            stale[key] = record.get("ip")
    if call.ipam_type is None:
        for ip, key in call.host_local().reservations().items():
            if key not in valid:
                stale[key] = stale.get(key) or ip
    problems = []
    for (container_id, ifname), ip in sorted(stale.items()):
        problems += _remove_links(call, ip, "", ifname)
        env = dict(
            req.env, CNI_CONTAINERID=container_id, CNI_IFNAME=ifname, CNI_NETNS=""
        )
        try:
            _release(call, ip, env, container_id, ifname)
        except CniError as err:
            problems.append(str(err))
        if container_id in records:
            _forget(call, container_id, records[container_id])
    call.log(logging.INFO, "garbage-collected", attachments=len(stale))
    if problems:
        raise CniError(cni.SETUP_FAILED, "garbage collection", "; ".join(problems))
    return ""


VERBS = {"ADD": _add, "DEL": _del, "CHECK": _check, "STATUS": _status, "GC": _gc}


# ---- the socket server -------------------------------------------------------------

_worker = threading.local()  # .netlink: the serving worker's veth.Handle


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        if not _peer_is_root(sock):
            log.warning("cni-peer-refused")
            return
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
            if len(data) > MAX_REQUEST_BYTES:
                return
        if not data:
            return  # a probe: connected and hung up without a call
        try:
            payload = json.loads(data)
            env, stdin = dict(payload["env"]), str(payload["stdin"])
            request_id = str(payload.get("id", ""))
        except (ValueError, KeyError, TypeError) as err:
            code, out = (
                1,
                CniError(
                    cni.DECODE_FAILED, "decode daemon request", str(err)
                ).to_json(),
            )
        else:
            code, out = handle(
                env,
                stdin,
                request_id,
                self.server.network_info,
                getattr(_worker, "netlink", None),
                self.server.tagger,
            )
        sock.sendall(f"{code}\n{out}".encode())


def _peer_is_root(sock) -> bool:
    creds = sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    _, uid, _ = struct.unpack("3i", creds)
    return uid == 0


class CniServer(socketserver.UnixStreamServer):
    """CNI calls on a Unix socket that only root can open, served by a pool of threads.

    Each worker keeps a `veth.Handle` for the host side, opened once in the
    namespace the server was started in: opening a pyroute2 handle and its
    first request cost about 0.7 ms, and pyroute2 ties a handle to one
    thread, hence fixed workers instead of a thread per call. At most
    `workers` calls run at once; later ones wait in accept order.
    """

    request_queue_size = 256
    workers = 16

    def __init__(self, path: str, network_info, tagger=None):
        self.network_info = network_info
        self.tagger = tagger
        self.path = path
        super().__init__(path, _Handler)
        self._thread = threading.Thread(
            target=self.serve_forever, name="cni-server", daemon=True
        )
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._workers = [
            threading.Thread(
                target=self._work, name=f"cni-worker-{number}", daemon=True
            )
            for number in range(self.workers)
        ]

    def process_request(self, request, client_address) -> None:
        self._calls.put((request, client_address))

    def _work(self) -> None:
        """Serve queued calls until a None arrives; one netlink handle throughout."""
        try:
            _worker.netlink = veth.Handle()
        except Exception as err:  # noqa: BLE001 - calls then open their own
            log.warning("netlink-handle-failed", extra={"error": str(err)})
            _worker.netlink = None
        try:
            while (call := self._calls.get()) is not None:
                request, client_address = call
                try:
                    self.finish_request(request, client_address)
                except Exception:
                    self.handle_error(request, client_address)
                finally:
                    self.shutdown_request(request)
        finally:
            if _worker.netlink is not None:
                _worker.netlink.close()

    def server_bind(self) -> None:
        _clear_stale_socket(self.path)
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        self.socket.bind(self.path)
        os.chmod(self.path, 0o600)  # before listen(): nobody else can ever connect
        self._inode = os.stat(self.path).st_ino

    def start(self) -> "CniServer":
        for worker in self._workers:
            worker.start()
        self._thread.start()
        log.info("cni-server-started", extra={"socket": self.path})
        return self

    def close(self) -> None:
        """Stop accepting, let accepted calls finish or roll back, remove the socket."""
        self.shutdown()
        for _ in self._workers:
            self._calls.put(None)
        for worker in self._workers:
            worker.join()
        self.server_close()
        try:
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
        log.info("cni-server-stopped", extra={"socket": self.path})


def _clear_stale_socket(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SilkError(f"serve cni socket {path}: exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # left behind by a daemon that died
        return
    finally:
        probe.close()
    raise SilkError(f"serve cni socket {path}: another process is serving it")


def start_cni_server(config, network_info, tagger=None):
    """Serve CNI requests on `config.cni_socket` in a background thread.

    `config` is the DaemonConfig; `network_info()` returns the host's
    current `(overlay_subnet, mtu)`; `tagger`, a `policy.Tagger`, hears of
    every container added and removed. Returns an object with `close()`.
    """
    try:
        server = CniServer(config.cni_socket, network_info, tagger)
    except OSError as err:
        raise SilkError(
            f"serve cni socket {config.cni_socket}: {err.strerror}"
        ) from err
    return server.start()


# ---- development runner --------------------------------------------------------------


class _InfoHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        subnet, mtu = self.server.network_info()
        body = json.dumps({"overlay_subnet": subnet, "mtu": mtu}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _serve_info(port: int, network_info) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _InfoHandler)
    server.network_info = network_info
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _main(argv=None) -> int:
    from silkctl.config import DaemonConfig, read_json_file

    parser = argparse.ArgumentParser(
        prog="python -m silkctl.cni_service",
        description="Serve silk-cni calls with a fixed subnet.",
    )
    parser.add_argument("--config", required=True, help="daemon config (JSON)")
    parser.add_argument("--subnet", required=True, help="this host's overlay subnet")
    parser.add_argument("--mtu", type=int, default=1450, help="container MTU")
    options = parser.parse_args(argv)
    config = DaemonConfig.from_dict(read_json_file(options.config))
    logsetup.configure(1 if config.log_level == "debug" else 0, "json")

    def network_info():
        return options.subnet, options.mtu

    info = _serve_info(config.health_check_port, network_info)
    server = start_cni_server(config, network_info)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("cni-service-ready", extra={"subnet": options.subnet, "mtu": options.mtu})
    while not stop.wait(0.5):
        pass
    server.close()
    info.shutdown()
    return 0


if __name__ == "__main__":
    # Run the imported module, not this `__main__` copy: its logger and
    # classes are the ones the rest of silkctl sees.
    from silkctl import cni_service

    raise SystemExit(cni_service._main())
