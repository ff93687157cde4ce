"""Stream connections (TCP, TLS): caps per source and in all, idle and slow-message deadlines.

Pure decisions for the transport: `open` says whether one more connection from an address is
allowed, `StreamActivity.expired` whether a connection has sat idle or has been sending one
message for too long (slowloris: a byte now and then keeps an idle timer happy, not this one).
"""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.security.guard import Refusal
from softswitch.security.settings import TcpConfig


class ConnectionLimits:
    def __init__(self, config: TcpConfig) -> None:
        self.config = config
        self.total = 0
        self._by_source: dict[str, int] = {}

    def open(self, host: str) -> str | None:
        """Count a new inbound connection; the problem (and nothing counted) when over a cap."""
        if self.total >= self.config.max_connections:
            return f"max_connections {self.config.max_connections} reached"
        count = self._by_source.get(host, 0)
        if count >= self.config.max_connections_per_source:
            return f"max_connections_per_source {self.config.max_connections_per_source} reached"
        self._by_source[host] = count + 1
        self.total += 1
        return None

    def close(self, host: str) -> None:
        count = self._by_source.get(host, 0)
        if count <= 1:
            self._by_source.pop(host, None)
        else:
            self._by_source[host] = count - 1
        self.total = max(0, self.total - 1)

    def from_source(self, host: str) -> int:
        return self._by_source.get(host, 0)


@dataclass(slots=True)
class StreamActivity:
    """When a connection last sent anything, and since when its incomplete message is pending."""

    last_data: float
    message_started: float | None = None

    def received(self, now: float, pending_bytes: int, *, completed: bool) -> None:
        """After a read: `pending_bytes` of a message are still incomplete; `completed`, this
        read finished at least one message (so what is pending started now)."""
        self.last_data = now
        if not pending_bytes:
            self.message_started = None
        elif completed or self.message_started is None:
            self.message_started = now

    def expired(self, now: float, config: TcpConfig) -> Refusal | None:
        started = self.message_started
        if started is not None and now - started >= config.message_timeout_s:
            return Refusal.SLOW_MESSAGE
        if config.idle_timeout_s and now - self.last_data >= config.idle_timeout_s:
            return Refusal.IDLE
        return None
