"""Hands out even RTP ports from a configured range; RTCP takes the odd port above (RFC 3550 §11).

Sans-IO: it only keeps the books. Free ports are reused oldest-released first, so a port
just given back is not handed out again while stray packets of its last call may still
arrive. The caller binds the port; a port that fails to bind (another process holds it)
is given back with `release()` and the caller asks again, at most `capacity` times:
`MediaRelay.open_endpoint` does exactly this.

Errors::

    PortsExhausted(Exception)   every even port of the range is in use; status_hint 503
"""

from __future__ import annotations

from collections import deque


class PortsExhausted(Exception):
    """No RTP port is free: the switch cannot take one more media leg."""

    status_hint = 503  # RFC 3261 §21.5.4 Service Unavailable: the caller may retry later


class PortAllocator:
    """Even ports in [low, high] whose odd neighbour is in the range too."""

    def __init__(self, low: int, high: int) -> None:
        first = low + (low & 1)
        if not 0 < low <= high <= 65535 or first + 1 > high:
            raise ValueError(f"port range {low}-{high} holds no RTP/RTCP pair")
        self._free: deque[int] = deque(range(first, high, 2))
        self._in_use: set[int] = set()
        self.capacity = len(self._free)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self) -> int:
        if not self._free:
            raise PortsExhausted(f"all {self.capacity} RTP ports are in use")
        port = self._free.popleft()
        self._in_use.add(port)
        return port

    def release(self, port: int) -> None:
        if port not in self._in_use:
            raise ValueError(f"port {port} was not allocated")
        self._in_use.remove(port)
        self._free.append(port)
