"""Brings a lab fabric up and down: underlay, controller, daemons, containers.

    <name>-ul    underlay: bridge br0 (first address) + the controller
    <name>-hN    host N: eth0 on the underlay, silk daemon, silk-vtep
    <name>-hNcM  container M of host N, wired by silk-cni through the runtime

Every step records what it made in the lab state before the next begins,
so `down` can undo a run that crashed half-way.
"""

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from silkctl.backends import netns
from silkctl.backends.underlay import Underlay, destroy_all
from silkctl.errors import ConfigError, Conflict, SilkError, Unavailable
from silkctl.lab import database, processes, runtime
from silkctl.lab.probe import listener_argv
from silkctl.lab.state import (
    ContainerRecord,
    HostRecord,
    LabState,
    check_name,
    state_root,
)

CONTROLLER_PORT = 4103
CONTROLLER_HEALTH_PORT = 19683
DAEMON_PORT = 23954
REFERENCE_PLUGIN_DIR = "/usr/lib/cni"
CNI_TYPE = "silk-cni"
MAX_HOSTS = 200
MAX_CONTAINERS = 50
MIN_UNDERLAY_MTU = 1280  # VXLAN takes 50 bytes; containers keep IPv4's 576 and more
MAX_UNDERLAY_MTU = 9000

Step = Callable[[str], AbstractContextManager]


@dataclass
class LabOptions:
    name: str = "silk"
    hosts: int = 3
    containers: int = 2
    db: str = "sqlite"
    encapsulation: str = "vxlan"
    underlay_cidr: str = "172.31.0.0/24"
    underlay_mtu: int = 1500
    overlay_network: str = "10.255.0.0/16"
    subnet_prefix_length: int = 24
    policy_file: str = ""
    groups: dict[str, str] = field(default_factory=dict)
    keep_on_failure: bool = False


def lab_directory(name: str) -> str:
    return os.path.join(state_root(), check_name(name))


def silkctl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "silkctl", *args]


def check_options(options: LabOptions) -> None:
    """Refuse bad options before anything is made, naming the option."""
    if not 1 <= options.hosts <= MAX_HOSTS:
        raise ConfigError(f"--hosts: {options.hosts} is not in 1-{MAX_HOSTS}")
    if not 0 <= options.containers <= MAX_CONTAINERS:
        raise ConfigError(
            f"--containers: {options.containers} is not in 0-{MAX_CONTAINERS}"
        )
    database.check_kind(options.db)
    if not MIN_UNDERLAY_MTU <= options.underlay_mtu <= MAX_UNDERLAY_MTU:
        raise ConfigError(
            f"--underlay-mtu: {options.underlay_mtu} is not in "
            f"{MIN_UNDERLAY_MTU}-{MAX_UNDERLAY_MTU}"
        )
    from silkctl.backends import registry
    from silkctl.plugins.manager import get_manager

    backends = registry.available(get_manager())
    if options.encapsulation not in backends:
        raise ConfigError(
            f"--encapsulation: {options.encapsulation!r} is not one of "
            f"{', '.join(sorted(backends))}"
        )


def up(options: LabOptions, step: Step = lambda _: nullcontext()) -> LabState:
    """Build the whole lab. A failure or Ctrl-C half-way removes what was made,
    unless `keep_on_failure`; a SIGKILL leaves it for `down` to remove."""
    check_options(options)
    directory = lab_directory(options.name)
    if LabState.load(directory) is not None or netns.names(options.name + "-"):
        raise Conflict(
            f"lab {options.name} is already up (or left over): "
            f"run `silkctl lab down --name {options.name}` first"
        )
    if options.policy_file:
        from silkctl.plugins.nft_policy import Policy

        if Policy.read(options.policy_file) is None:
            raise SilkError(f"--policy: {options.policy_file}: no such file")
        options.policy_file = os.path.abspath(options.policy_file)
    wanted = {
        f"h{h}c{c}"
        for h in range(1, options.hosts + 1)
        for c in range(1, options.containers + 1)
    }
    unknown = sorted(set(options.groups) - wanted)
    if unknown:
        raise SilkError(f"--group: no container {', '.join(unknown)} in this lab")
    state = LabState(
        name=options.name,
        directory=directory,
        hosts_wanted=options.hosts,
        containers_per_host=options.containers,
        db=options.db,
        encapsulation=options.encapsulation,
        underlay_cidr=options.underlay_cidr,
        underlay_mtu=options.underlay_mtu,
        overlay_network=options.overlay_network,
    )
    state.policy_file = options.policy_file
    state.groups = dict(options.groups)
    state.save()
    builder = os.getpid()
    try:
        _build(state, options, step)
    except BaseException as err:
        # A child forked on the way (pyroute2 forks into namespaces) that gets
        # the terminal's Ctrl-C too must not roll back: only the builder does.
        if options.keep_on_failure or os.getpid() != builder:
            raise
        removed = down(options.name)
        what = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        raise LabRolledBack(
            f"lab {options.name} {what}: {_reason(err)}; rolled back "
            f"({', '.join(removed) or 'nothing made yet'})"
        ) from err
    return state


