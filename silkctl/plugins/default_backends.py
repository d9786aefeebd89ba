"""Built-in data planes, registered through the same hook third parties use."""

from silkctl.plugins import hookimpl


@hookimpl
def silkctl_register_backends(register):
    from silkctl.backends.host_gw import HostGwBackend
    from silkctl.backends.vxlan import VxlanBackend

    register("vxlan", VxlanBackend)
    register("host-gw", HostGwBackend)
