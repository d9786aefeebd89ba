"""`silkctl serve controller|daemon`: run the long-lived services."""

import typer

app = typer.Typer(
    help="Run the lease controller or a host daemon.", no_args_is_help=True
)

# ---- serve controller --------------------------------------------------------


@app.command("controller")
def serve_controller(
    config_file: str = typer.Option(
        None, "--config", "-c", help="Controller config file (JSON, reference keys)."
    ),
    listen_host: str = typer.Option(
        None, "--listen-host", help="Address of the lease API."
    ),
    listen_port: int = typer.Option(
        None, "--listen-port", help="Port of the lease API."
    ),
    database: str = typer.Option(
        None, "--database", help="sqlite:///path, postgresql://... or mysql://... URL."
    ),
    network: str = typer.Option(
        None, "--network", help="Overlay network, e.g. 10.255.0.0/16."
    ),
    subnet_prefix_length: int = typer.Option(
        None, "--subnet-prefix-length", help="Prefix length of each host's subnet."
    ),
    lease_expiration_seconds: int = typer.Option(
        None,
        "--lease-expiration-seconds",
        help="Seconds until an unrenewed lease expires.",
    ),
    ca_cert_file: str = typer.Option(
        None, "--ca-cert-file", help="CA that client certificates must chain to."
    ),
    server_cert_file: str = typer.Option(
        None, "--server-cert-file", help="Server certificate (PEM)."
    ),
    server_key_file: str = typer.Option(
        None, "--server-key-file", help="Server private key (PEM)."
    ),
    plaintext: bool = typer.Option(
        None, "--plaintext/--tls", help="Serve plain HTTP without TLS (labs only)."
    ),
    health_check_port: int = typer.Option(
        None, "--health-check-port", help="Port of GET /health on 127.0.0.1."
    ),
) -> None:
    """Run the lease controller: /leases over mutual TLS; /health, /metrics and
    /log-level on plain HTTP at 127.0.0.1:health_check_port.

    Settings come from the config file, then SILKCTL_<KEY> environment
    variables, then these options. SIGTERM or SIGINT stops it cleanly.

    Example:

        silkctl serve controller --config /etc/silkctl/controller.json
    """
    from silkctl.config import ControllerConfig
    from silkctl.server import run_controller

    overrides = {
        "listen_host": listen_host,
        "listen_port": listen_port,
        "database": database,
        "network": network,
        "subnet_prefix_length": subnet_prefix_length,
        "lease_expiration_seconds": lease_expiration_seconds,
        "ca_cert_file": ca_cert_file,
        "server_cert_file": server_cert_file,
        "server_key_file": server_key_file,
        "plaintext": plaintext,
        "health_check_port": health_check_port,
    }
    run_controller(ControllerConfig.load(config_file, overrides))


# ---- serve daemon ------------------------------------------------------------


def _daemon_option(key: str, flag: str = ""):
    """A CLI option for daemon config key `key`, with the config model's help."""
    from silkctl.config import DaemonConfig

    help_text = DaemonConfig.__dataclass_fields__[key].metadata["description"]
    return typer.Option(None, flag or "--" + key.replace("_", "-"), help=help_text)


@app.command("daemon")
def serve_daemon(
    config_file: str = typer.Option(
        None, "--config", "-c", help="Daemon config file (JSON, reference keys)."
    ),
    underlay_ip: str = _daemon_option("underlay_ip"),
    vxlan_interface_name: str = _daemon_option("vxlan_interface_name"),
    subnet_prefix_length: int = _daemon_option("subnet_prefix_length"),
    overlay_network: str = _daemon_option("overlay_network"),
    health_check_port: int = _daemon_option("health_check_port"),
    vtep_name: str = _daemon_option("vtep_name"),
    connectivity_server_url: str = _daemon_option("connectivity_server_url"),
    ca_cert_file: str = _daemon_option("ca_cert_file"),
    client_cert_file: str = _daemon_option("client_cert_file"),
    client_key_file: str = _daemon_option("client_key_file"),
    plaintext: bool = _daemon_option("plaintext", "--plaintext/--tls"),
    vni: int = _daemon_option("vni"),
    vtep_port: int = _daemon_option("vtep_port"),
    poll_interval: float = _daemon_option("poll_interval"),
    renew_interval_seconds: float = _daemon_option("renew_interval_seconds"),
    partition_tolerance_seconds: int = _daemon_option("partition_tolerance_seconds"),
    client_timeout_seconds: float = _daemon_option("client_timeout_seconds"),
    datastore: str = _daemon_option("datastore"),
    cni_socket: str = _daemon_option("cni_socket"),
    state_dir: str = _daemon_option("state_dir"),
    single_ip_only: bool = _daemon_option("single_ip_only", "--single-ip-only/--block"),
    encapsulation: str = _daemon_option("encapsulation"),
    log_level: str = _daemon_option("log_level"),
    debug_server_port: int = _daemon_option("debug_server_port"),
    metron_port: int = _daemon_option("metron_port"),
    log_prefix: str = _daemon_option("log_prefix"),
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
