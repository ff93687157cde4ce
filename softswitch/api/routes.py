"""The route table: every HTTP and WebSocket route of the API with its ACL, in one place.

The server registers these routes and checks each request's token against the route's ACL
(with the path parameters filled in) before its handler runs; the OpenAPI document is generated
from the same table (`openapi.py`), so what is served and what is documented cannot drift.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from aiohttp import WSMsgType, web

from softswitch.acd.errors import AcdError
from softswitch.api.auth import Directory, LoginGuard, Principal, Token, TokenStore
from softswitch.api.control import CallControl, CallInfo
from softswitch.api.events import registration_body
from softswitch.api.hub import (
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TOO_SLOW,
    EVENT_ACLS,
    Ending,
    EventHub,
    Subscriber,
)
from softswitch.api.log_feed import LogFeed
from softswitch.api.permissions import Scope
from softswitch.calls.registrar import Registrar
from softswitch.config import Trunk
from softswitch.config_api import ApiConfig

if TYPE_CHECKING:  # api/centre.py builds its routes from this module's types
    from softswitch.api.centre import CentreControl

T = TypeVar("T")
MAX_NAME_CHARS: Final = 256
MAX_PASSWORD_CHARS: Final = 1024
MAX_ID: Final = 2**53  # ids beyond what JSON numbers carry exactly are no id of ours


class ApiError(Exception):
    """A request the API refuses: the HTTP status and the message of the JSON error body."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class Services:
    """What the handlers work with: one per running API."""

    config: ApiConfig
    control: CallControl
    directory: Directory
    tokens: TokenStore
    guard: LoginGuard
    scope: Scope
    hub: EventHub
    registrar: Registrar | None
    trunks: Sequence[Trunk] = ()
    logs: LogFeed | None = None
    centre: CentreControl | None = None  # api/centre.py; None: no call centre configured
    sockets: set[web.WebSocketResponse] = field(default_factory=set)


@dataclass(frozen=True)
class Context:
    request: web.Request
    services: Services
    token: Token | None  # None on the routes that need none

    @property
    def principal(self) -> Principal:
        assert self.token is not None, "the route requires a token"
        return self.token.principal

    def int_param(self, name: str) -> int:
        value = int(self.request.match_info[name])  # the route's regex allows digits only
        if value > MAX_ID:
            raise ApiError(404, f"no such {name}")
        return value


