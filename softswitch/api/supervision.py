"""Supervision over the API: listen to, whisper to, barge into an agent's call; change the
mode; stop. Events `supervision_started`, `supervision_changed`, `supervision_ended`.

`POST /api/v1/agents/{agent}/supervise` rings the supervisor's phone (the token user's own
extension; an admin may name any in the body) and, on answer, attaches it to the call the
agent's extension is on (calls/supervision.py); `POST /api/v1/calls/{call}/supervise` does the
same for a given call. Only supervisors (of the agent's teams) and
admins hold the ACLs; an agent's token gets 403.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from aiohttp import web

from softswitch.api.events import EventHub
from softswitch.api.routes import (
    ApiError,
    Context,
    Route,
    agents_on_calls,
    json_response,
    parties_with_agents,
    read_json_object,
)
from softswitch.calls.supervision import (
    SupervisionChanged,
    SupervisionEnded,
    SupervisionEvent,
    SupervisionStarted,
)
from softswitch.config_api import Role

MODES: Final = ("listen", "whisper", "barge")


class SupervisionInfo(Protocol):
    @property
    def supervision_id(self) -> int: ...
    @property
    def call_id(self) -> int: ...
    @property
    def agent(self) -> str: ...
    @property
    def supervisor(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def state(self) -> str: ...


def supervision_body(s: SupervisionInfo) -> dict[str, object]:
    return {
        "supervision_id": s.supervision_id,
        "call_id": s.call_id,
        "agent": s.agent,
        "supervisor": s.supervisor,
        "mode": s.mode,
        "state": s.state,
    }


async def _mode_of(ctx: Context) -> tuple[str, dict[str, object]]:
    body = await read_json_object(ctx.request)
    mode = body.get("mode")
    if mode not in MODES:
        raise ApiError(400, "mode must be listen, whisper or barge")
    assert isinstance(mode, str)
    return mode, body


def _refused(exc: LookupError) -> ApiError:
    return ApiError(getattr(exc, "status_hint", 404), str(exc))


async def _supervisor_phone(ctx: Context) -> tuple[str, str]:
    """(mode, the supervisor's extension) from the body, checked."""
    principal = ctx.principal
    mode, body = await _mode_of(ctx)
    extension = body.get("extension", principal.extension)
    if not isinstance(extension, str) or not extension:
        raise ApiError(400, "no extension: give one, or give your user an extension")
    if principal.role is not Role.ADMIN and extension != principal.extension:
        # Else a supervisor could have a call's audio sent to anyone's phone.
        raise ApiError(403, "a supervisor supervises from its own phone only")
    return mode, extension


async def supervise_agent(ctx: Context) -> web.StreamResponse:
    agent = ctx.request.match_info["agent_number"]
    services, principal = ctx.services, ctx.principal
    centre = services.centre
    if centre is not None and agent not in centre.agent_numbers():
        raise ApiError(404, f"no agent {agent}")
    if not services.scope.allows_agent(principal, agent):
        raise ApiError(403, "this agent is not one of your teams'")
    mode, extension = await _supervisor_phone(ctx)
    try:
        view = services.control.supervise(services.scope.extension_of(agent), extension, mode)
    except LookupError as exc:
        raise _refused(exc) from exc
    return json_response(supervision_body(view), 201)


async def supervise_call(ctx: Context) -> web.StreamResponse:
    services = ctx.services
    try:
        call = services.control.call(ctx.int_param("call_id"))
    except LookupError as exc:
        raise _refused(exc) from exc
    # A queue call's agent is neither caller nor callee: its supervisor reaches it through it.
    if not services.scope.allows(ctx.principal, parties_with_agents(call, agents_on_calls(ctx))):
        raise ApiError(403, "this call is not one of your teams'")
    mode, extension = await _supervisor_phone(ctx)
    try:
        view = services.control.supervise_call(call.call_id, extension, mode)
    except LookupError as exc:
        raise _refused(exc) from exc
    return json_response(supervision_body(view), 201)


def _supervision_in_scope(ctx: Context) -> SupervisionInfo:
    wanted = ctx.int_param("supervision_id")
    found = next(
        (s for s in ctx.services.control.supervisions() if s.supervision_id == wanted), None
    )
    if found is None:
        raise ApiError(404, f"no supervision {wanted}")
    if not ctx.services.scope.allows(ctx.principal, (found.agent,)):
        raise ApiError(403, "this supervision is not of one of your teams' agents")
    return found


async def list_supervisions(ctx: Context) -> web.StreamResponse:
    scope, principal = ctx.services.scope, ctx.principal
    items = [
        supervision_body(s)
        for s in ctx.services.control.supervisions()
        if scope.allows(principal, (s.agent,))
    ]
    return json_response({"items": items})


async def change_supervision(ctx: Context) -> web.StreamResponse:
    found = _supervision_in_scope(ctx)
    mode, _ = await _mode_of(ctx)
    try:
        view = ctx.services.control.supervision_mode(found.supervision_id, mode)
    except LookupError as exc:
        raise _refused(exc) from exc
    return json_response(supervision_body(view))


async def stop_supervision(ctx: Context) -> web.StreamResponse:
    found = _supervision_in_scope(ctx)
    try:
        ctx.services.control.stop_supervision(found.supervision_id)
    except LookupError as exc:
        raise _refused(exc) from exc
    return web.Response(status=204)


class SupervisionEvents:
    """calls/supervision.py's events on the hub, scoped by the agent's and the supervisor's
    extensions."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    def supervision_event(self, event: SupervisionEvent) -> None:
        if isinstance(event, SupervisionStarted):
            name = "supervision_started"
        elif isinstance(event, SupervisionEnded):
            name = "supervision_ended"
        else:
            name = "supervision_changed"
        data: dict[str, object] = {
            "supervision_id": event.supervision_id,
            "call_id": event.call_id,
            "agent": event.agent,
            "supervisor": event.supervisor,
            "mode": event.mode,
        }
        if isinstance(event, SupervisionEnded):
            data["cause"] = event.cause
        elif isinstance(event, SupervisionChanged):
            data["state"] = event.state  # "waiting": the call is over, the next one is joined
        self._hub.publish(name, data, (event.agent, event.supervisor))


_UNAUTHORIZED = (401, ("no token, or a token that is unknown or expired", "Error"))
_FORBIDDEN = (403, ("the token's role or scope does not allow this", "Error"))
_BAD = (400, ("no mode of listen, whisper, barge; or no supervisor extension", "Error"))
_NOT_FOUND = (404, ("no such agent or supervision, or the agent is on no call", "Error"))
_CONFLICT = (409, ("the call is supervised already, or the phone is unreachable", "Error"))
_ONE = "/api/v1/supervisions/{supervision_id}"

SUPERVISION_ROUTES: Final[Sequence[Route]] = (
    Route(
        "POST",
        "/api/v1/agents/{agent_number}/supervise",
        "supervise_agent",
        "Ring the supervisor's phone; answered, it listens to, whispers to or barges into the "
        "agent's call",
        "agentd.agents.{agent_number}.supervise.create",
        supervise_agent,
        dict(
            [
                (201, ("the supervision, ringing", "Supervision")),
                _BAD,
                _UNAUTHORIZED,
                _FORBIDDEN,
                _NOT_FOUND,
                _CONFLICT,
            ]
        ),
        int_params=("agent_number",),
        body="SuperviseRequest",
    ),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/supervise",
        "supervise_call",
        "Ring the supervisor's phone; answered, it listens to, whispers to or barges into the "
        "call (its agent: the extension it rang, or its caller)",
        "calld.calls.{call_id}.supervise.create",
        supervise_call,
        dict(
            [
                (201, ("the supervision, ringing", "Supervision")),
                _BAD,
                _UNAUTHORIZED,
                _FORBIDDEN,
                _NOT_FOUND,
                _CONFLICT,
            ]
        ),
        int_params=("call_id",),
        body="SuperviseRequest",
    ),
    Route(
        "GET",
        "/api/v1/supervisions",
        "list_supervisions",
        "Supervisions of the agents in the token's scope",
        "calld.supervisions.read",
        list_supervisions,
        dict([(200, ("the supervisions", "SupervisionList")), _UNAUTHORIZED, _FORBIDDEN]),
    ),
    Route(
        "PUT",
        _ONE,
        "change_supervision",
        "Switch the supervision to listen, whisper or barge",
        "calld.supervisions.{supervision_id}.update",
        change_supervision,
        dict(
            [
                (200, ("the supervision", "Supervision")),
                _BAD,
                _UNAUTHORIZED,
                _FORBIDDEN,
                _NOT_FOUND,
                _CONFLICT,
            ]
        ),
        int_params=("supervision_id",),
        body="SupervisionModeRequest",
    ),
    Route(
        "DELETE",
        _ONE,
        "stop_supervision",
        "Stop the supervision: the supervisor's leg is hung up, the call goes on",
        "calld.supervisions.{supervision_id}.delete",
        stop_supervision,
        dict([(204, ("done", None)), _UNAUTHORIZED, _FORBIDDEN, _NOT_FOUND]),
        int_params=("supervision_id",),
    ),
)