class LabRolledBack(SilkError):
    """`lab up` failed or was interrupted and removed what it had made."""


def _reason(err: BaseException) -> str:
    if isinstance(err, KeyboardInterrupt):
        return "Ctrl-C"
    return str(err) or type(err).__name__


def _build(state: LabState, options: LabOptions, step: Step) -> None:
    directory = state.directory
    underlay = Underlay(options.name, options.underlay_cidr, options.underlay_mtu)

    with step("certificates"):
        netns.run(
            None,
            silkctl_argv(
                "certs",
                "init",
                state.sub("certs"),
                "--controller-name",
                "silk-controller",
                "--ip",
                underlay.gateway_ip,
            ),
        )
    with step(f"underlay {underlay.netns} with {options.hosts} hosts"):
        underlay.create()
        for number in range(1, options.hosts + 1):
            host = underlay.add_host(number)
            state.hosts.append(
                HostRecord(
                    host.name,
                    host.netns,
                    host.underlay_ip,
                    state.sub(host.name, "daemon.json"),
                )
            )
        state.save()
    with step(f"database ({options.db})"):
        state.db_url, state.db_name = database.create(
            options.db, options.name, directory
        )
        state.save()
    with step("controller"):
        _start_controller(state, underlay, options)
    with step("host daemons"):
        for host in state.hosts:
            _start_daemon(state, host, options)
        for host in state.hosts:
            host.overlay_subnet = _wait_daemon(state, host)["overlay_subnet"]
        state.save()
    with step(f"{options.hosts * options.containers} containers through silk-cni"):
        _install_cni(state)
        for host in state.hosts:
            for number in range(1, options.containers + 1):
                add_container(state, host, number)
    state.complete = True
    state.save()


def _certs(state: LabState, name: str) -> str:
    return state.sub("certs", name)


def _write_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(
        os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w"
    ) as handle:
        json.dump(data, handle, indent=1)


def _start_controller(state: LabState, underlay: Underlay, options: LabOptions) -> None:
    config_path = state.sub("controller.json")
    _write_json(
        config_path,
        {
            "listen_host": underlay.gateway_ip,
            "listen_port": CONTROLLER_PORT,
            "health_check_port": CONTROLLER_HEALTH_PORT,
            "network": options.overlay_network,
            "subnet_prefix_length": options.subnet_prefix_length,
            "database": state.db_url,
            "lease_expiration_seconds": 60,
            "ca_cert_file": _certs(state, "ca.crt"),
            "server_cert_file": _certs(state, "server.crt"),
            "server_key_file": _certs(state, "server.key"),
        },
    )
    state.controller_url = f"https://{underlay.gateway_ip}:{CONTROLLER_PORT}"
    state.controller_pid = processes.start(
        underlay.netns,
        silkctl_argv("serve", "controller", "--config", config_path),
        state.sub("logs", "controller.log"),
    )
    state.save()
    _wait_http(
        underlay.netns,
        f"http://127.0.0.1:{CONTROLLER_HEALTH_PORT}/health",
        "controller",
        state.sub("logs", "controller.log"),
    )


