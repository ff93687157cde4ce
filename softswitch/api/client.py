"""A typed client of the CTI API (aiohttp): what the console and the tests use.

    async with ApiClient("http://127.0.0.1:8088") as api:
        await api.login("supervisor", "demo-supervisor")
        for call in await api.calls():
            ...
        async with api.events(["call_created", "call_ended"]) as events:
            event = await events.next(timeout_s=5)

A refusal raises `ApiClientError` with the HTTP status and the server's message.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp


class ApiClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token: str
    expires_at: str
    username: str
    role: str


@dataclass(frozen=True, slots=True)
class UserInfo:
    username: str
    role: str
    agent: str | None
    extension: str | None
    teams: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SupervisionDetails:
    supervision_id: int
    call_id: int
    agent: str
    supervisor: str
    mode: str
    state: str


def _supervision(body: dict[str, Any]) -> SupervisionDetails:
    return SupervisionDetails(
        int(body["supervision_id"]),
        int(body["call_id"]),
        str(body["agent"]),
        str(body["supervisor"]),
        str(body["mode"]),
        str(body["state"]),
    )


@dataclass(frozen=True, slots=True)
class LegDetails:
    leg_id: int
    side: str
    state: str
    held: bool


@dataclass(frozen=True, slots=True)
class CallDetails:
    call_id: int
    caller: str
    callee: str
    direction: str
    state: str
    started_at: str
    answered_at: str | None
    legs: tuple[LegDetails, ...]
    recording: str = "none"  # "recording", "paused" or "none"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CallDetails:
        legs = tuple(LegDetails(**leg) for leg in body["legs"])
        return cls(**{**body, "legs": legs})


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    timestamp: str
    data: dict[str, Any]


class EventStream:
    """One WebSocket of events: `next()` the next event, `reply()` the answer to an op."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self.event_names: list[str] = []
        self._replies: deque[dict[str, Any]] = deque()
        self._events: deque[Event] = deque()

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    async def _receive(self, timeout_s: float | None) -> dict[str, Any] | None:
        message = await self._ws.receive(timeout=timeout_s)
        if message.type is not aiohttp.WSMsgType.TEXT:
            return None
        body: dict[str, Any] = json.loads(message.data)
        return body

    async def start(self, timeout_s: float) -> None:
        init = await self._receive(timeout_s)
        if init is None or init.get("op") != "init":
            raise ApiClientError(0, f"the event socket did not start: {init}")
        self.event_names = list(init["event_names"])

    async def next(self, timeout_s: float | None = None) -> Event | None:
        """The next event, or None when the socket closed (replies to ops are kept aside)."""
        if self._events:
            return self._events.popleft()
        while True:
            body = await self._receive(timeout_s)
            if body is None:
                return None
            if "op" in body:
                self._replies.append(body)
                continue
            return Event(body["name"], body["timestamp"], body["data"])

    async def reply(self, timeout_s: float | None = None) -> dict[str, Any]:
        """The server's answer to the oldest op not yet answered (events meanwhile are kept)."""
        while not self._replies:
            body = await self._receive(timeout_s)
            if body is None:
                raise ApiClientError(0, "the event socket closed before replying")
            if "op" in body:
                self._replies.append(body)
            else:
                self._events.append(Event(body["name"], body["timestamp"], body["data"]))
        return self._replies.popleft()

    async def subscribe(self, name: str) -> None:
        await self._ws.send_json({"op": "subscribe", "event_name": name})

    async def unsubscribe(self, name: str) -> None:
        await self._ws.send_json({"op": "unsubscribe", "event_name": name})

    async def close(self) -> None:
        await self._ws.close()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class ApiClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session or aiohttp.ClientSession()
        self._own_session = session is None
        self.token: str | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    async def _request(self, method: str, path: str, body: object = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self._session.request(
            method, self.base_url + path, json=body, headers=headers
        ) as response:
            if response.status == 204:
                return None
            payload = await response.json(content_type=None)
            if response.status >= 400:
                message = payload.get("error", "") if isinstance(payload, dict) else ""
                raise ApiClientError(response.status, message)
            return payload

    async def login(self, username: str, password: str) -> TokenInfo:
        body = await self._request(
            "POST", "/api/v1/tokens", {"username": username, "password": password}
        )
        info = TokenInfo(**body)
        self.token = info.token
        return info

    async def logout(self) -> None:
        await self._request("DELETE", "/api/v1/tokens/me")
        self.token = None

    async def me(self) -> UserInfo:
        body = await self._request("GET", "/api/v1/users/me")
        return UserInfo(**{**body, "teams": tuple(body["teams"])})

    async def calls(self) -> list[CallDetails]:
        body = await self._request("GET", "/api/v1/calls")
        return [CallDetails.from_json(item) for item in body["items"]]

    async def call(self, call_id: int) -> CallDetails:
        return CallDetails.from_json(await self._request("GET", f"/api/v1/calls/{call_id}"))

    async def hang_up(self, call_id: int) -> None:
        await self._request("DELETE", f"/api/v1/calls/{call_id}")

    async def hold(self, call_id: int, leg_id: int) -> None:
        await self._request("PUT", f"/api/v1/calls/{call_id}/legs/{leg_id}/hold")

    async def resume(self, call_id: int, leg_id: int) -> None:
        await self._request("PUT", f"/api/v1/calls/{call_id}/legs/{leg_id}/resume")

    async def transfer(
        self, call_id: int, leg_id: int, target: str, *, attended: bool = False
    ) -> None:
        """The party of `leg_id` transfers its peer to `target` (attended: consults first)."""
        body = {"leg_id": leg_id, "target": target, "attended": attended}
        await self._request("POST", f"/api/v1/calls/{call_id}/transfer", body)

    async def originate(self, extension: str, number: str, caller_id: str = "") -> int:
        """Ring `extension`, then dial `number` from it; the new call's id."""
        body = {"from": extension, "to": number, "caller_id": caller_id}
        created = await self._request("POST", "/api/v1/calls", body)
        return int(created["call_id"])

    async def conference(self, call_id: int, target: str, leg_id: int | None = None) -> None:
        """Three-way: the party of `leg_id` (default: the callee) adds `target`."""
        body: dict[str, object] = {"target": target}
        if leg_id is not None:
            body["leg_id"] = leg_id
        await self._request("POST", f"/api/v1/calls/{call_id}/conference", body)

    async def complete_transfer(self, call_id: int) -> None:
        await self._request("POST", f"/api/v1/calls/{call_id}/transfer/complete")

    async def cancel_transfer(self, call_id: int) -> None:
        await self._request("POST", f"/api/v1/calls/{call_id}/transfer/cancel")

    async def pause_recording(self, call_id: int) -> None:
        await self._request("POST", f"/api/v1/calls/{call_id}/recording/pause")

    async def resume_recording(self, call_id: int) -> None:
        await self._request("POST", f"/api/v1/calls/{call_id}/recording/resume")

    async def registrations(self) -> list[dict[str, Any]]:
        body = await self._request("GET", "/api/v1/registrations")
        items: list[dict[str, Any]] = body["items"]
        return items

    async def trunks(self) -> list[dict[str, Any]]:
        body = await self._request("GET", "/api/v1/trunks")
        items: list[dict[str, Any]] = body["items"]
        return items

    async def logs(self) -> list[dict[str, Any]]:
        """The latest warnings and security events, oldest first."""
        body = await self._request("GET", "/api/v1/logs")
        items: list[dict[str, Any]] = body["items"]
        return items

    # ---- the call centre (JSON as documented: Agent, Queue, QueueStatistics)
    async def agents(self) -> list[dict[str, Any]]:
        body = await self._request("GET", "/api/v1/agents")
        items: list[dict[str, Any]] = body["items"]
        return items

    async def agent(self, agent: str) -> dict[str, Any]:
        body: dict[str, Any] = await self._request("GET", f"/api/v1/agents/{agent}")
        return body

    async def agent_login(self, agent: str) -> None:
        await self._request("POST", f"/api/v1/agents/{agent}/login")

    async def agent_logoff(self, agent: str) -> None:
        await self._request("POST", f"/api/v1/agents/{agent}/logoff")

    async def agent_pause(self, agent: str, reason: str = "") -> None:
        await self._request("POST", f"/api/v1/agents/{agent}/pause", {"reason": reason})

    async def agent_ready(self, agent: str) -> None:
        await self._request("POST", f"/api/v1/agents/{agent}/ready")

    async def agent_end_wrap_up(self, agent: str) -> None:
        await self._request("POST", f"/api/v1/agents/{agent}/wrap-up/end")

    async def queues(self, interval: str = "15m") -> list[dict[str, Any]]:
        body = await self._request("GET", f"/api/v1/queues?interval={interval}")
        items: list[dict[str, Any]] = body["items"]
        return items

    async def queue_statistics(self, queue: str, interval: str = "15m") -> dict[str, Any]:
        path = f"/api/v1/queues/{queue}/statistics?interval={interval}"
        body: dict[str, Any] = await self._request("GET", path)
        return body

    async def move_caller(self, queue: str, call_id: int, to_queue: str) -> None:
        path = f"/api/v1/queues/{queue}/callers/{call_id}/move"
        await self._request("POST", path, {"queue": to_queue})

    async def caller_to_head(self, queue: str, call_id: int) -> None:
        await self._request("POST", f"/api/v1/queues/{queue}/callers/{call_id}/head")

    # ---- answer from a screen, intercept (JSON as documented: Answering, Interception)
    async def answer(self, call_id: int, extension: str | None = None) -> dict[str, Any]:
        """Make the phone ringing for the call (the user's, or `extension`) answer by itself."""
        body = {} if extension is None else {"extension": extension}
        answering: dict[str, Any] = await self._request(
            "POST", f"/api/v1/calls/{call_id}/answer", body
        )
        return answering

    async def intercept(self, call_id: int, extension: str | None = None) -> dict[str, Any]:
        """Ring the supervisor's phone (the user's, or `extension`) to take the call over."""
        body = {} if extension is None else {"extension": extension}
        interception: dict[str, Any] = await self._request(
            "POST", f"/api/v1/calls/{call_id}/intercept", body
        )
        return interception

    # ---- supervision (JSON as documented: Supervision)
    async def supervise(
        self, agent: str, mode: str, extension: str | None = None
    ) -> SupervisionDetails:
        """Ring the supervisor's phone (`extension`, else the user's) to supervise `agent`."""
        body: dict[str, object] = {"mode": mode}
        if extension is not None:
            body["extension"] = extension
        return _supervision(await self._request("POST", f"/api/v1/agents/{agent}/supervise", body))

    async def supervise_call(
        self, call_id: int, mode: str, extension: str | None = None
    ) -> SupervisionDetails:
        """The same for a given call."""
        body: dict[str, object] = {"mode": mode}
        if extension is not None:
            body["extension"] = extension
        path = f"/api/v1/calls/{call_id}/supervise"
        return _supervision(await self._request("POST", path, body))

    async def supervisions(self) -> list[SupervisionDetails]:
        body = await self._request("GET", "/api/v1/supervisions")
        return [_supervision(item) for item in body["items"]]

    async def change_supervision(self, supervision_id: int, mode: str) -> SupervisionDetails:
        path = f"/api/v1/supervisions/{supervision_id}"
        return _supervision(await self._request("PUT", path, {"mode": mode}))

    async def stop_supervision(self, supervision_id: int) -> None:
        await self._request("DELETE", f"/api/v1/supervisions/{supervision_id}")

    async def openapi(self) -> dict[str, Any]:
        document: dict[str, Any] = await self._request("GET", "/api/v1/openapi.json")
        return document

    async def events(self, names: Sequence[str], timeout_s: float = 5.0) -> EventStream:
        """Open the event WebSocket for `names` (or ["*"]); raises ApiClientError on 401/403."""
        url = self.base_url.replace("http", "ws", 1) + "/api/v1/events"
        params = {"events": ",".join(names), "token": self.token or ""}
        try:
            ws = await self._session.ws_connect(
                url,
                params=params,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=timeout_s),
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ApiClientError(exc.status, exc.message) from exc
        stream = EventStream(ws)
        await stream.start(timeout_s)
        return stream
