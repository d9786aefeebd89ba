"""The block and single-IP pools of an overlay network (SPEC §1.5).

The network is cut into blocks of `subnet_prefix_length`. Block 0 is never
leased as a block: it supplies the single-IP (`/32`) leases, base+1 to the
end of that block. Blocks 1..n-1 are the per-host block leases.
Membership is by canonical text, as the reference compares strings, so
`10.255.1.0/25` is not a member of a /24 pool.
"""

import ipaddress
import random

# Below this share of the pool taken, guess random candidates; above it,
# list the free entries and pick one (a guess would miss too often).
_SAMPLING_LIMIT = 0.5
_rng = random.Random()


class CidrPool:
    """The blocks and single IPs that `network` with `prefix`-long blocks offers."""

    def __init__(self, network: str, prefix: int):
        self.network = ipaddress.IPv4Network(network, strict=False)
        if not self.network.prefixlen < prefix <= 32:
            raise ValueError(
                f"subnet prefix /{prefix} must be longer than the network "
                f"/{self.network.prefixlen}, or the network holds no block"
            )
        self.prefix = prefix
        self._base = int(self.network.network_address)
        self._block_size = 1 << (32 - prefix)
        self.block_count = (1 << (prefix - self.network.prefixlen)) - 1
        self.single_count = self._block_size - 1

    def __repr__(self) -> str:
        return f"CidrPool({str(self.network)!r}, {self.prefix})"

    def size(self, single: bool) -> int:
        return self.single_count if single else self.block_count

    def entry(self, index: int, single: bool) -> str:
        """The `index`-th entry (from 0) of the single-IP or block pool."""
        if single:
            return f"{ipaddress.IPv4Address(self._base + 1 + index)}/32"
        address = ipaddress.IPv4Address(self._base + (index + 1) * self._block_size)
        return f"{address}/{self.prefix}"

    def entries(self, single: bool) -> list[str]:
        return [self.entry(i, single) for i in range(self.size(single))]

    def is_member(self, subnet: str) -> bool:
        """True when `subnet` is, as written, an entry of either pool."""
        try:
            parsed = ipaddress.IPv4Network(subnet)
        except ValueError:
            return False
        if str(parsed) != subnet or not parsed.subnet_of(self.network):
            return False
        offset = int(parsed.network_address) - self._base
        if parsed.prefixlen == self.prefix and self.prefix != 32:
            return offset >= self._block_size
        return parsed.prefixlen == 32 and 0 < offset < self._block_size

    def pick_free(self, taken: set[str], single: bool) -> str | None:
        """A uniformly random pool entry not in `taken`; None when all are taken."""
        size = self.size(single)
        if size == 0:
            return None
        if len(taken) < size * _SAMPLING_LIMIT:
            while True:
                candidate = self.entry(_rng.randrange(size), single)
                if candidate not in taken:
                    return candidate
        free = [entry for entry in self.entries(single) if entry not in taken]
        return _rng.choice(free) if free else None