def _start_daemon(state: LabState, host: HostRecord, options: LabOptions) -> None:
    _write_json(
        host.config,
        {
            "underlay_ip": host.underlay_ip,
            "subnet_prefix_length": options.subnet_prefix_length,
            "overlay_network": options.overlay_network,
            "health_check_port": DAEMON_PORT,
            "connectivity_server_url": state.controller_url,
            "ca_cert_file": _certs(state, "ca.crt"),
            "client_cert_file": _certs(state, "client.crt"),
            "client_key_file": _certs(state, "client.key"),
            "poll_interval": 1,
            "renew_interval_seconds": 5,
            "datastore": state.sub(host.name, "containers.json"),
            "cni_socket": state.sub(host.name, "cni.sock"),
            "state_dir": state.sub(host.name),
            "encapsulation": options.encapsulation,
            **(
                {
                    "plugins": ["silkctl.plugins.nft_policy"],
                    "policy_file": state.policy_file,
                }
                if state.policy_file
                else {}
            ),
        },
    )
    host.daemon_pid = processes.start(
        host.netns,
        silkctl_argv("serve", "daemon", "--config", host.config),
        state.sub("logs", f"daemon-{host.name}.log"),
    )
    state.save()


def _wait_daemon(state: LabState, host: HostRecord) -> dict:
    return _wait_http(
        host.netns,
        f"http://127.0.0.1:{DAEMON_PORT}/",
        f"daemon on {host.name}",
        state.sub("logs", f"daemon-{host.name}.log"),
    )


def http_get_json(namespace: str | None, url: str, timeout: float = 2.0) -> dict:
    """GET `url` from inside `namespace`; the decoded JSON body."""

    def fetch():
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body.strip() else {}

    return netns.call_in(namespace, fetch)


def _wait_http(
    namespace: str, url: str, what: str, log_path: str, timeout: float = 30.0
) -> dict:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            return http_get_json(namespace, url, timeout=1.0)
        except (OSError, urllib.error.URLError, ValueError) as err:
            last = str(getattr(err, "reason", err))
        time.sleep(0.1)
    raise Unavailable(f"wait for {what}: {last}; last log lines: {_tail(log_path)}")


def _tail(path: str, lines: int = 3) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.readlines()[-lines:])
    except OSError:
        return "(no log)"


def _install_cni(state: LabState) -> None:
    """Put silk-cni on the lab's CNI_PATH and write each host's conflist."""
    bin_dir = state.sub("bin")
    os.makedirs(bin_dir, exist_ok=True)
    entry = os.path.join(os.path.dirname(sys.executable), "silk-cni")
    target = os.path.join(bin_dir, CNI_TYPE)
    if not os.path.exists(target):
        os.symlink(entry, target)
    for host in state.hosts:
        _write_json(
            conflist_path(state, host),
            {
                "cniVersion": "1.0.0",
                "name": "silk",
                "plugins": [
                    {
                        "type": CNI_TYPE,
                        "cniSocket": state.sub(host.name, "cni.sock"),
                        "daemonPort": DAEMON_PORT,
                        "dataDir": state.sub(host.name, "ipam"),
                        "datastore": state.sub(host.name, "containers.json"),
                        "mtu": 0,
                    }
                ],
            },
        )


def conflist_path(state: LabState, host: HostRecord) -> str:
    return state.sub(host.name, "net.d", "10-silk.conflist")


def cni_path(state: LabState) -> str:
    return os.pathsep.join([state.sub("bin"), REFERENCE_PLUGIN_DIR])


def add_container(state: LabState, host: HostRecord, number: int) -> ContainerRecord:
    """Make a container namespace and connect it through the CNI chain."""
    name = f"{host.name}c{number}"
    record = ContainerRecord(
        name, host.name, f"{state.name}-{name}", f"lab-{state.name}-{name}"
    )
    netns.create(record.netns)
    state.containers.append(record)
    state.save()
    with open(conflist_path(state, host), encoding="utf-8") as handle:
        conflist = json.load(handle)
    group = state.groups.get(name)
    attachment = runtime.Attachment(
        record.container_id,
        netns.path(record.netns),
        args=f"IgnoreUnknown=1;POLICY_GROUP={group}" if group else "",
    )
    result = runtime.add(conflist, attachment, cni_path(state), host.netns)
    record.ip = result["ips"][0]["address"].split("/")[0]
    record.listener_pid = processes.start(
        record.netns,
        listener_argv() + [state.directory],
        state.sub("logs", f"listener-{name}.log"),
    )
    state.save()
    return record


