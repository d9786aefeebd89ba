"""Every extension point of silkctl, as pluggy hook specifications."""

from silkctl.plugins import hookspec


@hookspec
def silkctl_register_backends(register):
    """Called once when plugins load, to add data-plane (encapsulation) backends.

    :param register: call ``register(name, factory)`` for each backend;
        ``factory(config, netlink, netns)`` returns an object with
        ``discover()``, ``setup(lease)``, ``converge(leases)``, ``mtu()``,
        ``teardown()`` and ``close()`` (the contract is written out in
        ``silkctl.backends.registry``). A name already taken raises.
    :returns: nothing; all plugins are called.
    """


@hookspec(firstresult=True)
def silkctl_container_tag(container):
    """Called on CNI ADD, on daemon start (re-sync) for each container, and
    again for each container every renew interval, so a changed policy re-marks
    egress without a restart.

    :param container: a ``silkctl.plugins.ContainerInfo``.
    :returns: the container's 16-bit policy tag (1..0xFFFF) that marks its
        egress so VXLAN-GBP carries it to the destination host, or None to
        leave the decision to the next plugin. The first non-None answer wins;
        a value outside 1..0xFFFF fails the ADD with a clear error (on a later
        call it is logged and the container keeps its tag).
    """


@hookspec
def silkctl_container_added(container, tag):
    """Called after a container is wired and tagged (CNI ADD or daemon re-sync).

    :param container: a ``silkctl.plugins.ContainerInfo``.
    :param tag: the tag chosen by ``silkctl_container_tag`` (0 when none).
    :returns: nothing; all plugins are called. An exception fails the ADD,
        which is then rolled back.
    """


@hookspec
def silkctl_container_removed(container):
    """Called when a container is torn down (CNI DEL or GC).

    :param container: a ``silkctl.plugins.ContainerInfo``.
    :returns: nothing; all plugins are called; exceptions are logged only.
    """


@hookspec
def silkctl_daemon_started(config):
    """Called once when the daemon holds its lease and its data plane is up.

    :param config: the daemon's ``silkctl.config.DaemonConfig``.
    :returns: nothing; all plugins are called. An exception stops the daemon
        with the plugin's message (a plugin that cannot work says so early).
    """


@hookspec
def silkctl_daemon_stopping():
    """Called when the daemon stops (SIGTERM); plugins stop their threads.

    :returns: nothing; all plugins are called.
    """
