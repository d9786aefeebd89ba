"""`silkctl host inspect`: this host's lease, VTEP and drift against the controller."""

import typer

from silkctl import output
from silkctl.config import DaemonConfig
from silkctl.errors import ConfigError

app = typer.Typer(help="Look at one host of the fabric.", no_args_is_help=True)

DEFAULT_CONFIG = "/etc/silkctl/daemon.json"
MARKS = {
    "ok": "[green]ok[/green]",
    "missing": "[red]missing[/red]",
    "different": "[red]different[/red]",
}


@app.command("inspect")
def inspect(
    config_path: str = typer.Option(
        None, "--config", "-c", help=f"Daemon config (default {DEFAULT_CONFIG})."
    ),
    namespace: str = typer.Option(
        None,
        "--netns",
        help="Inspect the host in this network namespace (a lab host, e.g. silk-h1).",
    ),
    output_format: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    """Show the lease, daemon health and metrics, VTEP, per-peer drift, containers.

    Exits 1 when the kernel differs from what the controller's leases call for,
    2 when nothing could be compared (controller unreachable, no local lease).

    Example:

        silkctl host inspect --netns silk-h1
    """
    from silkctl.inspect import config_for_netns, inspect_host

    if output_format not in ("table", "json"):
        raise ConfigError(f"--output: {output_format!r} is not table or json")
    if config_path is None and namespace:
        config_path = config_for_netns(namespace)
        if config_path is None:
            raise ConfigError(
                f"--netns {namespace}: no lab host lives there; "
                "give its daemon config with --config"
            )
    report = inspect_host(DaemonConfig.load(config_path or DEFAULT_CONFIG), namespace)
    if output_format == "json":
        output.emit_json(report)
    else:
        _show(report)
    if report["drift"]:
        raise typer.Exit(1)
    if not report["compared"]:
        output.error(
            "drift unknown: "
            + (
                f"controller: {report['controller_error']}"
                if report["controller_error"]
                else "no lease found on the host"
            )
        )
        raise typer.Exit(2)


def _show(report: dict) -> None:
    lease, health, vtep = report["lease"], report["health"], report["vtep"]
    output.console.print(
        f"host [bold]{report['underlay_ip']}[/bold]  lease "
        f"{lease['overlay_subnet'] if lease else '[red]none[/red]'}  daemon "
        + (
            f"[green]healthy[/green] (mtu {health.get('mtu')})"
            if health
            else "[red]not answering[/red]"
        )
    )
    figures = report.get("metrics")
    if figures:
        get = figures.get
        output.console.print(
            f"daemon renewals {get('renew_success', '?')} ok "
            f"{get('renew_failure', '?')} failed, last renew "
            f"{get('seconds_since_renew', '?')}s ago, converge failures "
            f"{get('converge_failure', '?')}, peers {get('peers', '?')}",
            highlight=False,
        )
    if vtep:
        output.console.print(
            f"vtep {vtep['name']}: vni {vtep['vni']} port {vtep['port']} "
            f"gbp {'on' if vtep['gbp'] else 'off'} mtu {vtep['mtu']} "
            f"lower {vtep['lower_device']} mac {vtep['mac']} "
            f"{'up' if vtep['up'] else 'down'}"
        )
    else:
        output.console.print("[red]vtep missing[/red]")
    if report["controller_error"]:
        output.warn(f"controller: {report['controller_error']}")
    output.show(
        output.table(
            "peers (controller leases vs kernel)",
            ["underlay", "subnet", "route", "arp", "fdb"],
            [
                (
                    p["underlay_ip"],
                    p["overlay_subnet"],
                    *(MARKS.get(p[t], p[t]) for t in ("route", "arp", "fdb")),
                )
                for p in report["peers"]
            ],
        )
    )
    for stale in report["stale"]:
        output.console.print(f"[red]stale[/red] {stale['table']}: {stale['entry']}")
    output.show(
        output.table(
            "containers",
            ["id", "ip", "interface"],
            [(c["id"], c.get("ip"), c.get("ifname")) for c in report["containers"]],
        )
    )
    if report["drift"]:
        output.console.print("[bold red]drift[/bold red]")
    elif report["compared"]:
        output.console.print("[bold green]no drift[/bold green]")
