"""The sub-apps `silkctl` mounts, as (typer app, command name) pairs."""

from silkctl.commands import config_cmd, lab, plugins, serve

SUB_APPS = [
    (config_cmd.app, "config"),
    (serve.app, "serve"),
    (lab.app, "lab"),
    (plugins.app, "plugins"),
]
