"""`silkctl plugins list`: installed plugins, versions, hooks implemented."""

import typer

from silkctl import output

app = typer.Typer(help="Show the plugins silkctl loads.", no_args_is_help=True)


@app.command("list")
def list_plugins(
    output_format: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    """List loaded plugins: name, source, version and the hooks each implements."""
    from silkctl.plugins.manager import describe, get_manager

    rows = describe(get_manager())
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
