"""`silkctl serve controller` as a process: mTLS, signals, expiry, outages, races."""

import http.client
import json
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from silkctl.client import ControllerClient, Lease, client_tls_context
from silkctl.errors import ControllerError, NonRetriable
from tests.fixtures.db import SILKCTL, ControllerProcess, free_port


def test_controller_starts_quickly_and_exits_0_on_sigterm(db_url, certs_dir, tmp_path):
    process = ControllerProcess(db_url, certs_dir, tmp_path / "ctl")
    started = time.monotonic()
    process.start()
    elapsed = time.monotonic() - started
    client = process.client()
    assert client.acquire("10.0.0.1").underlay_ip == "10.0.0.1"
    assert process.stop() == 0
    log = process.log()
    assert "controller-running" in log and "controller-exited" in log
    # The target is < 1 s; the bound leaves room for a loaded test machine.
    assert elapsed < 3, f"controller took {elapsed:.2f}s to answer /health"


def test_controller_refuses_clients_without_a_certificate(lease_controller, certs_dir):
    context = ssl.create_default_context(cafile=certs_dir.ca_cert)
    client = ControllerClient(lease_controller.url, context)
    with pytest.raises(ControllerError):
        client.list_leases()


def test_controller_refuses_a_certificate_from_another_ca(
    lease_controller, certs_dir, foreign_certs
):
    context = ssl.create_default_context(cafile=certs_dir.ca_cert)
    context.load_cert_chain(foreign_certs.client_cert, foreign_certs.client_key)
    with pytest.raises(ControllerError):
        ControllerClient(lease_controller.url, context).acquire("10.0.0.1")
    assert lease_controller.client().list_leases()[0] == []


def test_controller_is_not_trusted_by_a_client_of_another_ca(
    lease_controller, foreign_certs
):
    with pytest.raises(ControllerError, match="CERTIFICATE_VERIFY_FAILED"):
        lease_controller.client(foreign_certs).list_leases()


def test_controller_serves_plain_http_only_when_told_and_warns(
    db_url, certs_dir, tmp_path
):
    process = ControllerProcess(
        db_url, certs_dir, tmp_path / "ctl", plaintext=True
    ).start()
    try:
        assert process.url.startswith("http://")
        assert process.client().acquire("10.0.0.1").underlay_ip == "10.0.0.1"
        assert "warning silkctl.server plaintext-enabled" in process.log()
    finally:
        process.stop()


def test_controller_etag_changes_when_a_lease_expires(lease_controller_factory):
    ctl = lease_controller_factory(lease_expiration_seconds=2)
    client = ctl.client()
    kept = client.acquire("10.0.0.1")
    client.acquire("10.0.0.2")
    leases, tag = client.list_leases()
    assert len(leases) == 2 and tag
    assert client.list_leases(tag) == (None, tag)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        client.renew(kept)
        leases, new_tag = client.list_leases(tag)
        if leases is not None:
            break
        time.sleep(0.2)
    assert [lease.underlay_ip for lease in leases] == ["10.0.0.1"]
    assert new_tag != tag


def test_controller_pool_exhaustion_is_409_then_reclaimed_after_expiry(
    lease_controller_factory,
):
    ctl = lease_controller_factory(
        network="10.255.0.0/29", subnet_prefix_length=30, lease_expiration_seconds=2
    )
    client = ctl.client()
    first = client.acquire("10.0.0.1")
    with pytest.raises(NonRetriable, match="http status 409: .?no lease available"):
        client.acquire("10.0.0.2")
    time.sleep(3.1)
    assert client.acquire("10.0.0.2").overlay_subnet == first.overlay_subnet


def test_controller_network_change_moves_a_holder_to_the_new_network(
    lease_controller_factory,
):
    old = lease_controller_factory(network="10.255.0.0/16")
    lease = old.client().acquire("10.0.0.1")
    assert old.stop() == 0
    new = lease_controller_factory(network="10.254.0.0/16")
    client = new.client()
    moved = client.acquire("10.0.0.1")
    assert moved.overlay_subnet.startswith("10.254.") and moved != lease
    # A holder that renews its old-network lease instead is still accepted.
    client.renew(Lease("10.0.0.2", "10.255.7.0/24", "ee:ee:0a:ff:07:00"))
    listed = {item.underlay_ip: item.overlay_subnet for item in client.list_leases()[0]}
    assert listed == {"10.0.0.1": moved.overlay_subnet, "10.0.0.2": "10.255.7.0/24"}


def test_controller_survives_a_database_outage(test_database, certs_dir, tmp_path):
    sqlite = test_database.backend == "sqlite"
    url = test_database.url + ("?timeout=1" if sqlite else "")
    ctl = ControllerProcess(url, certs_dir, tmp_path / "ctl").start()
    try:
        client = ctl.client(timeout=15)
        lease = client.acquire("10.0.0.1")
        with test_database.outage():
            calls = [lambda: client.acquire("10.0.0.2"), lambda: client.renew(lease)]
            if not sqlite:  # SQLite in WAL mode keeps serving reads
                calls.append(client.list_leases)
            for call in calls:
                with pytest.raises(ControllerError) as failure:
                    call()
                assert failure.value.status is not None and failure.value.status >= 500
            assert ctl.health() == (200 if sqlite else 500)
            assert ctl.proc.poll() is None
        deadline = time.monotonic() + 10
        while ctl.health() != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ctl.health() == 200
        client.renew(lease)
        assert [item.underlay_ip for item in client.list_leases()[0]] == ["10.0.0.1"]
        assert client.acquire("10.0.0.2").underlay_ip == "10.0.0.2"
    finally:
        assert ctl.stop() == 0


