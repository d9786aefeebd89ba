"""The sub-apps `silkctl` mounts, as (typer app, command name) pairs."""

from silkctl.commands import config_cmd

SUB_APPS = [
    (config_cmd.app, "config"),
]
