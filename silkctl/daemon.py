"""The per-host daemon: hold the lease, keep the VTEP and its peers converged.

Start-up: refuse an overlay that overlaps a network of the host (before
any change), find the lease the VTEP carries and renew it, or acquire one;
a lease that is out of the overlay or cannot be renewed is replaced only
when the host has no containers. Then the VTEP, the local endpoint and the
CNI service come up, and one loop runs two clocks:

* renew every `renew_interval_seconds`. A 409 is fatal at once; other
  failures only once renewals have failed for `partition_tolerance_seconds`.
* list every `poll_interval` with If-None-Match, then converge. Listing and
  convergence errors are logged and retried, never fatal; while the
  controller is away the data plane stays as it was.

SIGTERM stops the loop without touching the lease or the data plane
(`silkctl teardown` does that).
"""

import ipaddress
import logging
import signal
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from silkctl import datastore
from silkctl.backends import registry
from silkctl.backends.netlink import Netlink
from silkctl.client import ControllerClient, Lease
from silkctl.errors import ConfigError, NonRetriable, SilkError

log = logging.getLogger(__name__)

ENDPOINT_THREADS = 4
DRAIN_POLL_SECONDS = 0.5
CONVERGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Fatal(SilkError):
    """The daemon cannot go on; the message says why and what to do."""

    exit_code = 1


class Metrics:
    """The daemon's metrics, served on the local endpoint's /metrics.

    `silkctl_daemon_seconds_since_renew` is computed at scrape time from
    `last_renewed` (a `time.monotonic()` reading the daemon keeps current).
    """

    def __init__(self, last_renewed: Callable[[], float] = time.monotonic):
        self.registry = CollectorRegistry()
        started = time.monotonic()
        Gauge(
            "silkctl_daemon_uptime_seconds",
            "Seconds since the daemon started.",
            registry=self.registry,
        ).set_function(lambda: time.monotonic() - started)
        self.renew_success = Counter(
            "silkctl_daemon_renew_success",
            "Lease renewals done.",
            registry=self.registry,
        )
        self.renew_failure = Counter(
            "silkctl_daemon_renew_failure",
            "Lease renewals that failed.",
            registry=self.registry,
        )
        self.converge_success = Counter(
            "silkctl_daemon_converge_success",
            "Convergence cycles that wrote and succeeded.",
            registry=self.registry,
        )
        self.converge_failure = Counter(
            "silkctl_daemon_converge_failure",
            "Convergence cycles with errors.",
            registry=self.registry,
        )
        self.leases = Gauge(
            "silkctl_daemon_leases",
            "Leases in the last listing.",
            registry=self.registry,
        )
        self.peers = Gauge(
            "silkctl_daemon_peers",
            "Remote leases the data plane is programmed for.",
            registry=self.registry,
        )
        self.converge_duration = Histogram(
            "silkctl_daemon_converge_duration_seconds",
            "Duration of each convergence cycle.",
            buckets=CONVERGE_BUCKETS,
            registry=self.registry,
        )
        Gauge(
            "silkctl_daemon_seconds_since_renew",
            "Seconds since the lease was last renewed (or acquired).",
            registry=self.registry,
        ).set_function(lambda: time.monotonic() - last_renewed())


def check_overlap(nl: Netlink, overlay_network: str, vtep_name: str) -> None:
    """Refuse an overlay overlapping any network on this host's links but the VTEP."""
    overlay = ipaddress.IPv4Network(overlay_network, strict=False)
    vtep_index = nl.link_index(vtep_name)
    for address in nl.addresses():
        if address.ifindex == vtep_index:
            continue
        network = ipaddress.IPv4Network(
            f"{address.ip}/{address.prefixlen}", strict=False
        )
        if network.overlaps(overlay):
            link = nl.link(address.ifindex)
            name = link["name"] if link else address.ifindex
            raise Fatal(
                f"overlay network {overlay} overlaps {network} on {name}: "
                "choose an overlay_network that no network of this host uses"
            )


