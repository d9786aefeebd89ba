"""The public plugin API: import `hookimpl` and the types hooks pass from here.

A plugin is a module with functions named after the hooks in
`silkctl.plugins.hookspecs`, decorated with `@hookimpl`. Ship it as a
distribution with an entry point in the `silkctl` group:

    [project.entry-points.silkctl]
    my_policy = "my_silk_policy"

or list the module in a daemon config's `plugins` key. `silkctl plugins
list` shows what is loaded and which hooks each plugin implements.
"""

from dataclasses import dataclass, field

import pluggy

PROJECT = "silkctl"

hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)

MAX_TAG = 0xFFFF


@dataclass(frozen=True)
class ContainerInfo:
    """A container attached to this host, as hooks see it."""

    container_id: str
    ip: str
    ifname: str
    netns: str
    host_ifname: str
    metadata: dict = field(default_factory=dict)


__all__ = ["ContainerInfo", "MAX_TAG", "PROJECT", "hookimpl", "hookspec"]
