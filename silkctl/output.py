"""Renders command results as rich tables or JSON; the only owner of the console."""

import json
import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def emit_json(data) -> None:
    """Write `data` as indented JSON to stdout (plain text, no markup)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence]) -> Table:
    """Build a rich table; cells are turned into text, None shows as '-'."""
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column)
    for row in rows:
        result.add_row(*("-" if cell is None else str(cell) for cell in row))
    return result


def show(renderable) -> None:
    console.print(renderable)


def error(message: str) -> None:
    """One red line on stderr, as the CLI reports a failure."""
    err_console.print(f"[red]error:[/red] {message}", markup=True, highlight=False)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)
