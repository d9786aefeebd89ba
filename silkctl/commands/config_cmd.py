"""`silkctl config validate|show`: check a controller or daemon config file."""

import typer

from silkctl import output
from silkctl.config import CONFIG_KINDS, guess_kind, read_json_file
from silkctl.errors import ConfigError

app = typer.Typer(
    help="Check controller and daemon config files.", no_args_is_help=True
)

KIND_HELP = "controller or daemon; guessed from the keys when left out."


def _read(path: str, kind: str | None):
    values = read_json_file(path)
    kind = kind or guess_kind(values)
    if kind not in CONFIG_KINDS:
        raise ConfigError(f"--kind: {kind!r} is not one of controller, daemon")
    return kind, values


@app.command("validate")
def validate(
    path: str = typer.Argument(..., help="Config file (JSON)."),
    kind: str = typer.Option(None, "--kind", help=KIND_HELP),
) -> None:
    """Report every problem in a config file in one run.

    Example:

        silkctl config validate /etc/silkctl/controller.json
    """
    kind, values = _read(path, kind)
    problems = CONFIG_KINDS[kind].check(values)
    if problems:
        for problem in problems:
            output.error(f"{path}: {problem}")
        raise typer.Exit(2)
    output.console.print(f"{path}: valid {kind} config")


@app.command("show")
def show(
    path: str = typer.Argument(..., help="Config file (JSON)."),
    kind: str = typer.Option(None, "--kind", help=KIND_HELP),
) -> None:
    """Print the config with every default filled in, as JSON."""
    kind, values = _read(path, kind)
    output.emit_json(CONFIG_KINDS[kind].from_dict(values).to_dict())
