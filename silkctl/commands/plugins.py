"""`silkctl plugins list`: installed plugins, versions, hooks implemented."""

import typer

from silkctl import output
from silkctl.errors import ConfigError

app = typer.Typer(help="Show the plugins silkctl loads.", no_args_is_help=True)


@app.command("list")
def list_plugins(
    config_file: str = typer.Option(
        None,
        "--config",
        "-c",
        help="Daemon config: also load the plugins its `plugins` list names.",
    ),
    output_format: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    """List loaded plugins: name, source, version and the hooks each implements.

    Example:

        silkctl plugins list --config /etc/silkctl/daemon.json
    """
    from silkctl.config import DaemonConfig
    from silkctl.plugins.manager import describe, get_manager

    if output_format not in ("table", "json"):
        raise ConfigError(f"--output: {output_format!r} is not table or json")
    modules = DaemonConfig.load(config_file).plugins if config_file else []
    rows = describe(get_manager(modules))
    if output_format == "json":
        output.emit_json(rows)
        return
    output.show(
        output.table(
            "plugins",
            ["name", "source", "version", "hooks"],
            [
                (r["name"], r["source"], r["version"], ", ".join(r["hooks"]))
                for r in rows
            ],
        )
    )
