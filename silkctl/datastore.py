"""The container datastore: a flock-protected JSON map shared by CNI and daemon.

File layout (compatible with the reference's silk-cni store):

    {"<handle>": {"handle": "<handle>", "ip": "<ip>", "metadata": {...} | null, ...}}

Every operation takes an exclusive `flock` on the data file itself, reads
the whole map, changes it and rewrites it in place, so concurrent CNI calls
and the daemon never see half a file.
"""

import fcntl
import ipaddress
import json
import os
from contextlib import contextmanager

from silkctl.errors import SilkError


class DatastoreError(SilkError):
    """The container datastore could not be read or written."""


class DatastoreConflict(DatastoreError):
    """A record for the handle exists and was not to be replaced."""


@contextmanager
def _locked(path: str):
    directory = os.path.dirname(path)
    try:
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise DatastoreError(f"open datastore {path}: {err.strerror}") from err
    handle = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle
    finally:
        handle.close()


def _read(handle, path: str) -> dict:
    handle.seek(0)
    text = handle.read()
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatastoreError(f"decode datastore {path}: {err}") from err
    if not isinstance(data, dict):
        raise DatastoreError(f"decode datastore {path}: top level is not an object")
    return data


def _write(handle, path: str, data: dict) -> None:
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    try:
        # Claim the space first: on a full disk this fails before the old
        # content is truncated away.
        os.posix_fallocate(handle.fileno(), 0, len(text.encode()))
        handle.seek(0)
        handle.truncate()
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    except OSError as err:
        raise DatastoreError(f"write datastore {path}: {err.strerror}") from err


def read_all(path: str) -> dict:
    """Every record, keyed by handle; a missing or empty file is `{}`."""
    if not os.path.exists(path):
        return {}
    with _locked(path) as handle:
        return _read(handle, path)


def add(path: str, handle: str, ip: str, replace: bool = True, **fields) -> dict:
    """Add or replace the record for `handle`; returns it.

    With `replace=False` an existing record is kept and DatastoreConflict raised.
    """
    if not handle:
        raise DatastoreError("add to datastore: handle must not be empty")
    try:
        ipaddress.ip_address(ip)
    except ValueError as err:
        raise DatastoreError(f"add to datastore: invalid ip {ip!r}") from err
    record = {"handle": handle, "ip": ip, "metadata": None, **fields}
    with _locked(path) as fh:
        data = _read(fh, path)
        if not replace and handle in data:
            raise DatastoreConflict(f"add to datastore: {handle} already has a record")
        data[handle] = record
        _write(fh, path, data)
    return record


def remove(path: str, handle: str) -> dict | None:
    """Remove `handle`; returns its record, or None when it was not there."""
    if not os.path.exists(path):
        return None
    with _locked(path) as fh:
        data = _read(fh, path)
        record = data.pop(handle, None)
        if record is not None:
            _write(fh, path, data)
    return record
