"""`silkctl lab up|status|exec|bench|down`: a whole fabric on one machine."""

import os
import signal
import time
from contextlib import contextmanager

import typer

from silkctl import output
from silkctl.errors import SilkError

app = typer.Typer(
    help="Run a whole silk fabric in network namespaces on this machine.",
    no_args_is_help=True,
)

NAME_HELP = (
    "Lab name, the prefix of every namespace it makes: a lowercase letter, "
    "then up to 7 lowercase letters or digits."
)
OUTPUT_HELP = "table or json."


def _check_output(value: str) -> str:
    if value not in ("table", "json"):
        raise typer.BadParameter("must be table or json")
    return value


def _require_root() -> None:
    if os.geteuid() != 0:
        raise SilkError("the lab builds network namespaces: run it as root")


@contextmanager
def _step(message: str):
    started = time.monotonic()
    with output.console.status(f"{message} ..."):
        yield
    output.console.print(
        f"[green]✓[/green] {message} [dim]({time.monotonic() - started:.1f}s)[/dim]"
    )


@app.command("up")
def up(
    hosts: int = typer.Option(
        3, "--hosts", help="Number of hosts (network namespaces)."
    ),
    containers: int = typer.Option(2, "--containers", help="Containers per host."),
    db: str = typer.Option("sqlite", "--db", help="sqlite, postgres or mysql."),
    encapsulation: str = typer.Option(
        "vxlan", "--encapsulation", help="Data-plane backend: vxlan or host-gw."
    ),
    name: str = typer.Option("silk", "--name", help=NAME_HELP),
    underlay_mtu: int = typer.Option(
        1500, "--underlay-mtu", help="MTU of the underlay links (9000 for jumbo)."
    ),
    policy: str = typer.Option(
        "", "--policy", help="Policy file: turns on the nft_policy plugin."
    ),
    group: list[str] = typer.Option(
        [],
        "--group",
        help="CONTAINER=GROUP: a container's policy group (repeat for several).",
    ),
    keep_on_failure: bool = typer.Option(
        False,
        "--keep-on-failure",
        help="Leave a lab that failed half-way in place to look at "
        "(default: remove what was made).",
    ),
    output_format: str = typer.Option(
        "table", "--output", "-o", callback=_check_output, help=OUTPUT_HELP
    ),
) -> None:
    """Build a fabric in namespaces, connect containers through silk-cni, prove it.

    Hosts 1-200, containers 0-50 per host, underlay MTU 1280-9000. A failure
    or Ctrl-C half-way removes what was made (unless --keep-on-failure).

    Example:

        silkctl lab up --hosts 3 --containers 2
        silkctl lab exec h1c1 -- ip route
        silkctl lab down
    """
    from silkctl.lab import fabric
    from silkctl.lab.probe import probe_all

    _require_root()
    signal.signal(signal.SIGTERM, _interrupt)
    groups = {}
    for item in group:
        container, sep, group_name = item.partition("=")
        if not sep or not container or not group_name:
            raise typer.BadParameter(
                f"{item!r} is not CONTAINER=GROUP", param_hint="--group"
            )
        groups[container] = group_name
    options = fabric.LabOptions(
        name=name,
        hosts=hosts,
        containers=containers,
        db=db,
        encapsulation=encapsulation,
        underlay_mtu=underlay_mtu,
        policy_file=policy,
        groups=groups,
        keep_on_failure=keep_on_failure,
    )
    quiet = output_format == "json"
    state = fabric.up(options, step=(lambda _: _quiet()) if quiet else _step)
    deadline = 5.0 if policy else 15.0  # refused pairs would wait it out in full
    if quiet:
        results = probe_all(state.containers, deadline=deadline)
    else:
        with _step(
            f"probe {len(state.containers) * (len(state.containers) - 1)} "
            "container pairs (ICMP and TCP)"
        ):
            results = probe_all(state.containers, deadline=deadline)
    failed = [r for r in results if not r.ok]
    if quiet:
        output.emit_json(
            {
                "lab": fabric.status(state),
                "pairs": [r.__dict__ for r in results],
                "policy": bool(policy),
                "ok": not failed,
            }
        )
    else:
        _show_matrix(state, results)
        _verdict(results, failed, policy=bool(policy))
        output.console.print(
            f"next: [bold]silkctl lab status --name {name}[/bold], "
            f"[bold]silkctl lab exec --name {name} h1c1 -- ip addr"
            f"[/bold], [bold]silkctl lab down --name {name}[/bold]"
        )
    if failed and not policy:
        raise typer.Exit(1)


