"""The fabric's side of policy tagging: ask plugins for each container's tag,
check it, and keep the egress marks (backends/marks.py) in step.

Runs in the daemon, which owns the host's containers: on CNI ADD and DEL
(through the CNI service) and once at start-up for every container already
in the datastore, so a restarted daemon re-applies marks and tells plugins.
"""

import logging
import threading

from silkctl.backends import marks
from silkctl.errors import SilkError
from silkctl.hwaddr import veth_names
from silkctl.plugins import MAX_TAG, ContainerInfo

log = logging.getLogger(__name__)


class TagError(SilkError):
    """A plugin failed or answered a tag outside 1..0xFFFF."""


def container_info(container_id: str, record: dict) -> ContainerInfo:
    """The hook view of a datastore record; `policy_group` lifted from CNI args
    (`POLICY_GROUP=web`), the runtime config or the netconf `args`."""
    stored = record.get("metadata") or {}
    metadata = dict(stored)
    group = (
        (stored.get("cni_args") or {}).get("POLICY_GROUP")
        or (stored.get("runtime_config") or {}).get("policy_group")
        or (stored.get("args") or {}).get("policy_group")
    )
    if group:
        metadata["policy_group"] = group
    return ContainerInfo(
        container_id,
        record["ip"],
        record.get("ifname", "eth0"),
        record.get("netns", ""),
        veth_names(record["ip"])[0],
        metadata,
    )


class Tagger:
    """Tags of this host's containers, and the marks that carry them."""

    def __init__(self, manager, apply_marks=marks.apply):
        self.manager = manager
        self.apply_marks = apply_marks
        self.tags: dict[str, tuple[ContainerInfo, int]] = {}
        self._applied: dict[str, int] | None = None
        self._lock = threading.Lock()

    def _tag(self, info: ContainerInfo) -> int:
        try:
            tag = self.manager.hook.silkctl_container_tag(container=info)
        except Exception as err:
            raise TagError(f"policy tag for {info.container_id}: {err}") from err
        if tag is None:
            return 0
        if isinstance(tag, bool) or not isinstance(tag, int) or not 1 <= tag <= MAX_TAG:
            raise TagError(
                f"policy tag for {info.container_id}: a plugin answered "
                f"{tag!r}; tags must be integers in 1..{MAX_TAG}"
            )
        return tag

    def _marks(self) -> dict[str, int]:
        return {info.host_ifname: tag for info, tag in self.tags.values() if tag}

    def _apply(self) -> None:
        """Rewrite the marks table only when the tagged set changed (nft is slow)."""
        wanted = self._marks()
        if wanted != self._applied:
            self.apply_marks(wanted)
            self._applied = wanted

    def added(self, info: ContainerInfo) -> int:
        """Tag a new container, mark its egress, tell plugins; raises TagError."""
        with self._lock:
            tag = self._tag(info)
            self.tags[info.container_id] = (info, tag)
            try:
                self._apply()
                self.manager.hook.silkctl_container_added(container=info, tag=tag)
            except Exception as err:
                self.tags.pop(info.container_id, None)
                self._reapply()
                raise TagError(f"tag container {info.container_id}: {err}") from err
        log.info(
            "container-tagged",
            extra={"container": info.container_id, "ip": info.ip, "tag": tag},
        )
        return tag

    def removed(self, info: ContainerInfo) -> None:
        """Forget a container's tag and tell plugins; failures are only logged."""
        with self._lock:
            self.tags.pop(info.container_id, None)
            self._reapply()
            try:
                self.manager.hook.silkctl_container_removed(container=info)
            except Exception as err:  # noqa: BLE001 - DEL must not fail on a plugin
                log.error(
                    "plugin-container-removed-failed",
                    extra={"container": info.container_id, "error": str(err)},
                )

    def _reapply(self) -> None:
        try:
            self._apply()
        except SilkError as err:
            log.error("marks-apply-failed", extra={"error": str(err)})

    def refresh(self) -> int:
        """Ask the plugins again for every container's tag (their policy may have
        changed) and re-mark what changed; a failing plugin keeps the old tag.
        Returns how many tags changed."""
        changed = 0
        with self._lock:
            for container_id, (info, old) in list(self.tags.items()):
                try:
                    tag = self._tag(info)
                except TagError as err:
                    log.error(
                        "container-retag-failed",
                        extra={"container": container_id, "error": str(err)},
                    )
                    continue
                if tag != old:
                    self.tags[container_id] = (info, tag)
                    changed += 1
                    log.info(
                        "container-retagged",
                        extra={"container": container_id, "old_tag": old, "tag": tag},
                    )
            if changed:
                self._reapply()
        return changed

    def resync(self, records: dict[str, dict]) -> None:
        """Re-tag every container in the datastore (daemon start); logs failures."""
        with self._lock:
            self._reapply()  # also clears marks a previous run left behind
        for container_id, record in sorted(records.items()):
            try:
                self.added(container_info(container_id, record))
            except (TagError, KeyError) as err:
                log.error(
                    "container-resync-failed",
                    extra={"container": container_id, "error": str(err)},
                )
