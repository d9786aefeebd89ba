"""Builds the plugin manager: built-ins, entry points, config modules, env filters.

`SILKCTL_LOAD_PLUGINS=a,b` loads only the named plugins (built-ins always
load); `SILKCTL_DISABLE_PLUGINS=a,b` blocks named ones. A plugin with a
hook name that is not in the specs stops start-up with its name.
"""

import importlib
import logging
import os

import pluggy

from silkctl.errors import ConfigError
from silkctl.plugins import PROJECT, hookspecs

log = logging.getLogger(__name__)

BUILTIN_PLUGINS = (
    "silkctl.plugins.default_backends",
    "silkctl.plugins.default_policy",
)

_manager: pluggy.PluginManager | None = None
_origins: dict[str, tuple[str, str | None]] = {}


def _names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    return None if value is None else {n.strip() for n in value.split(",") if n.strip()}


def get_manager(extra_modules: list[str] | tuple = ()) -> pluggy.PluginManager:
    """The process-wide plugin manager; loads plugins on first use (idempotent)."""
    global _manager
    if _manager is None:
        _manager = build_manager()
    for module in extra_modules:
        load_module(_manager, module)
    return _manager


def build_manager(entry_points: bool = True) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    for module in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(module), name=module.rsplit(".", 1)[1])
    allow = _names("SILKCTL_LOAD_PLUGINS")
    block = _names("SILKCTL_DISABLE_PLUGINS") or set()
    for name in block:
        manager.set_blocked(name)
    if entry_points and os.environ.get("SILKCTL_NO_ENTRY_POINTS") != "1":
        _load_entry_points(manager, allow)
    _check(manager)
    return manager


def _load_entry_points(manager, allow) -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group=PROJECT):
        if (allow is not None and entry.name not in allow) or manager.is_blocked(
            entry.name
        ):
            continue
        if manager.get_plugin(entry.name) is not None:
            continue
        try:
            plugin = entry.load()
        except Exception as err:
            raise ConfigError(
                f"load plugin {entry.name} ({entry.value}): {err}"
            ) from err
        manager.register(plugin, name=entry.name)
        _origins[entry.name] = (
            "entry point",
            entry.dist.version if entry.dist else None,
        )
        log.debug("plugin-loaded", extra={"plugin": entry.name, "source": entry.value})


def load_module(manager, module_name: str) -> None:
    """Register a plugin module named in config (`plugins` key)."""
    if manager.get_plugin(module_name) is not None or manager.is_blocked(module_name):
        return
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"plugins: import {module_name}: {err}") from err
    manager.register(module, name=module_name)
    _origins[module_name] = ("config", None)
    _check(manager)


def _check(manager) -> None:
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as err:
        name = manager.get_name(err.plugin) or repr(err.plugin)
        raise ConfigError(f"plugin {name}: {err}") from err


def describe(manager) -> list[dict]:
    """One entry per plugin: name, where it came from, version, hooks implemented."""
    rows = []
    for name, plugin in sorted(manager.list_name_plugin()):
        if plugin is None:
            continue
        source, version = _origins.get(name, ("builtin", None))
        hooks = sorted(caller.name for caller in manager.get_hookcallers(plugin) or [])
        rows.append(
            {
                "name": name,
                "module": getattr(plugin, "__name__", repr(plugin)),
                "source": source,
                "version": version,
                "hooks": hooks,
            }
        )
    return rows