@contextmanager
def _quiet():
    yield


_MAIN_PID = os.getpid()


def _interrupt(signum, frame) -> None:
    """SIGTERM during `lab up` rolls back like Ctrl-C does.

    Processes forked on the way (pyroute2 forks into namespaces) inherit this
    handler; they die of the signal as usual.
    """
    if os.getpid() != _MAIN_PID:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt


def _show_matrix(state, results) -> None:
    names = [c.name for c in state.containers]
    cell = {(r.source, r.target): r for r in results}
    ips = {c.name: c.ip for c in state.containers}
    rows = []
    for source in names:
        row = [f"{source} {ips[source]}"]
        for target in names:
            result = cell.get((source, target))
            if result is None:
                row.append("·")
            elif result.ok:
                row.append("[green]✓[/green]")
            else:
                row.append(
                    f"[red]✗ {'icmp' if not result.icmp else ''}"
                    f"{' tcp' if not result.tcp else ''}[/red]"
                )
        rows.append(row)
    output.show(
        output.table(
            "reachability (row → column, ICMP and TCP)", ["from \\ to", *names], rows
        )
    )


def _verdict(results, failed, policy: bool = False) -> None:
    total = len(results)
    if policy:
        output.console.print(
            f"[bold]policy in force[/bold]: {total - len(failed)} of "
            f"{total} container pairs reach each other; the rest are "
            "refused by the policy"
        )
    elif not failed:
        output.console.print(
            f"[bold green]fabric OK[/bold green]: all {total} container "
            "pairs reach each other (ICMP and TCP)"
        )
    else:
        output.console.print(
            f"[bold red]fabric BROKEN[/bold red]: {len(failed)} of "
            f"{total} container pairs cannot reach each other"
        )


@app.command("status")
def status(
    name: str = typer.Option("silk", "--name", help=NAME_HELP),
    output_format: str = typer.Option(
        "table", "--output", "-o", callback=_check_output, help=OUTPUT_HELP
    ),
) -> None:
    """Show the lab's hosts, leases, containers and their health."""
    from silkctl.lab import fabric

    _require_root()
    info = fabric.status(fabric.load(name))
    if output_format == "json":
        output.emit_json(info)
        return
    controller = info["controller"]
    output.console.print(
        f"lab [bold]{info['name']}[/bold] ({info['db']}, {info['encapsulation']}); "
        f"controller {controller['url']} "
        + ("[green]running[/green]" if controller["running"] else "[red]stopped[/red]")
    )
    if not info["complete"]:
        output.warn(
            f"lab {name} was left half-built (--keep-on-failure or a killed `up`): "
            f"`silkctl lab down --name {name}` removes it"
        )
    output.show(
        output.table(
            "hosts",
            ["host", "underlay", "subnet", "mtu", "daemon"],
            [
                (
                    h["name"],
                    h["underlay_ip"],
                    h["overlay_subnet"],
                    h["mtu"],
                    "healthy"
                    if h["healthy"]
                    else ("running" if h["daemon_running"] else "down"),
                )
                for h in info["hosts"]
            ],
        )
    )
    leases = info["leases"]
    output.show(
        output.table(
            "leases (controller)",
            ["underlay", "subnet", "mac"],
            [
                (
                    lease["underlay_ip"],
                    lease["overlay_subnet"],
                    lease["overlay_hardware_addr"],
                )
                for lease in leases or []
            ],
        )
    )
    if leases is None:
        output.warn("controller did not answer")
    output.show(
        output.table(
            "containers",
            ["container", "host", "ip", "netns"],
            [
                (
                    c["name"],
                    c["host"],
                    c["ip"],
                    c["netns"] if c["present"] else "missing",
                )
                for c in info["containers"]
            ],
        )
    )


