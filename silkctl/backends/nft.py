"""Thin adapter over Debian's `nft` with JSON input: one batch, one transaction."""

import json
import subprocess

from silkctl.errors import KernelError

NFT = "nft"


def apply(commands: list[dict]) -> None:
    """Apply `commands` (nft JSON objects) atomically in the current namespace."""
    payload = json.dumps({"nftables": commands})
    try:
        done = subprocess.run(
            [NFT, "-j", "-f", "-"],
            input=payload,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise KernelError(f"nft: {err}") from err
    if done.returncode != 0:
        raise KernelError(
            f"nft: {done.stderr.strip().splitlines()[-1:] or done.returncode}"
        )


def table_exists(family: str, name: str) -> bool:
    done = subprocess.run(
        [NFT, "list", "table", family, name], capture_output=True, text=True
    )
    return done.returncode == 0


def replace_table(family: str, name: str, body: list[dict]) -> None:
    """Swap table `name` for one holding `body` (chains, rules, sets) atomically."""
    table = {"family": family, "name": name}
    apply(
        [
            {"add": {"table": table}},
            {"delete": {"table": table}},
            {"add": {"table": table}},
            *body,
        ]
    )


def delete_table(family: str, name: str) -> bool:
    """Delete table `name`; returns False when there was none."""
    if not table_exists(family, name):
        return False
    apply([{"delete": {"table": {"family": family, "name": name}}}])
    return True


def match(key: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": key, "right": right}}


def meta(key: str) -> dict:
    return {"meta": {"key": key}}


def payload(protocol: str, field: str) -> dict:
    return {"payload": {"protocol": protocol, "field": field}}
