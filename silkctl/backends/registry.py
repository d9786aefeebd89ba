"""Looks up the data-plane backend named in config through the plugin hook.

A backend is built by `factory(config, netlink, netns)` and offers:

    discover() -> (subnet, mac) | None   the lease the kernel records, if any
    setup(lease)                          make the host's device(s) for the lease
    preflight(leases)                     optional: refuse to start (raise) early
    converge(leases | None)               match the kernel to the lease list
                                          (None: unchanged); ApplyResult | None
    mtu() -> int                          MTU containers get
    peer_count() -> int                   optional: remote leases programmed
    teardown()                            remove what setup made
    close()                               release handles; the data plane stays
"""

from collections.abc import Callable

from silkctl.errors import ConfigError


def available(manager) -> dict[str, Callable]:
    """Every backend the loaded plugins register, by name."""
    factories: dict[str, Callable] = {}

    def register(name: str, factory: Callable) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"register backend: bad name {name!r}")
        if name in factories:
            raise ConfigError(f"register backend {name}: the name is taken")
        if not callable(factory):
            raise ConfigError(f"register backend {name}: factory is not callable")
        factories[name] = factory

    manager.hook.silkctl_register_backends(register=register)
    return factories


def create(manager, name: str, config, netlink, netns: str | None = None):
    """Build backend `name`; ConfigError listing the known ones when it is unknown."""
    factories = available(manager)
    if name not in factories:
        raise ConfigError(
            f"encapsulation {name!r}: no such backend "
            f"(known: {', '.join(sorted(factories))})"
        )
    return factories[name](config, netlink, netns)
