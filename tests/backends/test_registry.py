"""Backends come from the plugin hook: built-ins, third parties, clear errors."""

import pytest

from silkctl.backends import registry
from silkctl.errors import ConfigError
from silkctl.plugins import hookimpl
from silkctl.plugins.manager import build_manager


class Loopback:
    """A third-party backend, as a plugin would ship it."""

    def __init__(self, config, netlink, netns=None):
        self.config, self.netlink, self.netns = config, netlink, netns


class LoopbackPlugin:
    @hookimpl
    def silkctl_register_backends(self, register):
        register("loopback", Loopback)


class ClashingPlugin:
    @hookimpl
    def silkctl_register_backends(self, register):
        register("vxlan", Loopback)


def test_hook_silkctl_register_backends_adds_third_party_backend():
    manager = build_manager(entry_points=False)
    manager.register(LoopbackPlugin())
    backend = registry.create(manager, "loopback", "config", "netlink", "ns1")
    assert isinstance(backend, Loopback)
    assert (backend.config, backend.netlink, backend.netns) == (
        "config",
        "netlink",
        "ns1",
    )
    assert {"vxlan", "host-gw", "loopback"} <= set(registry.available(manager))


def test_hook_silkctl_register_backends_refuses_a_taken_name():
    manager = build_manager(entry_points=False)
    manager.register(ClashingPlugin())
    with pytest.raises(ConfigError, match="register backend vxlan: the name is taken"):
        registry.available(manager)


def test_registry_create_names_known_backends_when_name_is_unknown():
    with pytest.raises(
        ConfigError,
        match=r"encapsulation 'gre': no such backend "
        r"\(known: host-gw, vxlan\)",
    ):
        registry.create(build_manager(entry_points=False), "gre", None, None)
