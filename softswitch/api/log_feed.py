"""The switch's warnings and security events as API events and a short history.

A `logging.Handler` on the root logger: every record at WARNING or above, and every record of
the `softswitch.security` log (failed logins, bans), becomes a `log_record` event and joins a
bounded history that `GET /api/v1/logs` returns, so a console that connects (or reconnects)
shows what happened before it came. Records may come from another thread (the executor that
checks password hashes): they are handed to the loop, which alone touches the hub.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Final

from softswitch.api.events import EventHub

SECURITY_LOGGER: Final = "softswitch.security"
DEFAULT_HISTORY: Final = 200  # records kept for GET /api/v1/logs
MAX_MESSAGE_CHARS: Final = 2000  # a record's message past this is cut (it may quote the network)


def is_shown(record: logging.LogRecord) -> bool:
    """Warnings and worse from anywhere, and everything of the security log."""
    return record.levelno >= logging.WARNING or (
        record.name == SECURITY_LOGGER or record.name.startswith(SECURITY_LOGGER + ".")
    )


class LogFeed(logging.Handler):
    def __init__(self, hub: EventHub, history: int = DEFAULT_HISTORY) -> None:
        super().__init__(logging.DEBUG)
        self._hub = hub
        self._history: deque[dict[str, object]] = deque(maxlen=history)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start feeding: from now on records of `loop`'s thread are published at once."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        logging.getLogger().addHandler(self)

    def detach(self) -> None:
        logging.getLogger().removeHandler(self)
        self._loop = None

    def records(self) -> list[dict[str, object]]:
        return list(self._history)

    def emit(self, record: logging.LogRecord) -> None:
        if not is_shown(record):
            return
        try:
            message = record.getMessage()
        except Exception:
            self.handleError(record)
            return
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message}: {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message[:MAX_MESSAGE_CHARS],
            "security": record.name.startswith(SECURITY_LOGGER),
        }
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._publish(entry)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._publish, entry)

    def _publish(self, entry: dict[str, object]) -> None:
        self._history.append(entry)
        self._hub.publish("log_record", entry, None)