class Daemon:
    """One host's lease and data plane. `start()`, then `run()` until `stop()`."""

    def __init__(
        self, config, client: ControllerClient | None = None, netns: str | None = None
    ):
        self.config = config
        self.client = client
        self.netns = netns
        self.metrics = Metrics(lambda: self._last_renewed)
        self.lease: Lease | None = None
        self.nl: Netlink | None = None
        self.backend = None
        self.endpoint = None
        self.cni_server = None
        self.tagger = None
        self.plugins = None
        self._stop = threading.Event()
        self._etag: str | None = None
        self._last_renewed = time.monotonic()

    # -- start-up ----------------------------------------------------------------

    def start(self) -> None:
        """Lease, VTEP, local endpoint, CNI service; raises Fatal when impossible."""
        config = self.config
        self._load_plugins()
        if self.client is None:
            try:
                self.client = ControllerClient.from_config(config)
            except ConfigError as err:
                raise Fatal(str(err)) from err
        self.nl = Netlink(self.netns)
        check_overlap(self.nl, config.overlay_network, config.vtep_name)
        try:
            self.backend = registry.create(
                self.plugins, config.encapsulation, config, self.nl, self.netns
            )
        except ConfigError as err:
            raise Fatal(str(err)) from err
        self.lease = self._obtain_lease()
        self._last_renewed = time.monotonic()
        self.backend.setup(self.lease)
        log.info(
            "data-plane-ready",
            extra={"encapsulation": config.encapsulation, "mtu": self.backend.mtu()},
        )
        self._preflight()
        self._start_plugins()
        self._start_endpoint()
        self._start_cni_server()

    def _load_plugins(self) -> None:
        from silkctl.plugins.manager import get_manager

        try:
            self.plugins = get_manager(self.config.plugins)
        except ConfigError as err:
            raise Fatal(f"load plugins: {err}") from err

    def _preflight(self) -> None:
        """Let the backend refuse a fabric it cannot serve, before anything runs."""
        preflight = getattr(self.backend, "preflight", None)
        if preflight is None:
            return
        try:
            leases, _ = self.client.list_leases()  # the first poll must converge
        except SilkError as err:
            log.warning("list-leases-failed", extra={"error": str(err)})
            return
        try:
            preflight(leases)
        except SilkError as err:
            raise Fatal(str(err)) from err

    def _start_plugins(self) -> None:
        """Tell every plugin the daemon is up."""
        try:
            self.plugins.hook.silkctl_daemon_started(config=self.config)
        except Exception as err:  # noqa: BLE001 - a plugin refusing stops us with its reason
            raise Fatal(f"start plugins: {err}") from err

    def _stop_plugins(self) -> None:
        if self.plugins is not None:
            self.plugins.hook.silkctl_daemon_stopping()
            self.plugins = None

    def _obtain_lease(self) -> Lease:
        found = self.backend.discover()
        if found is None:
            return self._acquire()
        subnet, mac = found
        discovered = Lease(self.config.underlay_ip, subnet, mac)
        log.info("lease-discovered", extra=discovered.to_json())
        overlay = ipaddress.IPv4Network(self.config.overlay_network, strict=False)
        if not ipaddress.IPv4Network(subnet).subnet_of(overlay):
            log.error(
                "lease-not-in-overlay",
                extra={"overlay_subnet": subnet, "overlay_network": str(overlay)},
            )
            self._refuse_with_containers(
                f"discovered lease {subnet} is not in overlay network {overlay}"
            )
            return self._acquire()
        try:
            self.client.renew(discovered)
        except SilkError as err:
            log.warning("lease-renew-failed", extra={"error": str(err)})
            self._refuse_with_containers(f"renew subnet lease {subnet}: {err}")
            return self._acquire()
        log.info("lease-renewed", extra=discovered.to_json())
        return discovered

    def _refuse_with_containers(self, problem: str) -> None:
        """Fatal when the host has containers, whose addresses the old lease holds."""
        try:
            count = container_count(self.config.datastore)
        except SilkError as err:
            raise Fatal(f"{problem}; {err}") from err
        if count:
            raise Fatal(
                f"{problem}; the host has {count} containers, so the lease cannot "
                "be replaced: remove them (silkctl teardown --drain waits for "
                "that) or restore the lease at the controller, then start again"
            )

    def _acquire(self) -> Lease:
        config = self.config
        try:
            lease = self.client.acquire(config.underlay_ip, config.single_ip_only)
        except SilkError as err:
            raise Fatal(f"acquire subnet lease: {err}") from err
        overlay = ipaddress.IPv4Network(config.overlay_network, strict=False)
        try:
            inside = ipaddress.IPv4Network(lease.overlay_subnet).subnet_of(overlay)
        except ValueError:
            inside = False
        if not inside:
            raise Fatal(
                f"acquire subnet lease: the controller gave {lease.overlay_subnet}, "
                f"outside overlay_network {overlay}: the controller's network and "
                "this daemon's overlay_network differ"
            )
        log.info("lease-acquired", extra=lease.to_json())
        return lease

    def _start_endpoint(self) -> None:
        from silkctl.server.daemon_app import make_daemon_app
        from silkctl.server.wsgi import WsgiServer

        app = make_daemon_app(self.network_info, self.metrics.registry)
        server = WsgiServer(
            app,
            "127.0.0.1",
            self.config.health_check_port,
            threads=ENDPOINT_THREADS,
            name="daemon",
        )
        try:
            self.endpoint = server.start()
        except OSError as err:
            raise Fatal(
                f"listen on 127.0.0.1:{self.config.health_check_port}: "
                f"{err.strerror or err}"
            ) from err

    def _start_cni_server(self) -> None:
        from silkctl.cni_service import start_cni_server
        from silkctl.policy import Tagger

        lease = self.lease
        tagger = self.tagger = Tagger(self.plugins)
        try:
            records = datastore.read_all(self.config.datastore)
        except SilkError as err:
            log.error("container-resync-failed", extra={"error": str(err)})
        else:
            tagger.resync(records)
        try:
            self.cni_server = start_cni_server(
                self.config,
                lambda: (lease.overlay_subnet, self.backend.mtu()),
                tagger,
            )
        except Exception as err:  # noqa: BLE001 - one line for the operator, not a trace
            raise Fatal(
                f"start cni service on {self.config.cni_socket}: {err}"
            ) from err

    def network_info(self) -> dict:
        """What the local endpoint answers: this host's subnet and the VTEP MTU."""
        return {"overlay_subnet": self.lease.overlay_subnet, "mtu": self.backend.mtu()}

    # -- the loop ------------------------------------------------------------------

    def run(self) -> None:
        """Renew and poll on their own clocks until `stop()`; raises Fatal."""
        # TODO: one thread serves both clocks, so a controller that hangs until
        # client_timeout_seconds also delays kernel drift repair by that long.
        config = self.config
        next_renew = time.monotonic() + config.renew_interval_seconds
        next_poll = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_renew:
                self.renew()
                if self.tagger is not None:
                    self.tagger.refresh()  # a policy edit may have changed tags
                next_renew = time.monotonic() + config.renew_interval_seconds
            if now >= next_poll:
                self.poll()
                next_poll = time.monotonic() + config.poll_interval
            self._stop.wait(max(0.0, min(next_renew, next_poll) - time.monotonic()))
        log.info("daemon-stopping")

    def renew(self) -> None:
        """Renew the lease; Fatal on a 409, or after the partition tolerance."""
        try:
            self.client.renew(self.lease)
        except NonRetriable as err:
            self.metrics.renew_failure.inc()
            raise Fatal(
                f"this host must be restarted (start the daemon again): "
                f"renew lease: {err}"
            ) from err
        except Exception as err:  # noqa: BLE001 - any other failure counts as partition
            self.metrics.renew_failure.inc()
            failing = time.monotonic() - self._last_renewed
            if failing >= self.config.partition_tolerance_seconds:
                raise Fatal(
                    f"this host must be restarted (start the daemon again): renew "
                    f"lease: failing for {failing:.0f} s, longer than "
                    f"partition_tolerance_seconds: {err}"
                ) from err
            log.warning(
                "lease-renew-failed",
                extra={"error": str(err), "failing_seconds": round(failing, 1)},
            )
            return
        self._last_renewed = time.monotonic()
        self.metrics.renew_success.inc()
        log.debug("lease-renewed", extra=self.lease.to_json())

    def poll(self) -> None:
        """List the leases (cheap when unchanged) and converge; never raises."""
        leases = None
        try:
            leases, etag = self.client.list_leases(self._etag)
        except Exception as err:  # noqa: BLE001 - listing is retried, never fatal
            log.warning("list-leases-failed", extra={"error": str(err)})
        else:
            self._etag = etag
            if leases is not None:
                self.metrics.leases.set(len(leases))
                log.debug("leases-listed", extra={"leases": len(leases)})
        started = time.perf_counter()
        try:
            result = self.backend.converge(leases)
        except Exception as err:  # noqa: BLE001 - convergence retries, it never kills us
            self.metrics.converge_duration.observe(time.perf_counter() - started)
            self.metrics.converge_failure.inc()
            log.error(
                "converge-failed",
                extra={"error": str(err), "kind": type(err).__name__},
            )
            return
        self.metrics.converge_duration.observe(time.perf_counter() - started)
        peer_count = getattr(self.backend, "peer_count", None)
        if peer_count is not None:
            self.metrics.peers.set(peer_count())
        if result is not None:
            counter = (
                self.metrics.converge_failure
                if result.failed
                else self.metrics.converge_success
            )
            counter.inc()

    def stop(self) -> None:
        """Ask the loop to end (safe from a signal handler)."""
        self._stop.set()

    def close(self) -> None:
        """Release what start() opened; the lease and the data plane stay."""
        for closer in (
            self.cni_server and self.cni_server.close,
            self._stop_plugins,
            self.endpoint and self.endpoint.stop,
            self.backend and self.backend.close,
            self.nl and self.nl.close,
            self.client and self.client.close,
        ):
            if closer:
                try:
                    closer()
                except Exception as err:  # noqa: BLE001 - close the rest regardless
                    log.warning("close-failed", extra={"error": str(err)})
        self.cni_server = self.endpoint = self.backend = self.nl = None


