"""What `silkctl` mounts: command groups as (typer app, name) pairs in
`SUB_APPS`, single commands as (function, name) pairs in `COMMANDS`."""

from silkctl.commands import (
    certs,
    cni_cmd,
    config_cmd,
    container,
    host,
    lab,
    lease,
    plugins,
    serve,
    teardown,
)

SUB_APPS = [
    (config_cmd.app, "config"),
    (serve.app, "serve"),
    (lab.app, "lab"),
    (host.app, "host"),
    (plugins.app, "plugins"),
    (certs.app, "certs"),
    (lease.app, "lease"),
    (cni_cmd.app, "cni"),
    (container.app, "container"),
]

COMMANDS = [(teardown.teardown, "teardown")]
