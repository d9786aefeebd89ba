"""Gathers one host's view for `silkctl host inspect`: lease, daemon health and
key metrics (from its `/metrics`), VTEP, each remote host's route/ARP/FDB
entry against the controller's lease list (drift marked missing, different
or stale), and the host's containers. Reads only; changes nothing."""

import json
import os
import urllib.error
import urllib.request

from silkctl import datastore
from silkctl.backends import converge, netns, vxlan
from silkctl.backends.netlink import Netlink, describe
from silkctl.client import ControllerClient, Lease
from silkctl.errors import SilkError
from silkctl.lab.state import LabState, state_root

TABLES = ("route", "arp", "fdb")


def config_for_netns(name: str) -> str | None:
    """The daemon config of the lab host living in namespace `name`, if any."""
    root = state_root()
    if not os.path.isdir(root):
        return None
    for lab in sorted(os.listdir(root)):
        state = LabState.load(os.path.join(root, lab))
        for host in state.hosts if state else []:
            if host.netns == name:
                return host.config
    return None


def _health(config) -> dict | None:
    url = f"http://127.0.0.1:{config.health_check_port}/"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read() or b"{}")
    except (OSError, urllib.error.URLError, ValueError):
        return None


# Samples of the daemon's /metrics that inspect shows, by the key it uses.
DAEMON_METRICS = {
    "silkctl_daemon_renew_success_total": "renew_success",
    "silkctl_daemon_renew_failure_total": "renew_failure",
    "silkctl_daemon_seconds_since_renew": "seconds_since_renew",
    "silkctl_daemon_converge_success_total": "converge_success",
    "silkctl_daemon_converge_failure_total": "converge_failure",
    "silkctl_daemon_peers": "peers",
}


def _daemon_metrics(config) -> dict | None:
    """The key figures of the daemon's `/metrics`; None when it does not answer."""
    from prometheus_client.parser import text_string_to_metric_families

    url = f"http://127.0.0.1:{config.health_check_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
        families = list(text_string_to_metric_families(text))
    except (OSError, urllib.error.URLError, ValueError):
        return None
    found = {}
    for family in families:
        for sample in family.samples:
            key = DAEMON_METRICS.get(sample.name)
            if key == "seconds_since_renew":
                found[key] = round(sample.value, 1)
            elif key is not None:
                found[key] = int(sample.value)
    return found or None


def _leases(config) -> tuple[list[Lease] | None, str | None]:
    try:
        client = ControllerClient.from_config(config)
        try:
            leases, _ = client.list_leases()
        finally:
            client.close()
        return leases, None
    except SilkError as err:
        return None, str(err)


def _vtep(nl: Netlink, name: str) -> dict | None:
    vtep = vxlan.read(nl, name)
    if vtep is None:
        return None
    link = nl.link(vtep.index) or {}
    details = link.get("vxlan", {})
    lower = nl.link(details.get("lower")) if details.get("lower") else None
    return {
        "name": name,
        "index": vtep.index,
        "mac": vtep.mac,
        "address": vtep.address,
        "mtu": vtep.mtu,
        "up": link.get("up"),
        "vni": details.get("vni"),
        "port": details.get("port"),
        "gbp": details.get("gbp"),
        "learning": details.get("learning"),
        "local": details.get("local"),
        "lower_device": lower["name"] if lower else None,
    }


def _peer_rows(leases, local: Lease, overlay: str, nl: Netlink, index: int) -> tuple:
    desired = converge.desired_state(leases, local, overlay)
    actual = converge.read_kernel_state(nl, index)
    changes = converge.diff(desired, actual)
    drift: dict[str, dict[str, str]] = {}
    for peer, group in changes.peers.items():
        for change in group:
            status = "missing" if change.action == "add" else "different"
            drift.setdefault(peer, {})[change.table] = status
    rows = []
    for lease in leases:
        if lease.overlay_subnet == local.overlay_subnet:
            continue
        if not desired.in_overlay(lease.overlay_subnet.split("/")[0]):
            status = {table: "skipped (outside overlay)" for table in TABLES}
        else:
            status = {
                table: drift.get(lease.overlay_subnet, {}).get(table, "ok")
                for table in TABLES
            }
        rows.append(
            {
                "underlay_ip": lease.underlay_ip,
                "overlay_subnet": lease.overlay_subnet,
                "mac": lease.overlay_hardware_addr,
                **status,
            }
        )
    stale = [{"table": c.table, "entry": describe(c.entry)} for c in changes.stale]
    return rows, stale


def inspect_host(config, namespace: str | None = None) -> dict:
    """Everything `host inspect` shows, as plain data; `drift`: any mismatch."""
    return netns.call_in(namespace, _inspect, config)


def _inspect(config) -> dict:
    # TODO: only the vxlan backend is inspected; a host-gw host has no VTEP and
    # is always reported as drifted, with no lease found.
    report = {
        "underlay_ip": config.underlay_ip,
        "overlay_network": config.overlay_network,
        "health": _health(config),
        "metrics": _daemon_metrics(config),
        "lease": None,
        "vtep": None,
        "peers": [],
        "stale": [],
        "containers": [],
        "controller_error": None,
        "drift": False,
    }
    leases, report["controller_error"] = _leases(config)
    with Netlink() as nl:
        report["vtep"] = _vtep(nl, config.vtep_name)
        vtep = report["vtep"]
        if vtep is not None:
            found = vxlan.discover(
                nl, config.vtep_name, config.subnet_prefix_length, config.single_ip_only
            )
            if found:
                local = Lease(config.underlay_ip, found[0], found[1])
                report["lease"] = local.to_json()
                if leases is not None:
                    report["peers"], report["stale"] = _peer_rows(
                        leases, local, config.overlay_network, nl, vtep["index"]
                    )
    try:
        records = datastore.read_all(config.datastore)
    except SilkError:
        records = {}
    report["containers"] = [
        {"id": key, **value} for key, value in sorted(records.items())
    ]
    report["drift"] = (
        bool(report["stale"])
        or any(
            row[table] in ("missing", "different")
            for row in report["peers"]
            for table in TABLES
        )
        or report["vtep"] is None
    )
    # Without the controller's leases or a local lease nothing was compared.
    report["compared"] = leases is not None and report["lease"] is not None
    return report
