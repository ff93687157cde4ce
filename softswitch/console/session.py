"""The console's link to the switch: log in, subscribe, read snapshots, follow events, and
reconnect with backoff when the switch goes away, all through the API client alone.

Order matters: the event socket opens before the snapshots are read, so nothing that happens
in between is missed (`ConsoleState` takes an event about something a snapshot already shows
as a no-op). A switch that restarts has forgotten every token, so each connection asks its
`Credentials` for a fresh one: a password login (`softswitch console`) or a token minted by
the switch for the console in its own process (`softswitch run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Protocol

import aiohttp

from softswitch.api.client import ApiClient, ApiClientError, EventStream, UserInfo
from softswitch.console.centre_state import CentreConsoleState
from softswitch.console.state import ConsoleState, Pane

FIRST_RETRY_S: Final = 0.5
MAX_RETRY_S: Final = 10.0
CONNECT_TIMEOUT_S: Final = 5.0
CLOSE_TOKEN_EXPIRED: Final = 4001  # the API closes the event socket with this on expiry


class Credentials(Protocol):
    """Gives the client a valid token for one connection."""

    async def token(self, api: ApiClient) -> None: ...


class PasswordLogin:
    """Log in with a username and password kept in this process's memory only, so the
    console can log in again after the switch restarts or the token expires."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self._password = password

    async def token(self, api: ApiClient) -> None:
        await api.login(self.username, self._password)

    def __repr__(self) -> str:
        return f"PasswordLogin({self.username!r})"


class MintedToken:
    """A token the switch mints for the console running inside it (never written anywhere)."""

    def __init__(self, mint: Callable[[], str], username: str = "console") -> None:
        self._mint = mint
        self.username = username

    async def token(self, api: ApiClient) -> None:
        api.token = self._mint()


class Link(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RETRYING = "reconnecting"
    REFUSED = "refused"  # bad credentials: retrying will not help


@dataclass(frozen=True, slots=True)
class Status:
    link: Link
    text: str
    retry_in_s: float | None = None
    user: UserInfo | None = None


class Backoff:
    """Exponential delays between attempts, reset by a connection that worked."""

    def __init__(self, first_s: float = FIRST_RETRY_S, max_s: float = MAX_RETRY_S) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self._next = first_s

    def next(self) -> float:
        delay = self._next
        self._next = min(self.max_s, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first_s


class Session:
    """Owns the API client and the event socket; `run()` until `stop()`."""

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        state: ConsoleState,
        on_change: Callable[[set[Pane]], None],
        on_status: Callable[[Status], None],
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.state = state
        self._on_change = on_change
        self._on_status = on_status
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._stop = asyncio.Event()
        self._api: ApiClient | None = None
        self.operations: frozenset[str] = frozenset()  # operation ids the switch offers
        self.user: UserInfo | None = None
        self.connections = 0  # successful connections so far
        self.status = Status(Link.CONNECTING, "connecting")

    def _say(self, status: Status) -> None:
        self.status = status
        self._on_status(status)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            self._say(Status(Link.CONNECTING, "connecting"))
            reason = await self._connection()
            if self._stop.is_set():
                return
            if reason is None:
                continue
            delay = self._backoff.next()
            link = Link.REFUSED if reason.startswith("login refused") else Link.RETRYING
            self._say(Status(link, f"retrying in {delay:.1f} s: {reason}", delay))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _connection(self) -> str | None:
        """One connection from login to its loss; returns why it ended (None: token expired)."""
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CONNECT_TIMEOUT_S))
        api = ApiClient(self.url, session)
        try:
            try:
                await self.credentials.token(api)
                self.user = await api.me()
                if isinstance(self.state, CentreConsoleState):
                    self.state.me = self.user.agent  # agent mode: its own screen
                document = await api.openapi()
                stream = await api.events(["*"], timeout_s=CONNECT_TIMEOUT_S)
            except ApiClientError as exc:
                if exc.status in (401, 403):
                    return f"login refused ({exc.message or exc.status})"
                return f"the switch refused: {exc}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return f"switch unreachable ({_reason(exc)})"
            self.operations = frozenset(
                op["operationId"]
                for operations in document.get("paths", {}).values()
                for op in operations.values()
                if isinstance(op, dict) and "operationId" in op
            )
            async with stream:
                try:
                    await self._load(api)
                except ApiClientError as exc:
                    return f"the switch refused a snapshot: {exc}"
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    return f"switch unreachable ({_reason(exc)})"
                self._api = api
                self.connections += 1
                self._backoff.reset()
                self._say(Status(Link.CONNECTED, "connected", user=self.user))
                return await self._follow(stream)
        finally:
            self._api = None
            await session.close()

    async def _load(self, api: ApiClient) -> None:
        now = self._clock()
        changed = self.state.load_calls(await api.calls(), now)
        for operation, load, fetch in (
            ("list_registrations", self.state.load_registrations, api.registrations),
            ("list_trunks", self.state.load_trunks, api.trunks),
            ("list_logs", self.state.load_logs, api.logs),
            *self._centre_loads(api, now),
        ):
            if operation not in self.operations:
                continue
            try:
                changed |= load(await fetch())
            except ApiClientError as exc:
                if exc.status != 403:  # a role that may not see it: the view says so
                    raise
        self._on_change(changed)

    def _centre_loads(self, api: ApiClient, now: float) -> list[Any]:
        """The agents' and queues' snapshots, when the model keeps them."""
        state = self.state
        if not isinstance(state, CentreConsoleState):
            return []
        return [
            ("list_agents", state.load_agents, api.agents),
            ("list_queues", lambda items: state.load_queues(items, now), api.queues),
        ]

    async def _follow(self, stream: EventStream) -> str | None:
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                reading = asyncio.ensure_future(stream.next())
                done, _ = await asyncio.wait(
                    {reading, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    reading.cancel()
                    return None
                try:
                    event = reading.result()
                except (aiohttp.ClientError, OSError) as exc:
                    return f"connection lost ({_reason(exc)})"
                if event is None:
                    if stream.close_code == CLOSE_TOKEN_EXPIRED:
                        return None  # log in again at once
                    return f"connection lost (close code {stream.close_code})"
                changed = self.state.apply(event.name, event.timestamp, event.data, self._clock())
                if changed:
                    self._on_change(changed)
        finally:
            stopping.cancel()

    # ---- commands --------------------------------------------------------------------------

    async def command(self, run: Callable[[ApiClient], Awaitable[None]]) -> None:
        """Run one API command on the live connection; ApiClientError tells why not."""
        api = self._api
        if api is None:
            raise ApiClientError(0, "not connected to the switch")
        try:
            await run(api)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ApiClientError(0, f"switch unreachable ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
