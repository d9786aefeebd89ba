"""A minimal CNI runtime: runs a conflist's plugins for one container, as libcni does.

The lab connects containers through this, so silk-cni is exercised exactly
as a container runtime would: plugin binaries found by `type` on CNI_PATH,
CNI_* environment variables, the network config on stdin, `prevResult`
passed along the chain on ADD, plugins run in reverse order on DEL.
"""

import json
import os
import subprocess
from dataclasses import dataclass

from silkctl.backends import netns
from silkctl.errors import SilkError


class CniError(SilkError):
    """A CNI plugin answered with an error (its code, msg and details)."""

    def __init__(self, plugin: str, verb: str, answer: dict):
        self.code = answer.get("code")
        self.answer = answer
        details = f": {answer['details']}" if answer.get("details") else ""
        super().__init__(
            f"cni {verb} {plugin}: code {self.code}: "
            f"{answer.get('msg', 'no message')}{details}"
        )


@dataclass(frozen=True)
class Attachment:
    """One container interface the runtime asks the network to set up."""

    container_id: str
    netns_path: str
    ifname: str = "eth0"
    args: str = ""


def find_plugin(plugin_type: str, cni_path: str) -> str:
    """The executable named `plugin_type` in the first CNI_PATH dir that has it."""
    for directory in cni_path.split(os.pathsep):
        candidate = os.path.join(directory, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise SilkError(f"find cni plugin {plugin_type!r}: not in CNI_PATH {cni_path}")


def run_plugin(
    verb: str,
    config: dict,
    attachment: Attachment,
    cni_path: str,
    host_netns: str | None,
    timeout: float = 60,
) -> dict | None:
    """Run one plugin once; returns its parsed stdout (None when empty)."""
    plugin = find_plugin(config["type"], cni_path)
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CNI_COMMAND": verb,
        "CNI_CONTAINERID": attachment.container_id,
        "CNI_NETNS": attachment.netns_path,
        "CNI_IFNAME": attachment.ifname,
        "CNI_PATH": cni_path,
    }
    if attachment.args:
        env["CNI_ARGS"] = attachment.args
    result = subprocess.run(
        netns.command(host_netns, [plugin]),
        input=json.dumps(config),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    answer = _parse(result.stdout)
    if result.returncode != 0:
        if not isinstance(answer, dict) or "code" not in answer:
            answer = {
                "code": 999,
                "msg": "plugin failed without error JSON",
                "details": (result.stderr or result.stdout).strip()[-300:],
            }
        raise CniError(config["type"], verb, answer)
    return answer


def _parse(stdout: str):
    if not stdout.strip():
        return None
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return {
            "code": 999,
            "msg": "plugin printed invalid JSON",
            "details": stdout[:300],
        }


def _plugin_configs(conflist: dict):
    for plugin in conflist["plugins"]:
        yield {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **plugin}


def add(
    conflist: dict, attachment: Attachment, cni_path: str, host_netns: str | None = None
) -> dict:
    """ADD through the whole chain; on failure, DEL what was added and re-raise."""
    result = None
    try:
        for config in _plugin_configs(conflist):
            if result is not None:
                config["prevResult"] = result
            result = run_plugin("ADD", config, attachment, cni_path, host_netns)
    except SilkError:
        delete(conflist, attachment, cni_path, host_netns, result)
        raise
    return result


def delete(
    conflist: dict,
    attachment: Attachment,
    cni_path: str,
    host_netns: str | None = None,
    prev_result: dict | None = None,
) -> None:
    """DEL through the chain in reverse; every plugin runs even if one fails."""
    errors = []
    for config in reversed(list(_plugin_configs(conflist))):
        if prev_result is not None:
            config["prevResult"] = prev_result
        try:
            run_plugin("DEL", config, attachment, cni_path, host_netns)
        except SilkError as err:
            errors.append(str(err))
    if errors:
        raise SilkError("; ".join(errors))