@app.command(
    "exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def exec_(
    ctx: typer.Context,
    container: str = typer.Argument(
        ..., help="Container name, e.g. h1c1 (or a host: h1)."
    ),
    name: str = typer.Option("silk", "--name", help=NAME_HELP),
) -> None:
    """Run a command in a container's (or host's) network namespace.

    Example (container addresses are in `silkctl lab status`):

        silkctl lab exec h1c1 -- ip route
        silkctl lab exec h1 -- ip neigh show dev silk-vtep
    """
    from silkctl.backends import netns
    from silkctl.lab import fabric

    _require_root()
    state = fabric.load(name)
    argv = list(ctx.args)
    if not argv:
        raise SilkError(
            "give the command after --, e.g. `silkctl lab exec h1c1 -- ip addr`"
        )
    if container in {h.name for h in state.hosts}:
        namespace = state.host(container).netns
    else:
        namespace = state.container(container).netns
    os.execvp("ip", netns.command(namespace, argv))


@app.command("down")
def down(name: str = typer.Option("silk", "--name", help=NAME_HELP)) -> None:
    """Remove every namespace, process, database and file the lab made.

    Safe to run twice, or after an `up` that failed half-way.
    """
    from silkctl.lab import fabric

    _require_root()
    removed = fabric.down(name)
    if removed:
        output.console.print(f"lab {name} removed: " + ", ".join(removed))
    else:
        output.console.print(f"lab {name}: nothing to remove")


@app.command("bench")
def bench(
    name: str = typer.Option("silk", "--name", help=NAME_HELP),
    runs: int = typer.Option(
        3, "--runs", min=1, max=20, help="Measurements per path (medians shown)."
    ),
    seconds: int = typer.Option(
        3, "--seconds", min=1, max=60, help="Seconds per iperf3 run."
    ),
    output_format: str = typer.Option(
        "table", "--output", "-o", callback=_check_output, help=OUTPUT_HELP
    ),
) -> None:
    """Compare overlay and underlay throughput (iperf3) and round-trip time.

    Start the lab with `--underlay-mtu 9000` to see what jumbo frames buy.
    """
    from silkctl.lab import bench as lab_bench
    from silkctl.lab import fabric

    _require_root()
    state = fabric.load(name)
    with (
        _step(f"iperf3 and ping, {runs} runs per path")
        if output_format == "table"
        else _quiet()
    ):
        overlay, underlay = lab_bench.run(state, runs=runs, seconds=seconds)
    ratio = overlay.gbits_median / underlay.gbits_median if underlay.gbits_median else 0
    if output_format == "json":
        output.emit_json(
            {
                "underlay_mtu": state.underlay_mtu,
                "ratio": ratio,
                "paths": [
                    {
                        "path": p.label,
                        "gbits": p.gbits,
                        "gbits_median": p.gbits_median,
                        "rtt_ms": p.rtt_ms,
                        "rtt_ms_median": p.rtt_median,
                    }
                    for p in (overlay, underlay)
                ],
            }
        )
        return
    output.show(
        output.table(
            f"lab bench (underlay MTU {state.underlay_mtu}, medians of {runs})",
            ["path", "throughput Gbit/s", "rtt ms"],
            [
                (p.label, f"{p.gbits_median:.2f}", f"{p.rtt_median:.3f}")
                for p in (overlay, underlay)
            ],
        )
    )
    output.console.print(f"overlay / underlay throughput: [bold]{ratio:.2f}[/bold]")
