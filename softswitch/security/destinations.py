"""`[security] allowed_destinations`: the switch sends no SIP or RTP outside these networks.

Checked before every send, so it answers from a small cache; a host that is not an IP literal
(a name in a Via or SDP) is refused, since the switch never resolves names it was handed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_CACHE_SIZE = 4096


class DestinationPolicy:
    def __init__(
        self, networks: Iterable[IpNetwork], *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        self.networks = tuple(networks)
        self._cache: dict[str, bool] = {}
        self._cache_size = cache_size

    @property
    def unrestricted(self) -> bool:
        return not self.networks

    def __call__(self, host: str) -> bool:
        verdict = self._cache.get(host)
        if verdict is None:
            verdict = self._decide(host)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[host] = verdict
        return verdict

    def _decide(self, host: str) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
