"""`silkctl serve controller|daemon`: run the long-lived services."""

import typer

app = typer.Typer(help="Run the lease controller or a host daemon.", no_args_is_help=True)

# ---- serve controller --------------------------------------------------------
# (owned by the controller work; see silkctl/server/)

@app.command("controller")
def serve_controller(
    config_file: str = typer.Option(None, "--config", "-c",
                                    help="Controller config file (JSON, reference keys)."),
    listen_host: str = typer.Option(None, "--listen-host", help="Address of the lease API."),
    listen_port: int = typer.Option(None, "--listen-port", help="Port of the lease API."),
    database: str = typer.Option(
        None, "--database", help="sqlite:///path, postgresql://... or mysql://... URL."),
    network: str = typer.Option(None, "--network", help="Overlay network, e.g. 10.255.0.0/16."),
    subnet_prefix_length: int = typer.Option(None, "--subnet-prefix-length",
                                             help="Prefix length of each host's subnet."),
    lease_expiration_seconds: int = typer.Option(
        None, "--lease-expiration-seconds", help="Seconds until an unrenewed lease expires."),
    ca_cert_file: str = typer.Option(None, "--ca-cert-file",
                                     help="CA that client certificates must chain to."),
    server_cert_file: str = typer.Option(None, "--server-cert-file",
                                         help="Server certificate (PEM)."),
    server_key_file: str = typer.Option(None, "--server-key-file",
                                        help="Server private key (PEM)."),
    plaintext: bool = typer.Option(None, "--plaintext/--tls",
                                   help="Serve plain HTTP without TLS (labs only)."),
    health_check_port: int = typer.Option(None, "--health-check-port",
                                          help="Port of GET /health on 127.0.0.1."),
) -> None:
    """Run the lease controller: the /leases API over mutual TLS, /health on localhost.

    Settings come from the config file, then SILKCTL_<KEY> environment
    variables, then these options. SIGTERM or SIGINT stops it cleanly.

    Example:

        silkctl serve controller --config /etc/silkctl/controller.json
    """
    from silkctl.config import ControllerConfig
    from silkctl.server import run_controller

    config = ControllerConfig.load(config_file, {
        "listen_host": listen_host, "listen_port": listen_port, "database": database,
        "network": network, "subnet_prefix_length": subnet_prefix_length,
        "lease_expiration_seconds": lease_expiration_seconds,
        "ca_cert_file": ca_cert_file, "server_cert_file": server_cert_file,
        "server_key_file": server_key_file, "plaintext": plaintext,
        "health_check_port": health_check_port})
    run_controller(config)


# ---- serve daemon ------------------------------------------------------------
# (owned by the daemon work; see silkctl/daemon.py)


def _daemon_help(key: str) -> str:
    from silkctl.config import DaemonConfig

    return DaemonConfig.__dataclass_fields__[key].metadata["description"]


@app.command("daemon")
def serve_daemon(
    config_file: str = typer.Option(None, "--config", "-c",
                                    help="Daemon config file (JSON, reference keys)."),
    underlay_ip: str = typer.Option(None, "--underlay-ip", help=_daemon_help("underlay_ip")),
    vxlan_interface_name: str = typer.Option(
        None, "--vxlan-interface-name", help=_daemon_help("vxlan_interface_name")),
    subnet_prefix_length: int = typer.Option(
        None, "--subnet-prefix-length", help=_daemon_help("subnet_prefix_length")),
    overlay_network: str = typer.Option(None, "--overlay-network",
                                        help=_daemon_help("overlay_network")),
    health_check_port: int = typer.Option(None, "--health-check-port",
                                          help=_daemon_help("health_check_port")),
    vtep_name: str = typer.Option(None, "--vtep-name", help=_daemon_help("vtep_name")),
    connectivity_server_url: str = typer.Option(
        None, "--connectivity-server-url", help=_daemon_help("connectivity_server_url")),
    ca_cert_file: str = typer.Option(None, "--ca-cert-file",
                                     help=_daemon_help("ca_cert_file")),
    client_cert_file: str = typer.Option(None, "--client-cert-file",
                                         help=_daemon_help("client_cert_file")),
    client_key_file: str = typer.Option(None, "--client-key-file",
                                        help=_daemon_help("client_key_file")),
    plaintext: bool = typer.Option(None, "--plaintext/--tls", help=_daemon_help("plaintext")),
    vni: int = typer.Option(None, "--vni", help=_daemon_help("vni")),
    vtep_port: int = typer.Option(None, "--vtep-port", help=_daemon_help("vtep_port")),
    poll_interval: float = typer.Option(None, "--poll-interval",
                                        help=_daemon_help("poll_interval")),
    renew_interval_seconds: float = typer.Option(
        None, "--renew-interval-seconds", help=_daemon_help("renew_interval_seconds")),
    partition_tolerance_seconds: int = typer.Option(
        None, "--partition-tolerance-seconds",
        help=_daemon_help("partition_tolerance_seconds")),
    client_timeout_seconds: float = typer.Option(
        None, "--client-timeout-seconds", help=_daemon_help("client_timeout_seconds")),
    datastore: str = typer.Option(None, "--datastore", help=_daemon_help("datastore")),
    cni_socket: str = typer.Option(None, "--cni-socket", help=_daemon_help("cni_socket")),
    state_dir: str = typer.Option(None, "--state-dir", help=_daemon_help("state_dir")),
    single_ip_only: bool = typer.Option(None, "--single-ip-only/--subnet",
                                        help=_daemon_help("single_ip_only")),
    encapsulation: str = typer.Option(None, "--encapsulation",
                                      help=_daemon_help("encapsulation")),
    log_level: str = typer.Option(None, "--log-level", help=_daemon_help("log_level")),
    debug_server_port: int = typer.Option(None, "--debug-server-port",
                                          help=_daemon_help("debug_server_port")),
    metron_port: int = typer.Option(None, "--metron-port", help=_daemon_help("metron_port")),
    log_prefix: str = typer.Option(None, "--log-prefix", help=_daemon_help("log_prefix")),
) -> None:
    """Run a host daemon: hold this host's lease, program the VXLAN overlay.

    It renews the lease, polls the controller for every other host's lease
    and keeps routes, ARP and FDB entries on the VTEP in line; it answers
    {"overlay_subnet", "mtu"} on 127.0.0.1:<health-check-port>. Settings come
    from the config file, then SILKCTL_<KEY> environment variables, then these
    options. SIGTERM stops it and leaves the lease and data plane in place.

    Example:

        silkctl serve daemon --config /etc/silkctl/daemon.json
    """
    from silkctl.daemon import run_daemon

    overrides = dict(locals())
    overrides.pop("config_file")
    run_daemon(config_file, overrides)
