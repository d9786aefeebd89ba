"""Root of the `silkctl` CLI: global options, sub-apps, errors to one line."""

import sys

import typer

from silkctl import __version__, logsetup, output
from silkctl.commands import COMMANDS, SUB_APPS
from silkctl.errors import SilkError

app = typer.Typer(
    name="silkctl",
    help="Operate a silk container network: controller, host daemons, CNI plugin, lab.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for sub_app, name in SUB_APPS:
    app.add_typer(sub_app, name=name)
for function, name in COMMANDS:
    app.command(name)(function)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"silkctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="More log output (-vv includes libraries).",
    ),
    quiet: int = typer.Option(0, "--quiet", "-q", count=True, help="Less log output."),
    log_format: str = typer.Option(
        "text", "--log-format", help="Log line format: text or json."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """Operate a silk container network: controller, host daemons, CNI plugin, lab."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    logsetup.configure(verbose - quiet, log_format)


def main() -> None:
    """Console-script entry: run the app, turning SilkError into one line."""
    try:
        code = app(standalone_mode=False)
    except SilkError as err:
        output.error(str(err))
        sys.exit(err.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        output.error("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:
        # Usage errors from typer's bundled click: show them as click would.
        if hasattr(err, "show") and hasattr(err, "exit_code"):
            err.show()
            sys.exit(err.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