def container_count(path: str) -> int:
    """Containers in the datastore; SilkError naming the file when it is unreadable."""
    try:
        return len(datastore.read_all(path))
    except (SilkError, ValueError, OSError) as err:
        raise SilkError(f"read datastore {path}: {err}") from err


def run_daemon(config_file: str | None, overrides: dict) -> None:
    """`silkctl serve daemon`: load the config, start, loop until SIGTERM or fatal."""
    from silkctl import logsetup
    from silkctl.config import DaemonConfig

    try:
        config = DaemonConfig.load(config_file, overrides)
    except ConfigError as err:
        raise Fatal(f"load config: {err}") from err
    if logging.getLogger("silkctl").level == logging.INFO:
        logsetup.set_level(config.log_level)
    daemon = Daemon(config)
    previous = {
        sig: signal.signal(sig, lambda *_: daemon.stop())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        daemon.start()
        log.info(
            "daemon-running",
            extra={
                "overlay_subnet": daemon.lease.overlay_subnet,
                "port": config.health_check_port,
            },
        )
        daemon.run()
    finally:
        daemon.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("daemon-stopped")


def teardown_host(
    config, drain_timeout: float | None = None, netns: str | None = None
) -> list[str]:
    """Release the lease and delete the VTEP; returns what was done.

    With `drain_timeout`, first wait until the host has no containers;
    if some remain after it, nothing is touched and SilkError says so.
    Both steps are tried; when any fails, SilkError reports every failure.
    """
    if drain_timeout is not None:
        _drain(config.datastore, drain_timeout)
    done, problems = [], []
    try:
        client = ControllerClient.from_config(config)
        try:
            client.release(config.underlay_ip)
        finally:
            client.close()
        done.append(f"released the lease of {config.underlay_ip}")
    except SilkError as err:
        problems.append(f"release lease: {err}")
    try:
        from silkctl.plugins.manager import get_manager

        with Netlink(netns) as nl:
            backend = registry.create(
                get_manager(config.plugins), config.encapsulation, config, nl, netns
            )
            try:
                backend.teardown()
            finally:
                backend.close()
        done.append(f"removed the {config.encapsulation} data plane")
    except SilkError as err:
        problems.append(str(err))
    log.info("teardown-complete", extra={"done": len(done), "failed": len(problems)})
    if problems:
        raise SilkError("teardown: " + "; ".join(problems))
    return done


def _drain(path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        count = container_count(path)
        if not count:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise SilkError(
                f"drain: {count} containers still on this host after "
                f"{timeout:g} s; the lease and the VTEP are left in place"
            )
        log.info(
            "drain-waiting", extra={"containers": count, "seconds_left": round(left)}
        )
        time.sleep(min(DRAIN_POLL_SECONDS, left))
