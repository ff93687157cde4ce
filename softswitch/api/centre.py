"""The call centre over the API: agents and queues, and the Protocol the centre layer fills.

`CentreControl` names what the routes read and command; `centre/queue.py`'s `CallCentre`
implements it over the ACD engine, and tests may hand in any other. Commands raise an
`acd.errors.AcdError`, whose `status_hint` (404 unknown agent or queue, 409 not allowed in
the agent's state) becomes the HTTP status. Scope: an agent reaches only its own agent number,
a supervisor the agents of its teams and the queues they are members of, an admin everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol

from aiohttp import web

from softswitch.acd.agent import AgentState
from softswitch.acd.errors import AcdError
from softswitch.acd.statistics import AgentFigures, Interval, QueueFigures
from softswitch.api.routes import ApiError, Context, Route, iso, json_response, read_json_object

MAX_REASON_CHARS: Final = 64
INTERVALS: Final = {"15m": Interval.LAST_15_MIN, "30m": Interval.LAST_30_MIN}
INTERVALS.update({"60m": Interval.LAST_60_MIN, "today": Interval.TODAY})
INTERVAL_NAMES: Final = {interval: name for name, interval in INTERVALS.items()}


class WaitingCaller(Protocol):
    @property
    def call(self) -> str: ...
    @property
    def caller_number(self) -> str: ...
    @property
    def wait_s(self) -> float: ...
    @property
    def position(self) -> int: ...


class CentreControl(Protocol):
    """What the API needs of the call centre; every command raises AcdError on refusal."""

    def now(self) -> float: ...

    def agent_numbers(self) -> Sequence[str]: ...

    def agent_figures(self, agent: str) -> AgentFigures: ...

    def agent_queues(self, agent: str) -> Sequence[str]: ...

    def login(self, agent: str) -> None: ...

    def logout(self, agent: str) -> None: ...

    def pause(self, agent: str, reason: str) -> None: ...

    def ready(self, agent: str) -> None: ...

    def end_wrap_up(self, agent: str) -> None: ...

    def queue_numbers(self) -> Sequence[str]: ...

    def queue_name(self, queue: str) -> str: ...

    def queue_members(self, queue: str) -> Sequence[str]: ...

    def queue_figures(self, queue: str, interval: Interval) -> QueueFigures: ...

    def waiting_callers(self, queue: str) -> Sequence[WaitingCaller]: ...

    def move_caller(self, call: str, queue: str) -> None: ...

    def caller_to_head(self, call: str) -> None: ...


def agent_body(figures: AgentFigures, queues: Sequence[str], now: float) -> dict[str, object]:
    return {
        "agent": figures.agent,
        "state": figures.state.value,
        "reason": figures.reason or None,
        "since": iso(figures.since) if figures.state is not AgentState.LOGGED_OUT else None,
        "time_in_state_s": round(max(0.0, now - figures.since), 3),
        "call_id": int(figures.call) if figures.call and figures.call.isdigit() else None,
        "calls_handled": figures.calls_handled,
        "talk_s": round(figures.talk_s, 3),
        "wrap_up_s": round(figures.wrap_up_s, 3),
        "queues": list(queues),
    }


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def statistics_body(f: QueueFigures) -> dict[str, object]:
    return {
        "queue": f.queue,
        "interval": INTERVAL_NAMES[f.interval],
        "offered": f.offered,
        "answered": f.answered,
        "abandoned": f.abandoned,
        "short_abandoned": f.short_abandoned,
        "answered_within": f.answered_within,
        "abandoned_within": f.abandoned_within,
        "service_level": _rate(f.service_level),
        "asa_s": _rate(f.asa_s),
        "aht_s": _rate(f.aht_s),
        "abandon_rate": _rate(f.abandon_rate),
        "answer_rate": _rate(f.answer_rate),
        "waiting": f.waiting,
        "longest_wait_s": round(f.longest_wait_s, 3),
        "agents_by_state": dict(f.agents_by_state),
    }


def _centre(ctx: Context) -> CentreControl:
    centre = ctx.services.centre
    if centre is None:
        raise ApiError(404, "this switch has no call centre")
    return centre


def _agent_in_scope(ctx: Context) -> tuple[CentreControl, str]:
    centre = _centre(ctx)
    agent = ctx.request.match_info["agent_number"]
    if agent not in centre.agent_numbers():
        raise ApiError(404, f"no agent {agent}")
    if not ctx.services.scope.allows_agent(ctx.principal, agent):
        raise ApiError(403, "this agent is not you or one of your teams'")
    return centre, agent


def _queue_in_scope(ctx: Context) -> tuple[CentreControl, str]:
    centre = _centre(ctx)
    queue = ctx.request.match_info["queue"]
    if queue not in centre.queue_numbers():
        raise ApiError(404, f"no queue {queue}")
    if not _reaches_queue(ctx, centre, queue):
        raise ApiError(403, "this queue has none of your teams' agents")
    return centre, queue


def _reaches_queue(ctx: Context, centre: CentreControl, queue: str) -> bool:
    reach = ctx.services.scope.reach_agents(ctx.principal)
    return reach is None or any(a in reach for a in centre.queue_members(queue))


def _interval(ctx: Context) -> Interval:
    name = ctx.request.query.get("interval", "15m")
    if name not in INTERVALS:
        raise ApiError(400, f"interval must be one of {', '.join(INTERVALS)}")
    return INTERVALS[name]


def _command(action: Callable[[], None]) -> web.StreamResponse:
    try:
        action()
    except AcdError as exc:
        raise ApiError(exc.status_hint, str(exc)) from exc
    return web.Response(status=204)


async def list_agents(ctx: Context) -> web.StreamResponse:
    centre, scope = _centre(ctx), ctx.services.scope
    now = centre.now()
    items = [
        agent_body(centre.agent_figures(a), centre.agent_queues(a), now)
        for a in centre.agent_numbers()
        if scope.allows_agent(ctx.principal, a)
    ]
    return json_response({"items": items})


async def read_agent(ctx: Context) -> web.StreamResponse:
    centre, agent = _agent_in_scope(ctx)
    now = centre.now()
    return json_response(agent_body(centre.agent_figures(agent), centre.agent_queues(agent), now))


async def login_agent(ctx: Context) -> web.StreamResponse:
    centre, agent = _agent_in_scope(ctx)
    return _command(lambda: centre.login(agent))


async def logoff_agent(ctx: Context) -> web.StreamResponse:
    centre, agent = _agent_in_scope(ctx)
    return _command(lambda: centre.logout(agent))


async def pause_agent(ctx: Context) -> web.StreamResponse:
    centre, agent = _agent_in_scope(ctx)
    body = await read_json_object(ctx.request)
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise ApiError(400, f"reason must be a string of at most {MAX_REASON_CHARS} characters")
    return _command(lambda: centre.pause(agent, reason))


async def ready_agent(ctx: Context) -> web.StreamResponse:
    centre, agent = _agent_in_scope(ctx)
    return _command(lambda: centre.ready(agent))


async def end_wrap_up(ctx: Context) -> web.StreamResponse:
    centre, agent = _agent_in_scope(ctx)
    return _command(lambda: centre.end_wrap_up(agent))


def queue_body(centre: CentreControl, queue: str, interval: Interval) -> dict[str, object]:
    return {
        "queue": queue,
        "name": centre.queue_name(queue),
        "agents": list(centre.queue_members(queue)),
        "callers": [
            {
                "call_id": int(c.call) if c.call.isdigit() else None,
                "caller": c.caller_number,
                "position": c.position,
                "wait_s": round(c.wait_s, 3),
            }
            for c in centre.waiting_callers(queue)
        ],
        "statistics": statistics_body(centre.queue_figures(queue, interval)),
    }


async def list_queues(ctx: Context) -> web.StreamResponse:
    centre, interval = _centre(ctx), _interval(ctx)
    items = [
        queue_body(centre, q, interval)
        for q in centre.queue_numbers()
        if _reaches_queue(ctx, centre, q)
    ]
    return json_response({"items": items})


async def read_queue(ctx: Context) -> web.StreamResponse:
    centre, queue = _queue_in_scope(ctx)
    return json_response(queue_body(centre, queue, _interval(ctx)))


async def read_queue_statistics(ctx: Context) -> web.StreamResponse:
    centre, queue = _queue_in_scope(ctx)
    return json_response(statistics_body(centre.queue_figures(queue, _interval(ctx))))


def _waiting_in_scope(ctx: Context) -> tuple[CentreControl, str, str]:
    """(centre, queue, call) of a caller waiting in a queue in the token's scope."""
    centre, queue = _queue_in_scope(ctx)
    call = ctx.request.match_info["call_id"]
    if call not in {c.call for c in centre.waiting_callers(queue)}:
        raise ApiError(404, f"call {call} is not waiting in queue {queue}")
    return centre, queue, call


