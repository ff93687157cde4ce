"""Answer from a screen and intercept, over the API.

`POST /api/v1/calls/{call_id}/answer` makes the phone ringing for the call answer by itself
(calls/answer.py: CANCEL, then an INVITE with auto-answer headers): an agent's own phone, or for
a supervisor or admin the `extension` in the body (within its teams). 202: the phone is asked;
`call_answered` with `by: "api"` follows when it answers.

`POST /api/v1/calls/{call_id}/intercept` rings the supervisor's phone (its own; an admin may name
any); answered, it takes the call over from the agent, who is hung up and goes to wrap-up
(calls/intercept.py). Supervisors (within their teams) and admins only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from aiohttp import web

from softswitch.api.routes import (
    ApiError,
    Context,
    Route,
    agents_on_calls,
    json_response,
    parties_with_agents,
    read_json_object,
)
from softswitch.config_api import Role

MAX_EXTENSION_CHARS: Final = 64


async def _extension(ctx: Context) -> str:
    """The body's `extension` (optional, no body at all is fine), else the user's own."""
    request = ctx.request
    body = await read_json_object(request) if request.can_read_body else {}
    return extension_in(body, ctx.principal.extension)


def extension_in(body: Mapping[str, object], default: str | None) -> str:
    """A JSON body's `extension`, else `default`: 1 to 64 characters; ApiError 400 if not."""
    extension = body.get("extension", default)
    if not isinstance(extension, str) or not 0 < len(extension) <= MAX_EXTENSION_CHARS:
        raise ApiError(400, "no extension: give one, or give your user an extension")
    return extension


def _refused(exc: LookupError) -> ApiError:
    return ApiError(getattr(exc, "status_hint", 404), str(exc))


async def answer_call(ctx: Context) -> web.StreamResponse:
    services, principal = ctx.services, ctx.principal
    call_id = ctx.int_param("call_id")
    try:
        services.control.call(call_id)
    except LookupError as exc:
        raise _refused(exc) from exc
    extension = await _extension(ctx)
    if extension != principal.extension and not services.scope.allows(principal, (extension,)):
        raise ApiError(403, "that extension is not yours or your teams'")
    try:
        answering = services.control.answer(call_id, extension)
    except LookupError as exc:
        raise _refused(exc) from exc
    body = {"call_id": answering.call_id, "leg_id": answering.leg_id, "extension": extension}
    return json_response(body, 202)


async def intercept_call(ctx: Context) -> web.StreamResponse:
    services, principal = ctx.services, ctx.principal
    try:
        call = services.control.call(ctx.int_param("call_id"))
    except LookupError as exc:
        raise _refused(exc) from exc
    if not services.scope.allows(principal, parties_with_agents(call, agents_on_calls(ctx))):
        raise ApiError(403, "this call is not one of your teams'")
    extension = await _extension(ctx)
    if principal.role is not Role.ADMIN and extension != principal.extension:
        raise ApiError(403, "a supervisor intercepts to its own phone only")
    try:
        interception = services.control.intercept(call.call_id, extension)
    except LookupError as exc:
        raise _refused(exc) from exc
    body = {
        "call_id": interception.call_id,
        "agent": interception.agent,
        "supervisor": interception.supervisor,
        "leg_id": interception.leg_id,
    }
    return json_response(body, 202)


_UNAUTHORIZED = (401, ("no token, or a token that is unknown or expired", "Error"))
_FORBIDDEN = (403, ("the token's role or scope does not allow this", "Error"))
_BAD = (400, ("the body is not an object with a string extension", "Error"))

ANSWER_ROUTES: Final[Sequence[Route]] = (
    Route(
        "POST",
        "/api/v1/calls/{call_id}/answer",
        "answer_call",
        "Answer the call on the phone ringing for it (the user's, or `extension`): the switch "
        "re-rings it with auto-answer headers; the offer stays the same",
        "calld.calls.{call_id}.answer.create",
        answer_call,
        dict(
            [
                (202, ("the phone is asked to answer", "Answering")),
                _BAD,
                _UNAUTHORIZED,
                _FORBIDDEN,
                (404, ("no such call", "Error")),
                (409, ("that extension's phone is not ringing for this call", "Error")),
            ]
        ),
        int_params=("call_id",),
        body="AnswerRequest",
        body_optional=True,
    ),
    Route(
        "POST",
        "/api/v1/calls/{call_id}/intercept",
        "intercept_call",
        "Ring the supervisor's phone; answered, it takes the call over and the agent is hung up",
        "calld.calls.{call_id}.intercept.create",
        intercept_call,
        dict(
            [
                (202, ("the supervisor's phone rings", "Interception")),
                _BAD,
                _UNAUTHORIZED,
                _FORBIDDEN,
                (404, ("no such call, or it has no agent on it", "Error")),
                (409, ("on hold, placed by the agent, or the phone is unreachable", "Error")),
            ]
        ),
        int_params=("call_id",),
        body="InterceptRequest",
        body_optional=True,
    ),
)
