"""The CTI API from a synchronous test: one-off calls, and an event socket read on a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from softswitch.api.client import ApiClient, Event

T = TypeVar("T")


def wait_api(url_port: int, timeout_s: float = 10.0) -> None:
    """The switch answers OPTIONS before its API listens: wait for the API's port."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", url_port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"API not listening on {url_port} in {timeout_s} s") from None
            time.sleep(0.02)


def api_call(
    base_url: str, username: str, password: str, step: Callable[[ApiClient], Awaitable[T]]
) -> T:
    """Log in and run `step` with the client, in a loop of its own."""

    async def main() -> T:
        async with ApiClient(base_url) as api:
            await api.login(username, password)
            return await step(api)

    return asyncio.run(main())


class EventCollector:
    """Reads a user's event socket on a thread; `wait` blocks until a condition on the events."""

    def __init__(self, base_url: str, username: str, password: str, names: list[str]) -> None:
        self.events: list[Event] = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run(base_url, username, password, names)),
            daemon=True,
        )
        self._thread.start()
        if not self._ready.wait(10.0):
            raise AssertionError("the event socket did not open in 10 s")
        if self.error is not None:
            raise AssertionError(f"the event socket failed: {self.error!r}")

    async def _run(self, base_url: str, username: str, password: str, names: list[str]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with ApiClient(base_url) as api:
                await api.login(username, password)
                stream = await api.events(names)
                self._ready.set()
                async with stream:
                    reader = asyncio.ensure_future(self._read(stream))
                    await self._stop.wait()
                    reader.cancel()
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self._ready.set()

    async def _read(self, stream: object) -> None:
        from softswitch.api.client import EventStream

        assert isinstance(stream, EventStream)
        while True:
            event = await stream.next()
            if event is None:
                return
            with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    def wait(self, condition: Callable[[list[Event]], bool], timeout_s: float) -> list[Event]:
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self.events), timeout_s):
                raise AssertionError(f"events not as expected in {timeout_s} s: {self.events}")
            return list(self.events)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5.0)
