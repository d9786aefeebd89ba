"""`silkctl certs init`: make the CA, server and client certificates for mutual TLS."""

import typer

from silkctl import certs

app = typer.Typer(
    help="Make certificates for the controller's mutual TLS.", no_args_is_help=True
)


IP_OPTION = typer.Option(
    None, "--ip", help="Extra IP address for the server certificate; repeatable."
)


@app.command("init")
def certs_init(
    directory: str = typer.Argument(..., help="Directory to write the files into."),
    controller_name: str = typer.Option(
        certs.DEFAULT_CONTROLLER_NAME,
        "--controller-name",
        help="DNS name daemons use for the controller (in the server certificate).",
    ),
    ip: list[str] = IP_OPTION,
    client_name: str = typer.Option(
        "silk-daemon", "--client-name", help="Common name of the client certificate."
    ),
    days: int = typer.Option(
        certs.DEFAULT_DAYS,
        "--days",
        min=1,
        help="Validity of every certificate, in days.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace existing files."),
) -> None:
    """Write ca.crt/.key, server.crt/.key, client.crt/.key (mode 0600) into DIRECTORY.

    The server certificate is valid for the controller name, localhost,
    127.0.0.1 and each --ip.

    Example:

        silkctl certs init /etc/silkctl/certs --controller-name ctl.example \
            --ip 10.0.0.5
    """
    paths = certs.init_certs(
        directory,
        controller_name,
        ip or (),
        client_name=client_name,
        days=days,
        force=force,
    )
    typer.echo(f"wrote {', '.join(certs.FILE_NAMES)} to {paths.directory}")
