"""`silkctl teardown`: release this host's lease and delete its VTEP."""

import typer

from silkctl import output


def teardown(
    config_file: str = typer.Option(
        ..., "--config", "-c", help="Daemon config file (JSON)."
    ),
    drain: bool = typer.Option(
        False, "--drain", help="First wait until the host has no containers."
    ),
    timeout: float = typer.Option(
        600.0, "--timeout", min=0, help="Seconds --drain waits before giving up."
    ),
) -> None:
    """Release the lease at the controller and delete the VTEP; stop the daemon first.

    Both steps are tried; if either fails the command says which and exits 1.
    With --drain it first waits until the container datastore is empty; when
    containers remain after --timeout it changes nothing and exits 1.

    Example:

        silkctl teardown --config /etc/silkctl/daemon.json --drain --timeout 600
    """
    from silkctl.config import DaemonConfig
    from silkctl.daemon import teardown_host

    config = DaemonConfig.load(config_file)
    done = teardown_host(config, timeout if drain else None)
    output.console.print("teardown complete: " + ", ".join(done), highlight=False)
