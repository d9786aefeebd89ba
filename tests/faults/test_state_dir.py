"""ADD with an unwritable state directory: a clear error, nothing changed.

The directory is made immutable with `chattr -R +i` (root cannot write it
either) after one container was added, and made mutable again after the
test, also when it fails. Two cases: the whole state (IPAM dir and
datastore) immutable, so the first write fails; only the datastore
immutable, so the address reservation and the veth are made and must be
rolled back.
"""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from silkctl import datastore
from silkctl.backends import netns

pytestmark = pytest.mark.kernel


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", "-R", flag, str(path)], check=True, capture_output=True)


def _snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("frozen", ["state-dir", "datastore"])
def test_add_fails_clearly_and_changes_nothing_when_state_is_read_only(
    frozen, cni_host_factory, tmp_path, fault_report
):
    report = fault_report(f"read-only {frozen} during ADD")
    state = tmp_path / "frozen"
    host = cni_host_factory()
    host.data_dir = str(state / "ipam-state")
    host.datastore = str(state / "store" / "containers.json")
    host.add(host.container())
    before = {
        "files": _snapshot(state),
        "links": host.host_links(),
        "reservations": host.reservations(),
        "records": host.records(),
    }
    target = state if frozen == "state-dir" else state / "store"
    try:
        _chattr("+i", target)
        report.fault(f"chattr +i {target.name}")
        box = host.container()
        run = host.cni("ADD", box)
        after = {
            "files": _snapshot(state),
            "links": host.host_links(),
            "reservations": host.reservations(),
        }
        boxed = json.loads(netns.run(box.name, ["ip", "-j", "link"]).stdout)
    finally:
        _chattr("-i", target)
    after["records"] = host.records()

    report.check(run.code == 1, f"ADD failed with code 1: {run.stdout}")
    error = run.json or {}
    text = f"{error.get('msg')}: {error.get('details')}"
    report.check(
        error.get("code") in (7, 74, 999) or error.get("code", 0) > 0,
        f"a CNI error code, got {error}",
    )
    report.check(
        "Operation not permitted" in text and ("metadata" in text or "address" in text),
        f"the error names the step and the cause: {text}",
    )
    for key in before:
        report.check(after[key] == before[key], f"{key} unchanged")
    report.check([link["ifname"] for link in boxed] == ["lo"], "container untouched")
    lost = set(before["reservations"]) ^ set(after["reservations"])
    report.lost(len(lost), "reserved IPs")


def test_add_fails_clearly_and_changes_nothing_when_the_datastore_cannot_grow(
    cni_host_factory, fault_report
):
    """A full disk for the datastore: the service may not grow any file past
    its current datastore size (RLIMIT_FSIZE set on the running process;
    Python ignores SIGXFSZ, so writes fail with EFBIG)."""
    report = fault_report("datastore cannot grow (file size limit) during ADD")
    host = cni_host_factory()
    host.add(host.container())
    # Padding makes the datastore larger than the service log will grow, so
    # the limit stops the datastore write and not the logging.
    datastore.add(
        host.datastore,
        "padding",
        "192.0.2.1",
        network="other",
        metadata={"pad": "x" * (1 << 20)},
    )
    store = Path(host.datastore)
    before = {
        "bytes": store.read_bytes(),
        "links": host.host_links(),
        "reservations": host.reservations(),
    }
    limit = len(before["bytes"]) + 16
    subprocess.run(
        ["prlimit", f"--pid={host.service.pid}", f"--fsize={limit}"],
        check=True,
        capture_output=True,
    )
    report.fault(f"RLIMIT_FSIZE {limit} bytes on the cni service")
    box = host.container()
    run = host.cni("ADD", box)
    after = {
        "bytes": store.read_bytes(),
        "links": host.host_links(),
        "reservations": host.reservations(),
    }
    boxed = json.loads(netns.run(box.name, ["ip", "-j", "link"]).stdout)

    report.check(run.code == 1, f"ADD failed with code 1: {run.stdout}")
    error = run.json or {}
    text = f"{error.get('msg')}: {error.get('details')}"
    report.check(
        "File too large" in text and "metadata" in text,
        f"the error names the step and the cause: {text}",
    )
    for key in before:
        report.check(after[key] == before[key], f"{key} unchanged")
    report.check([link["ifname"] for link in boxed] == ["lo"], "container untouched")
    lost = set(before["reservations"]) ^ set(after["reservations"])
    report.lost(len(lost), "reserved IPs")