async def move_caller(ctx: Context) -> web.StreamResponse:
    centre, _, call = _waiting_in_scope(ctx)
    body = await read_json_object(ctx.request)
    target = body.get("queue")
    if not isinstance(target, str) or target not in centre.queue_numbers():
        raise ApiError(400, "queue must be the number of a configured queue")
    if not _reaches_queue(ctx, centre, target):
        raise ApiError(403, "the target queue has none of your teams' agents")
    return _command(lambda: centre.move_caller(call, target))


async def caller_to_head(ctx: Context) -> web.StreamResponse:
    centre, _, call = _waiting_in_scope(ctx)
    return _command(lambda: centre.caller_to_head(call))


_UNAUTHORIZED = (401, ("no token, or a token that is unknown or expired", "Error"))
_FORBIDDEN = (403, ("the token's role or scope does not allow this", "Error"))
_NO_AGENT = (404, ("no such agent, or no call centre", "Error"))
_NO_QUEUE = (404, ("no such queue, or no call centre", "Error"))
_STATE = (409, ("not allowed in the agent's state", "Error"))
_BAD_INTERVAL = (400, ("an interval other than 15m, 30m, 60m, today", "Error"))
_NO_CONTENT = (204, ("done", None))
_NO_CALLER = (404, ("no such queue, or the call is not waiting in it", "Error"))
_BAD_QUEUE = (400, ("the body names no configured queue", "Error"))
_INTERVAL_QUERY = {"interval": "15m (default), 30m, 60m or today: the statistics' interval"}
_AGENT = "/api/v1/agents/{agent_number}"
_ACL = "agentd.agents.{agent_number}"