@pytest.mark.parametrize("single", [False, True], ids=["blocks", "single-ips"])
def test_two_controllers_give_255_hosts_distinct_leases(
    lease_controller_factory, single
):
    controllers = [lease_controller_factory(server_threads=16) for _ in range(2)]
    clients = [ctl.client(timeout=30) for ctl in controllers]
    hosts = [f"10.0.{i // 200}.{i % 200 + 1}" for i in range(255)]

    def acquire(index):
        return clients[index % 2].acquire(hosts[index], single)

    with ThreadPoolExecutor(max_workers=32) as pool:
        leases = list(pool.map(acquire, range(255)))

    subnets = [lease.overlay_subnet for lease in leases]
    assert len(set(subnets)) == 255
    assert len({lease.overlay_hardware_addr for lease in leases}) == 255
    assert [lease.underlay_ip for lease in leases] == hosts
    assert all(s.endswith("/32" if single else "/24") for s in subnets)
    listed = clients[0].list_leases()[0]
    assert sorted(lease.overlay_subnet for lease in listed) == sorted(subnets)
    for ctl in controllers:
        assert " 500 " not in ctl.log() and "request-crashed" not in ctl.log()


def test_etag_of_one_controller_follows_writes_through_another(
    lease_controller_factory,
):
    a, b = (lease_controller_factory(lease_expiration_seconds=2) for _ in range(2))
    writer, reader = a.client(), b.client()
    writer.acquire("10.0.0.1")
    listed, tag = reader.list_leases()
    assert [lease.underlay_ip for lease in listed] == ["10.0.0.1"]
    assert reader.list_leases(tag) == (None, tag)

    writer.acquire("10.0.0.2")  # an insert through A
    listed, tag2 = reader.list_leases(tag)
    assert tag2 != tag
    assert sorted(lease.underlay_ip for lease in listed) == ["10.0.0.1", "10.0.0.2"]

    writer.release("10.0.0.1")  # a delete through A
    listed, tag3 = reader.list_leases(tag2)
    assert tag3 not in (tag, tag2)
    assert [lease.underlay_ip for lease in listed] == ["10.0.0.2"]

    # Expiry, with no write at all: B's tag moves once 10.0.0.2 lapses.
    deadline = time.monotonic() + 8
    while reader.list_leases(tag3) == (None, tag3):
        assert time.monotonic() < deadline, "B's tag never moved after expiry"
        time.sleep(0.2)
    assert reader.list_leases()[0] == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"subnet_prefix_length": 16}, "subnet_prefix_length: /16 must be longer"),
        ({"network": "10.255.0.0"}, "network: '10.255.0.0' has no prefix length"),
        ({"listen_port": "x"}, "listen_port: expected an integer"),
        ({"database": "oracle://x/y"}, "database: 'oracle://x/y' is not a sqlite://"),
        ({"server_cert_file": "/nope.crt"}, "/nope.crt"),
    ],
)
def test_controller_bad_config_fails_with_one_line_naming_the_key(
    tmp_path, certs_dir, config, message
):
    path = tmp_path / "controller.json"
    path.write_text(
        json.dumps(
            {
                "database": f"sqlite://{tmp_path}/l.db",
                "listen_port": free_port(),
                "health_check_port": free_port(),
                "ca_cert_file": certs_dir.ca_cert,
                "server_cert_file": certs_dir.server_cert,
                "server_key_file": certs_dir.server_key,
                **config,
            }
        )
    )
    result = subprocess.run(
        [SILKCTL, "serve", "controller", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_controller_cli_options_override_the_config_file(tmp_path, certs_dir):
    path = tmp_path / "controller.json"
    path.write_text(
        json.dumps({"database": "sqlite:///nonexistent/dir/x.db", "plaintext": True})
    )
    port, health = free_port(), free_port()
    proc = subprocess.Popen(
        [
            SILKCTL,
            "serve",
            "controller",
            "--config",
            str(path),
            "--database",
            f"sqlite://{tmp_path}/cli.db",
            "--listen-port",
            str(port),
            "--health-check-port",
            str(health),
            "--network",
            "10.9.0.0/16",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("PUT", "/leases/acquire", b'{"underlay_ip": "10.0.0.1"}')
                body = json.loads(conn.getresponse().read())
                break
            except OSError:
                time.sleep(0.1)
        assert body["overlay_subnet"].startswith("10.9.")
        assert (tmp_path / "cli.db").exists()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_client_tls_context_is_what_the_daemon_uses(lease_controller, certs_dir):
    tls = client_tls_context(
        certs_dir.ca_cert, certs_dir.client_cert, certs_dir.client_key
    )
    assert ControllerClient(lease_controller.url, tls).list_leases()[0] == []
    assert sys.executable