Handler = Callable[[Context], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI form: /api/v1/calls/{call_id}
    operation_id: str
    summary: str
    acl: str | None  # None: no token needed; path parameters in braces
    handler: Handler
    responses: Mapping[int, tuple[str, str | None]]  # status -> (description, schema name)
    int_params: tuple[str, ...] = ()
    body: str | None = None  # schema name of the JSON body
    body_optional: bool = False  # the body may be left out (api/answer.py's routes)
    query: Mapping[str, str] = field(default_factory=dict)  # name -> description
    websocket: bool = False

    @property
    def aiohttp_path(self) -> str:
        path = self.path
        for name in self.int_params:
            path = path.replace("{" + name + "}", "{" + name + r":\d{1,20}}")
        return path


# ---- bodies ---------------------------------------------------------------------------------


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def json_response(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def call_body(call: CallInfo) -> dict[str, object]:
    return {
        "call_id": call.call_id,
        "caller": call.caller,
        "callee": call.callee,
        "direction": call.direction,
        "state": call.state,
        "started_at": iso(call.started_at),
        "answered_at": iso(call.answered_at),
        "legs": [
            {"leg_id": leg.leg_id, "side": leg.side, "state": leg.state, "held": leg.held}
            for leg in call.legs
        ],
        "recording": call.recording,
    }


def parties(call: CallInfo) -> tuple[str, str]:
    return (call.caller, call.callee)


def agents_on_calls(ctx: Context) -> dict[int, tuple[str, ...]]:
    """Call id -> the extensions of the ACD agents on it that the principal reaches: a queue
    call's agent is neither caller nor callee, yet sees, holds and hangs up its call (the
    agent console), and so does its supervisor. Only the principal's agents are asked."""
    centre, scope = ctx.services.centre, ctx.services.scope
    reach = scope.reach_agents(ctx.principal)
    if centre is None or reach is None:  # no call centre, or an admin: parties are enough
        return {}
    found: dict[int, tuple[str, ...]] = {}
    for agent in sorted(reach):
        try:
            call = centre.agent_figures(agent).call
        except AcdError:  # a user's agent number the ACD does not know
            continue
        if call is not None and call.isdigit():
            found[int(call)] = (*found.get(int(call), ()), scope.extension_of(agent))
    return found


def parties_with_agents(call: CallInfo, agents: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    return (*parties(call), *agents.get(call.call_id, ()))


# ---- handlers -------------------------------------------------------------------------------


async def create_token(ctx: Context) -> web.StreamResponse:
    body = await read_json_object(ctx.request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "username and password must be strings")
    if len(username) > MAX_NAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        raise ApiError(400, "username or password too long")
    services = ctx.services
    source = ctx.request.remote or "unknown"
    wait = services.guard.retry_after(source, username)
    if wait is not None:
        retry = str(max(1, math.ceil(wait)))
        raise ApiError(429, "too many failed logins", {"Retry-After": retry})
    # Hash checks cost tens of milliseconds of CPU: off the event loop, which relays media.
    loop = asyncio.get_running_loop()
    principal = await loop.run_in_executor(
        None, services.directory.authenticate, username, password
    )
    if principal is None:
        services.guard.failed(source, username, "bad credentials")
        raise ApiError(401, "bad username or password")
    services.guard.succeeded(source, username)
    token = services.tokens.issue(principal)
    return json_response(
        {
            "token": token.value,
            "expires_at": iso(token.expires_at),
            "username": principal.username,
            "role": principal.role.value,
        },
        201,
    )


async def delete_own_token(ctx: Context) -> web.StreamResponse:
    assert ctx.token is not None
    ctx.services.tokens.revoke(ctx.token.value)
    return web.Response(status=204)


async def read_me(ctx: Context) -> web.StreamResponse:
    p = ctx.principal
    return json_response(
        {
            "username": p.username,
            "role": p.role.value,
            "agent": p.agent,
            "extension": p.extension,
            "teams": sorted(p.teams),
        }
    )


async def list_calls(ctx: Context) -> web.StreamResponse:
    scope, principal = ctx.services.scope, ctx.principal
    agents = agents_on_calls(ctx)
    calls = [
        call
        for call in ctx.services.control.calls()
        if scope.allows(principal, parties_with_agents(call, agents))
    ]
    return json_response({"items": [call_body(call) for call in calls]})


def _call_in_scope(ctx: Context) -> CallInfo:
    call = _control(lambda: ctx.services.control.call(ctx.int_param("call_id")))
    agents = agents_on_calls(ctx)
    if not ctx.services.scope.allows(ctx.principal, parties_with_agents(call, agents)):
        raise ApiError(403, "this call is not one of yours or your teams'")
    return call


async def read_call(ctx: Context) -> web.StreamResponse:
    return json_response(call_body(_call_in_scope(ctx)))


async def hang_up_call(ctx: Context) -> web.StreamResponse:
    call = _call_in_scope(ctx)
    _control(lambda: ctx.services.control.hang_up(call.call_id, "hung up through the API"))
    return web.Response(status=204)


async def hold_leg(ctx: Context) -> web.StreamResponse:
    call = _call_in_scope(ctx)
    leg_id = ctx.int_param("leg_id")
    _control(lambda: ctx.services.control.hold(call.call_id, leg_id))
    return web.Response(status=204)


async def resume_leg(ctx: Context) -> web.StreamResponse:
    call = _call_in_scope(ctx)
    leg_id = ctx.int_param("leg_id")
    _control(lambda: ctx.services.control.resume(call.call_id, leg_id))
    return web.Response(status=204)


async def pause_recording(ctx: Context) -> web.StreamResponse:
    call = _call_in_scope(ctx)
    _control(lambda: ctx.services.control.pause_recording(call.call_id, True))
    return web.Response(status=204)


async def resume_recording(ctx: Context) -> web.StreamResponse:
    call = _call_in_scope(ctx)
    _control(lambda: ctx.services.control.pause_recording(call.call_id, False))
    return web.Response(status=204)


MAX_TARGET_CHARS: Final = 64  # a number to dial


async def transfer_call(ctx: Context) -> web.StreamResponse:
    """Body {"leg_id", "target", "attended"}: the party of `leg_id` transfers its peer."""
    call = _call_in_scope(ctx)
    body = await read_json_object(ctx.request)
    leg_id, target, attended = body.get("leg_id"), body.get("target"), body.get("attended", False)
    if type(leg_id) is not int or not 0 < leg_id <= MAX_ID:
        raise ApiError(400, "leg_id must be a positive integer")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_TARGET_CHARS:
        raise ApiError(400, f"target must be a number of 1 to {MAX_TARGET_CHARS} characters")
    if not isinstance(attended, bool):
        raise ApiError(400, "attended must be true or false")
    _control(lambda: ctx.services.control.transfer(call.call_id, leg_id, target, attended=attended))
    return web.Response(status=204)


async def originate_call(ctx: Context) -> web.StreamResponse:
    """Body {"from": extension, "to": number, "caller_id"?}: ring the extension, then dial."""
    body = await read_json_object(ctx.request)
    extension, number, caller_id = body.get("from"), body.get("to"), body.get("caller_id", "")
    for name, value in (("from", extension), ("to", number)):
        if not isinstance(value, str) or not 0 < len(value) <= MAX_TARGET_CHARS:
            raise ApiError(400, f"{name} must be a number of 1 to {MAX_TARGET_CHARS} characters")
    if not isinstance(caller_id, str) or len(caller_id) > MAX_TARGET_CHARS:
        raise ApiError(400, f"caller_id must be a number of at most {MAX_TARGET_CHARS} characters")
    assert isinstance(extension, str) and isinstance(number, str)
    if not ctx.services.scope.allows(ctx.principal, (extension,)):
        raise ApiError(403, "that extension is not yours or your teams'")
    try:
        call_id = await ctx.services.control.originate(extension, number, caller_id)
    except LookupError as exc:
        raise ApiError(getattr(exc, "status_hint", 404), str(exc)) from exc
    return json_response({"call_id": call_id}, 201)


async def conference_call(ctx: Context) -> web.StreamResponse:
    """Body {"target", "leg_id"?}: three-way, the party of leg_id (default: the callee) adds
    target; all three talk once it answers."""
    call = _call_in_scope(ctx)
    body = await read_json_object(ctx.request)
    target, leg_id = body.get("target"), body.get("leg_id")
    if leg_id is not None and (type(leg_id) is not int or not 0 < leg_id <= MAX_ID):
        raise ApiError(400, "leg_id must be a positive integer")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_TARGET_CHARS:
        raise ApiError(400, f"target must be a number of 1 to {MAX_TARGET_CHARS} characters")
    _control(lambda: ctx.services.control.three_way(call.call_id, target, leg_id))
    return web.Response(status=204)


async def complete_transfer(ctx: Context) -> web.StreamResponse:
    call = _call_in_scope(ctx)
    _control(lambda: ctx.services.control.transfer_complete(call.call_id))
    return web.Response(status=204)


async def cancel_transfer(ctx: Context) -> web.StreamResponse:
    call = _call_in_scope(ctx)
    _control(lambda: ctx.services.control.transfer_cancel(call.call_id))
    return web.Response(status=204)


def _control(command: Callable[[], T]) -> T:
    try:
        return command()
    except LookupError as exc:
        raise ApiError(getattr(exc, "status_hint", 404), str(exc)) from exc


async def list_registrations(ctx: Context) -> web.StreamResponse:
    registrar = ctx.services.registrar
    bindings = [] if registrar is None else sorted(registrar.all_bindings(), key=lambda b: b.aor)
    scope, principal = ctx.services.scope, ctx.principal
    items = [registration_body(b) for b in bindings if scope.allows(principal, (b.aor,))]
    return json_response({"items": items})


async def list_trunks(ctx: Context) -> web.StreamResponse:
    items = [
        {
            "name": trunk.name,
            # port 0: calls are taken from any source port of the host
            "address": f"{trunk.transport}:{trunk.host}" + (f":{trunk.port}" if trunk.port else ""),
            "context": trunk.context,
            "inbound_auth": trunk.inbound_username is not None,
            "outbound_auth": trunk.username is not None,
        }
        for trunk in ctx.services.trunks
    ]
    return json_response({"items": items})


async def list_logs(ctx: Context) -> web.StreamResponse:
    logs = ctx.services.logs
    return json_response({"items": [] if logs is None else logs.records()})


async def openapi_document(ctx: Context) -> web.StreamResponse:
    from softswitch.api.openapi import document  # the document is made from the table
    from softswitch.api.table import served_routes

    return json_response(document(served_routes(ctx.services.centre is not None)))


async def events_socket(ctx: Context) -> web.StreamResponse:
    """WebSocket of events: `?events=a,b` (or `*`) to start with, then
    {"op": "subscribe"|"unsubscribe", "event_name": NAME} messages. The hub writes the events
    straight to the socket's transport (api/hub.py); this task reads the ops, and closes the
    socket when the hub ends the subscription (too slow, token expired)."""
    assert ctx.token is not None
    services, token = ctx.services, ctx.token
    names = [n for n in ctx.request.query.get("events", "").split(",") if n]
    # No permessage-deflate: every socket gets the same frame bytes, compressed for none.
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096, compress=False)
    await ws.prepare(ctx.request)
    hub = services.hub
    subscriber = hub.subscribe(token.principal, names, services.config.event_queue_size)
    services.sockets.add(ws)
    closer = asyncio.get_running_loop().create_task(_close_when_ended(ws, subscriber))
    try:
        await ws.send_json({"op": "init", "code": 0, "event_names": sorted(subscriber.names)})
        transport = ctx.request.transport
        if transport is not None:
            sink = _SocketSink(ws, transport)
            subscriber.attach(sink, lambda: services.tokens.verify(token.value) is not None)
            hub.attached(subscriber)
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            await _socket_command(ws, subscriber, message.data)
    finally:
        hub.unsubscribe(subscriber)
        services.sockets.discard(ws)
        closer.cancel()
        await asyncio.gather(closer, return_exceptions=True)
    return ws


class _SocketSink:
    """The hub's `Sink` over a WebSocket's transport: closing as soon as either side starts
    the closing handshake, so that no event follows a close frame (RFC 6455 §5.5.1)."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self._ws = ws
        self._transport = transport
        self.write = transport.write
        self.get_write_buffer_size = transport.get_write_buffer_size

    def is_closing(self) -> bool:
        return self._ws.closed or self._transport.is_closing()


async def _close_when_ended(ws: web.WebSocketResponse, subscriber: Subscriber) -> None:
    ending = await subscriber.ended()
    if ending is Ending.TOO_SLOW:
        await ws.close(code=CLOSE_TOO_SLOW, message=b"too slow: events were dropped")
    elif ending is Ending.TOKEN_EXPIRED:
        await ws.close(code=CLOSE_TOKEN_EXPIRED, message=b"token expired")


async def _socket_command(ws: web.WebSocketResponse, subscriber: Subscriber, text: str) -> None:
    try:
        command = json.loads(text)
    except json.JSONDecodeError:
        command = None
    if not isinstance(command, dict) or command.get("op") not in ("subscribe", "unsubscribe"):
        await ws.send_json({"op": "error", "code": 400, "error": "expected an op message"})
        return
    name = command.get("event_name")
    if not isinstance(name, str):
        await ws.send_json({"op": command["op"], "code": 400, "error": "event_name missing"})
        return
    if command["op"] == "unsubscribe":
        subscriber.unsubscribe([name])
        await ws.send_json({"op": "unsubscribe", "code": 0, "event_name": name})
        return
    refused = subscriber.subscribe([name])
    code = 403 if refused else 0
    await ws.send_json({"op": "subscribe", "code": code, "event_name": name})


# ---- the table ------------------------------------------------------------------------------

_UNAUTHORIZED = (401, ("no token, or a token that is unknown or expired", "Error"))
_FORBIDDEN = (403, ("the token's role or scope does not allow this", "Error"))
_NO_CALL = (404, ("no such call or leg", "Error"))
_CONFLICT = (409, ("the call or leg cannot do this in its state", "Error"))
_NO_CONTENT = (204, ("done", None))
_EVENT_NAMES = ", ".join(sorted(EVENT_ACLS))

ROUTES: Final[Sequence[Route]] = (
    Route(
        "POST",
        "/api/v1/tokens",
        "create_token",
        "Log in: a bearer token for the other routes",
        None,
        create_token,
        {
            201: ("the token", "Token"),
            400: ("not a JSON object with string username and password", "Error"),
            401: ("bad username or password", "Error"),
            429: ("too many failed logins from this address or for this user", "Error"),
        },
        body="TokenRequest",
    ),
    Route(
        "DELETE",
        "/api/v1/tokens/me",
        "delete_own_token",
        "Log out: revoke the token of this request",
        "auth.tokens.me.delete",
        delete_own_token,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN]),
    ),
    Route(
        "GET",
        "/api/v1/users/me",
        "read_me",
        "The user of the token: role, agent number, extension, teams",
        "auth.users.me.read",
        read_me,
        dict([(200, ("the user", "User")), _UNAUTHORIZED, _FORBIDDEN]),
    ),
    Route(
        "GET",
        "/api/v1/calls",
        "list_calls",
        "Active calls in the token's scope",
        "calld.calls.read",
        list_calls,
        dict([(200, ("the calls", "CallList")), _UNAUTHORIZED, _FORBIDDEN]),
    ),
    Route(
        "POST",
        "/api/v1/calls",
        "originate_call",
        "Click-to-call: ring the extension `from`, then dial `to` from it (`caller_id` is shown"
        " when it goes out through a trunk)",
        "calld.calls.create",
        originate_call,
        dict(
            [
                (201, ("the call, ringing the extension", "CallCreated")),
                (400, ("not an OriginateRequest", "Error")),
                _UNAUTHORIZED,
                _FORBIDDEN,
                (404, ("no such extension, or nothing answers to `to`", "Error")),
                (409, ("the extension has no registered phone", "Error")),
            ]
        ),
        body="OriginateRequest",
    ),
    Route(
        "GET",
        "/api/v1/calls/{call_id}",
        "read_call",
        "One active call",
        "calld.calls.{call_id}.read",
        read_call,
        dict([(200, ("the call", "Call")), _UNAUTHORIZED, _FORBIDDEN, _NO_CALL]),
        int_params=("call_id",),
    ),
    Route(
        "DELETE",
        "/api/v1/calls/{call_id}",
        "hang_up_call",
        "Hang up a call: BYE to every answered party, CANCEL or a final response otherwise",
        "calld.calls.{call_id}.delete",
        hang_up_call,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_CALL]),
        int_params=("call_id",),
    ),
    Route(
        "PUT",
        "/api/v1/calls/{call_id}/legs/{leg_id}/hold",
        "hold_leg",
        "Hold a party of an answered call: it hears nothing and is heard by no one",
        "calld.calls.{call_id}.legs.{leg_id}.hold.update",
        hold_leg,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_CALL, _CONFLICT]),
        int_params=("call_id", "leg_id"),
    ),
    Route(
        "PUT",
        "/api/v1/calls/{call_id}/legs/{leg_id}/resume",
        "resume_leg",
        "Take a held party off hold",
        "calld.calls.{call_id}.legs.{leg_id}.resume.update",
        resume_leg,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_CALL, _CONFLICT]),
        int_params=("call_id", "leg_id"),
    ),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/transfer",
        "transfer_call",
        "The party of leg_id transfers its peer to target: blind at once, or attended (the"
        " party's phone rings the target while the peer hears music on hold)",
        "calld.calls.{call_id}.transfer.create",
        transfer_call,
        dict(
            [
                _NO_CONTENT,
                (400, ("not a TransferRequest", "Error")),
                _UNAUTHORIZED,
                _FORBIDDEN,
                (404, ("no such call or leg, or nothing answers to target", "Error")),
                _CONFLICT,
            ]
        ),
        int_params=("call_id",),
        body="TransferRequest",
    ),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/conference",
        "conference_call",
        "Three-way: the party of leg_id (default: the callee) adds target; its peer hears music"
        " until target answers, then all three talk (an attended transfer going on joins now)",
        "calld.calls.{call_id}.conference.create",
        conference_call,
        dict(
            [
                _NO_CONTENT,
                (400, ("not a ConferenceRequest", "Error")),
                _UNAUTHORIZED,
                _FORBIDDEN,
                (404, ("no such call or leg, or nothing answers to target", "Error")),
                _CONFLICT,
            ]
        ),
        int_params=("call_id",),
        body="ConferenceRequest",
    ),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/transfer/complete",
        "complete_transfer",
        "Complete the call's attended transfer: the held peer is joined with the target",
        "calld.calls.{call_id}.transfer.update",
        complete_transfer,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_CALL, _CONFLICT]),
        int_params=("call_id",),
    ),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/transfer/cancel",
        "cancel_transfer",
        "Cancel the call's attended transfer: the target's leg ends, the transferor is back"
        " with its peer",
        "calld.calls.{call_id}.transfer.update",
        cancel_transfer,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_CALL, _CONFLICT]),
        int_params=("call_id",),
    ),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/recording/pause",
        "pause_recording",
        "Pause the call's recording: silence in the file from now, the pause marked in its row",
        "calld.calls.{call_id}.recording.update",
        pause_recording,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_CALL, _CONFLICT]),
        int_params=("call_id",),
    ),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/recording/resume",
        "resume_recording",
        "Resume a paused recording",
        "calld.calls.{call_id}.recording.update",
        resume_recording,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_CALL, _CONFLICT]),
        int_params=("call_id",),
    ),
    Route(
        "GET",
        "/api/v1/registrations",
        "list_registrations",
        "Registered phones in the token's scope",
        "calld.registrations.read",
        list_registrations,
        dict([(200, ("the registrations", "RegistrationList")), _UNAUTHORIZED, _FORBIDDEN]),
    ),
    Route(
        "GET",
        "/api/v1/trunks",
        "list_trunks",
        "Configured trunks: address, context, authentication",
        "confd.trunks.read",
        list_trunks,
        dict([(200, ("the trunks", "TrunkList")), _UNAUTHORIZED, _FORBIDDEN]),
    ),
    Route(
        "GET",
        "/api/v1/logs",
        "list_logs",
        "The latest warnings and security events, oldest first (then the log_record event)",
        "system.logs.read",
        list_logs,
        dict([(200, ("the records", "LogRecordList")), _UNAUTHORIZED, _FORBIDDEN]),
    ),
    Route(
        "GET",
        "/api/v1/openapi.json",
        "openapi_document",
        "This document",
        None,
        openapi_document,
        {200: ("the OpenAPI 3.1 document", None)},
    ),
    Route(
        "GET",
        "/api/v1/events",
        "events_socket",
        "WebSocket of events {name, timestamp, data}, filtered by the token's role and scope",
        "websocketd.connect",
        events_socket,
        dict(
            [
                (101, ("switching to WebSocket; then Event messages", "Event")),
                _UNAUTHORIZED,
                _FORBIDDEN,
            ]
        ),
        query={
            "token": "the bearer token (browsers cannot set headers on a WebSocket)",
            "events": f"comma-separated event names to receive, or * ({_EVENT_NAMES})",
        },
        websocket=True,
    ),
)
