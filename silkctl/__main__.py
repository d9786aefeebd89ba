"""Lets `python -m silkctl` run the CLI."""

from silkctl.cli import main

main()
