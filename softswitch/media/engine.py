"""The media engine's adapter to endpoints: which legs' audio it has taken, and their packets.

The tick engine (jitter buffers, decode, mix, record, encode every 20 ms) is built on pure cores
elsewhere; this adapter is the seam it plugs into. `take(endpoint)` switches an endpoint to the
CONSUMER route with a bounded per-endpoint queue: per packet only an append (ARCHITECTURE.md:
per packet only parse and queue), the rest waits for the tick, which `drain()`s every queue at
once and sends frames back with `endpoint.send_frame`. `release(endpoint)` hands it back; the
caller routes it again (bridge, echo), on the same sockets, with no packet lost.
"""

from __future__ import annotations

from collections import deque

from softswitch.media.endpoint import MediaEndpoint, Route

DEFAULT_MAX_QUEUED = 50  # packets per endpoint between ticks: 1 s of 20 ms audio


class PacketQueue:
    """A PacketSink keeping the newest `maxlen` datagrams; older ones are counted and dropped."""

    __slots__ = ("overflowed", "packets")

    def __init__(self, maxlen: int = DEFAULT_MAX_QUEUED) -> None:
        self.packets: deque[bytes] = deque(maxlen=maxlen)
        self.overflowed = 0

    def __call__(self, data: bytes, endpoint: MediaEndpoint) -> None:
        packets = self.packets
        if len(packets) == packets.maxlen:
            self.overflowed += 1
        packets.append(data)

    def drain(self) -> list[bytes]:
        packets = list(self.packets)
        self.packets.clear()
        return packets


class MediaEngine:
    def __init__(self, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        self._max_queued = max_queued
        self._queues: dict[MediaEndpoint, PacketQueue] = {}

    def take(self, endpoint: MediaEndpoint) -> PacketQueue:
        """Deliver the endpoint's received RTP to the engine from now on (RTCP is absorbed)."""
        queue = self._queues.get(endpoint)
        if queue is None:
            queue = self._queues[endpoint] = PacketQueue(self._max_queued)
        endpoint.deliver(queue)
        return queue

    def release(self, endpoint: MediaEndpoint) -> list[bytes]:
        """Stop taking the endpoint's audio; returns what was queued and not yet drained."""
        queue = self._queues.pop(endpoint, None)
        if endpoint.route is Route.CONSUMER and not endpoint.closed:
            endpoint.unroute()
        return queue.drain() if queue is not None else []

    def drain(self) -> dict[MediaEndpoint, list[bytes]]:
        """Every taken endpoint's packets since the last drain: what one tick works on."""
        return {endpoint: queue.drain() for endpoint, queue in self._queues.items()}

    @property
    def endpoints(self) -> int:
        return len(self._queues)