def _agent_command(verb: str, op: str, summary: str, handler: object, **kw: object) -> Route:
    acl_verb = verb.replace("/", ".").replace("-", "")
    return Route(
        "POST",
        f"{_AGENT}/{verb}",
        op,
        summary,
        f"{_ACL}.{acl_verb}.create",
        handler,  # type: ignore[arg-type]
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_AGENT, _STATE]),
        int_params=("agent_number",),
        **kw,  # type: ignore[arg-type]
    )


CENTRE_ROUTES: Final[Sequence[Route]] = (
    Route(
        "GET",
        "/api/v1/agents",
        "list_agents",
        "Agents in the token's scope: state, reason, time in state, call, today's figures",
        "agentd.agents.read",
        list_agents,
        dict([(200, ("the agents", "AgentList")), _UNAUTHORIZED, _FORBIDDEN]),
    ),
    Route(
        "GET",
        _AGENT,
        "read_agent",
        "One agent",
        f"{_ACL}.read",
        read_agent,
        dict([(200, ("the agent", "Agent")), _UNAUTHORIZED, _FORBIDDEN, _NO_AGENT]),
        int_params=("agent_number",),
    ),
    _agent_command("login", "login_agent", "Log the agent in: it becomes ready", login_agent),
    _agent_command("logoff", "logoff_agent", "Log the agent out", logoff_agent),
    _agent_command(
        "pause",
        "pause_agent",
        "Not ready with a reason (on a call: when the call ends)",
        pause_agent,
        body="PauseRequest",
    ),
    _agent_command("ready", "ready_agent", "Ready (also ends wrap-up)", ready_agent),
    _agent_command(
        "wrap-up/end", "end_wrap_up", "End the agent's wrap-up now (409 if not in it)", end_wrap_up
    ),
    Route(
        "GET",
        "/api/v1/queues",
        "list_queues",
        "Queues in the token's scope: callers waiting and their wait, agents, statistics",
        "agentd.queues.read",
        list_queues,
        dict([(200, ("the queues", "QueueList")), _BAD_INTERVAL, _UNAUTHORIZED, _FORBIDDEN]),
        query=_INTERVAL_QUERY,
    ),
    Route(
        "GET",
        "/api/v1/queues/{queue}",
        "read_queue",
        "One queue",
        "agentd.queues.{queue}.read",
        read_queue,
        dict([(200, ("the queue", "Queue")), _BAD_INTERVAL, _UNAUTHORIZED, _FORBIDDEN, _NO_QUEUE]),
        int_params=("queue",),
        query=_INTERVAL_QUERY,
    ),
    Route(
        "GET",
        "/api/v1/queues/{queue}/statistics",
        "read_queue_statistics",
        "Live statistics of one queue over the interval",
        "agentd.queues.{queue}.statistics.read",
        read_queue_statistics,
        dict(
            [
                (200, ("the statistics", "QueueStatistics")),
                _BAD_INTERVAL,
                _UNAUTHORIZED,
                _FORBIDDEN,
                _NO_QUEUE,
            ]
        ),
        int_params=("queue",),
        query=_INTERVAL_QUERY,
    ),
    Route(
        "POST",
        "/api/v1/queues/{queue}/callers/{call_id}/move",
        "move_caller",
        "Move a waiting caller to another queue {queue}; it keeps its original entry time",
        "agentd.queues.{queue}.callers.{call_id}.move.create",
        move_caller,
        dict([_NO_CONTENT, _BAD_QUEUE, _UNAUTHORIZED, _FORBIDDEN, _NO_CALLER, _STATE]),
        int_params=("queue", "call_id"),
        body="MoveRequest",
    ),
    Route(
        "POST",
        "/api/v1/queues/{queue}/callers/{call_id}/head",
        "caller_to_head",
        "Put a waiting caller first: priority 9 (callers at 9 who waited longer stay ahead)",
        "agentd.queues.{queue}.callers.{call_id}.head.create",
        caller_to_head,
        dict([_NO_CONTENT, _UNAUTHORIZED, _FORBIDDEN, _NO_CALLER, _STATE]),
        int_params=("queue", "call_id"),
    ),
)
