"""`silkctl container list`: the containers the CNI plugin attached on this host."""

import json
import os

import typer

from silkctl import datastore, output
from silkctl.config import DaemonConfig
from silkctl.errors import ConfigError

app = typer.Typer(
    help="Show the containers attached on this host.", no_args_is_help=True
)


@app.command("list")
def list_containers(
    store: str = typer.Option(
        None, "--datastore", help="Container datastore; default: the daemon config's."
    ),
    daemon_config: str = typer.Option(
        None, "--daemon-config", help="Daemon config naming the datastore."
    ),
    output_format: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    """List the host's containers: address, interface, namespace, metadata.

    A lab host's datastore is /var/lib/silkctl/lab/NAME/hN/containers.json.

    Example:

        silkctl container list --datastore /var/lib/silkctl/containers.json -o json
    """
    if output_format not in ("table", "text", "json"):
        raise ConfigError(f"--output: {output_format!r} is not one of table, json")
    if store is None:
        config = DaemonConfig.load(daemon_config) if daemon_config else DaemonConfig()
        store = config.datastore
    if not os.path.exists(store):
        output.warn(f"no datastore at {store}: no container was attached here yet")
    records = [record for _, record in sorted(datastore.read_all(store).items())]
    if output_format == "json":
        output.emit_json(records)
        return
    rows = [
        (
            r.get("handle"),
            r.get("ip"),
            r.get("ifname"),
            r.get("netns"),
            r.get("network"),
            json.dumps(r["metadata"], sort_keys=True) if r.get("metadata") else None,
        )
        for r in records
    ]
    output.show(
        output.table(
            f"containers in {store}",
            ("container", "ip", "interface", "netns", "network", "metadata"),
            rows,
        )
    )
