"""Deterministic MAC addresses and interface names derived from IPv4 addresses."""

import ipaddress

VTEP_MAC_PREFIX = "ee:ee"
HOST_VETH_MAC_PREFIX = "aa:aa"


def _mac(prefix: str, ip: str) -> str:
    packed = ipaddress.IPv4Address(ip).packed
    return prefix + "".join(f":{byte:02x}" for byte in packed)


def vtep_mac(subnet: str) -> str:
    """MAC of the VTEP that owns `subnet`: ee:ee + the subnet's first address."""
    first = ipaddress.IPv4Network(subnet, strict=False).network_address
    return _mac(VTEP_MAC_PREFIX, str(first))


def container_mac(ip: str) -> str:
    """MAC of a container's interface: ee:ee + its IPv4 address."""
    return _mac(VTEP_MAC_PREFIX, ip)


def host_veth_mac(ip: str) -> str:
    """MAC of the host end of a container's veth: aa:aa + the container's address."""
    return _mac(HOST_VETH_MAC_PREFIX, ip)


def veth_names(ip: str) -> tuple[str, str]:
    """(host end, temporary container end) names: s-/c- + zero-padded octets."""
    digits = "".join(f"{octet:03d}" for octet in ipaddress.IPv4Address(ip).packed)
    return f"s-{digits}", f"c-{digits}"
