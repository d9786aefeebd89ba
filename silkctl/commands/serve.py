"""`silkctl serve controller|daemon`: run the long-lived services."""

import typer

app = typer.Typer(help="Run the lease controller or a host daemon.", no_args_is_help=True)

# ---- serve controller --------------------------------------------------------
# (owned by the controller work; see silkctl/server/)

# ---- serve daemon ------------------------------------------------------------
# (owned by the daemon work; see silkctl/daemon.py)
