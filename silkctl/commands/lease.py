"""`silkctl lease list|show|release`: inspect and free leases on a controller."""

import ipaddress

import typer

from silkctl import output
from silkctl.errors import ConfigError, NotFound

app = typer.Typer(
    help="Inspect and release leases on a running controller.", no_args_is_help=True
)

COLUMNS = ("underlay IP", "subnet", "MAC", "kind", "renewed", "expired")


def connect(controller, ca_cert, cert, key, config):
    """A ControllerClient from the options (or their SILKCTL_* env vars), with
    whatever they leave out taken from a daemon config file."""
    from silkctl.client import ControllerClient, client_tls_context
    from silkctl.config import read_json_file

    values = {
        "connectivity_server_url": controller,
        "ca_cert_file": ca_cert,
        "client_cert_file": cert,
        "client_key_file": key,
    }
    if config:
        from_file = read_json_file(config)
        for name, value in values.items():
            if not value and isinstance(from_file.get(name), str):
                values[name] = from_file[name]
    url = values["connectivity_server_url"]
    if not url:
        raise ConfigError(
            "--controller: no controller URL; give --controller, "
            "SILKCTL_CONTROLLER_URL or --config daemon.json"
        )
    tls = None
    if url.startswith("https://"):
        missing = [
            flag
            for flag, name in (
                ("--ca-cert", "ca_cert_file"),
                ("--cert", "client_cert_file"),
                ("--key", "client_key_file"),
            )
            if not values[name]
        ]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)}: needed for an https:// controller "
                "(or SILKCTL_CA_CERT, SILKCTL_CLIENT_CERT, "
                "SILKCTL_CLIENT_KEY)"
            )
        tls = client_tls_context(
            values["ca_cert_file"],
            values["client_cert_file"],
            values["client_key_file"],
        )
    return ControllerClient(url, tls)


CONTROLLER = typer.Option(
    None,
    "--controller",
    envvar="SILKCTL_CONTROLLER_URL",
    help="Controller URL, e.g. https://10.0.0.5:4103.",
)
CA_CERT = typer.Option(
    None,
    "--ca-cert",
    envvar="SILKCTL_CA_CERT",
    help="CA the controller's certificate chains to.",
)
CERT = typer.Option(
    None, "--cert", envvar="SILKCTL_CLIENT_CERT", help="Client certificate."
)
KEY = typer.Option(
    None, "--key", envvar="SILKCTL_CLIENT_KEY", help="Client private key."
)
CONFIG = typer.Option(
    None, "--config", help="Daemon config file to take the URL and TLS files from."
)


def _age(renewed_at, now) -> str | None:
    """How long ago a lease was renewed, by the controller's clock: `42s ago`."""
    if renewed_at is None or now is None:
        return None
    seconds = max(0, int(now) - int(renewed_at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _row(item: dict, now) -> tuple:
    expired = item.get("expired")
    return (
        item.get("underlay_ip"),
        item.get("overlay_subnet"),
        item.get("overlay_hardware_addr"),
        "single" if str(item.get("overlay_subnet", "")).endswith("/32") else "block",
        _age(item.get("last_renewed_at"), now),
        None if expired is None else ("yes" if expired else "no"),
    )


def _check_output(value: str) -> str:
    if value not in ("table", "json"):
        raise typer.BadParameter("must be table or json")
    return value


OUTPUT = typer.Option(
    "table", "--output", "-o", callback=_check_output, help="table or json."
)


@app.command("list")
def lease_list(
    output_format: str = OUTPUT,
    controller: str = CONTROLLER,
    ca_cert: str = CA_CERT,
    cert: str = CERT,
    key: str = KEY,
    config: str = CONFIG,
) -> None:
    """List every lease, expired ones included, then total, free and stale counts.

    Example:

        silkctl lease list --controller https://10.0.0.5:4103 \\
            --ca-cert ca.crt --cert client.crt --key client.key
    """
    listing = connect(controller, ca_cert, cert, key, config).list_all()
    leases = listing["leases"]
    summary = _summary(listing)
    if output_format == "json":
        output.emit_json({"leases": leases, "summary": summary})
        return
    title = f"{len(leases)} lease{'' if len(leases) == 1 else 's'}"
    table = output.table(
        title, COLUMNS, [_row(item, listing.get("now")) for item in leases]
    )
    for column in table.columns[:3]:
        column.no_wrap = True
    output.show(table)
    output.console.print(
        f"total {summary['total']}  free {_figure(summary['free'])}  "
        f"stale {_figure(summary['stale'])}",
        highlight=False,
    )


def _summary(listing: dict) -> dict:
    """Total, free and stale leases as the controller counts them for its metrics
    (a controller without the `summary` field gives only the total)."""
    given = listing.get("summary") or {}
    return {
        "total": given.get("total", len(listing["leases"])),
        "free": given.get("free"),
        "stale": given.get("stale"),
    }


def _figure(value) -> str:
    return "?" if value is None else str(value)


def _check_ip(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an IPv4 address") from None
    return value


@app.command("show")
def lease_show(
    underlay_ip: str = typer.Argument(
        ..., callback=_check_ip, help="The host's underlay IP."
    ),
    output_format: str = OUTPUT,
    controller: str = CONTROLLER,
    ca_cert: str = CA_CERT,
    cert: str = CERT,
    key: str = KEY,
    config: str = CONFIG,
) -> None:
    """Show the lease of one host.

    Example:

        silkctl lease show 10.0.16.5 --output json
    """
    listing = connect(controller, ca_cert, cert, key, config).list_all()
    found = [
        item for item in listing["leases"] if item.get("underlay_ip") == underlay_ip
    ]
    if not found:
        raise NotFound(f"no lease for {underlay_ip}")
    if output_format == "json":
        output.emit_json(found[0])
        return
    row = _row(found[0], listing.get("now"))
    output.show(output.table(None, ("field", "value"), zip(COLUMNS, row, strict=True)))


@app.command("release")
def lease_release(
    underlay_ip: str = typer.Argument(
        ..., callback=_check_ip, help="The host's underlay IP."
    ),
    controller: str = CONTROLLER,
    ca_cert: str = CA_CERT,
    cert: str = CERT,
    key: str = KEY,
    config: str = CONFIG,
) -> None:
    """Release a host's lease (its subnet becomes free); not an error when it has none.

    Example:

        silkctl lease release 10.0.16.5
    """
    connect(controller, ca_cert, cert, key, config).release(underlay_ip)
    typer.echo(f"released the lease of {underlay_ip}")