def down(name: str) -> list[str]:
    """Remove everything lab `name` made; returns what was removed. Idempotent."""
    directory = lab_directory(name)
    state = LabState.load(directory)
    removed = []
    pids = processes.owned_by(directory)
    if state:
        pids += [
            p
            for p in (
                state.controller_pid,
                *(h.daemon_pid for h in state.hosts),
                *(c.listener_pid for c in state.containers),
            )
            if processes.alive(p, directory) and p not in pids
        ]
    if pids:
        processes.stop(pids)
        removed.append(f"{len(pids)} processes")
    namespaces = destroy_all(name)
    if namespaces:
        removed.append(f"{len(namespaces)} namespaces")
    if state and state.db_name:
        database.drop(state.db, state.db_name)
        removed.append(
            f"database {state.db_name}" if state.db != "sqlite" else "database"
        )
    if os.path.isdir(directory):
        shutil.rmtree(directory)
        removed.append(f"state {directory}")
    return removed


def load(name: str) -> LabState:
    state = LabState.load(lab_directory(name))
    if state is None:
        raise SilkError(
            f"lab {name} is not up (start it with `silkctl lab up --name {name}`)"
        )
    return state


def status(state: LabState) -> dict:
    """What runs and answers now: controller, hosts, leases, containers."""
    directory = state.directory
    hosts = []
    for host in state.hosts:
        health = None
        if netns.exists(host.netns):
            try:
                health = http_get_json(
                    host.netns, f"http://127.0.0.1:{DAEMON_PORT}/", timeout=1.0
                )
            except (OSError, urllib.error.URLError, ValueError):
                health = None
        hosts.append(
            {
                "name": host.name,
                "netns": host.netns,
                "underlay_ip": host.underlay_ip,
                "daemon_running": processes.alive(host.daemon_pid, directory),
                "healthy": health is not None,
                "overlay_subnet": (health or {}).get(
                    "overlay_subnet", host.overlay_subnet
                ),
                "mtu": (health or {}).get("mtu"),
            }
        )
    containers = [
        {
            "name": c.name,
            "host": c.host,
            "netns": c.netns,
            "ip": c.ip,
            "present": netns.exists(c.netns),
        }
        for c in state.containers
    ]
    return {
        "name": state.name,
        "directory": directory,
        "db": state.db,
        "complete": state.complete,
        "encapsulation": state.encapsulation,
        "controller": {
            "url": state.controller_url,
            "running": processes.alive(state.controller_pid, directory),
        },
        "leases": _leases(state),
        "hosts": hosts,
        "containers": containers,
    }


def _leases(state: LabState) -> list[dict] | None:
    """The controller's lease list, fetched from inside the underlay namespace."""
    from silkctl.client import ControllerClient, client_tls_context

    underlay_ns = f"{state.name}-ul"
    if not state.controller_url or not netns.exists(underlay_ns):
        return None

    def fetch():
        tls = client_tls_context(
            _certs(state, "ca.crt"),
            _certs(state, "client.crt"),
            _certs(state, "client.key"),
        )
        client = ControllerClient(state.controller_url, tls, timeout=2.0)
        try:
            return client.list_raw()["leases"]
        finally:
            client.close()

    try:
        return netns.call_in(underlay_ns, fetch)
    except SilkError:
        return None


def restart_daemon(state: LabState, host_name: str) -> dict:
    """Stop (if running) and start one host's daemon again; its health answer."""
    host = state.host(host_name)
    if processes.alive(host.daemon_pid, state.directory):
        processes.stop([host.daemon_pid])
    options = LabOptions(
        encapsulation=state.encapsulation, overlay_network=state.overlay_network
    )
    _start_daemon(state, host, options)
    return _wait_daemon(state, host)
