"""Marks each container's egress with its policy tag (VXLAN-GBP carries it).

Linux VXLAN with GBP copies the low 16 bits of a packet's mark into the
VXLAN header on transmit and restores them as the mark on receive, so a
mark set here on the source host is what the destination host's policy
matches on. One nft table, `inet silkctl_marks`, one rule per tagged
container, keyed on its host-side veth; rewritten whole on every change.
"""

from silkctl.backends import nft

TABLE = "silkctl_marks"
FAMILY = "inet"


def render(tags: dict[str, int]) -> list[dict]:
    """nft JSON for `{host veth name: tag}` (tag 0 = unmarked, left out)."""
    chain = {
        "family": FAMILY,
        "table": TABLE,
        "name": "egress",
        "type": "filter",
        "hook": "prerouting",
        "prio": -150,
        "policy": "accept",
    }
    body = [{"add": {"chain": chain}}]
    for ifname, tag in sorted(tags.items()):
        if tag:
            body.append(
                {
                    "add": {
                        "rule": {
                            "family": FAMILY,
                            "table": TABLE,
                            "chain": "egress",
                            "expr": [
                                nft.match(nft.meta("iifname"), ifname),
                                {"mangle": {"key": nft.meta("mark"), "value": tag}},
                            ],
                        }
                    }
                }
            )
    return body


def apply(tags: dict[str, int]) -> None:
    """Make the kernel mark exactly these containers' egress; none → no table."""
    if any(tags.values()):
        nft.replace_table(FAMILY, TABLE, render(tags))
    else:
        nft.delete_table(FAMILY, TABLE)
