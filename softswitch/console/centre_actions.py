"""The call centre's commands of the console: agents' states and waiting callers.

`:pause AGENT REASON`, `:ready AGENT`, `:login AGENT`, `:logout AGENT`, `:wrapup AGENT`,
`:move CALL QUEUE`, `:head CALL`, and the agent's `:transfer CALL TARGET` (blind) and `:answer
[CALL]` (the phone answers by itself, api/answer.py; default: the call offered): each is one
API request (api/client.py) on the live
connection; what it changed comes back as pushed events (agent_state_changed,
queue_caller_left/joined), so nothing here edits the console's model. A waiting caller is named
by its call id alone: the console finds its queue from the callers it was told about.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from softswitch.api.client import ApiClient
from softswitch.console.centre_state import CentreConsoleState
from softswitch.console.commands import Command, CommandError

CENTRE_COMMANDS: Final = frozenset(
    {"pause", "ready", "login", "logout", "wrapup", "move", "head", "transfer", "answer"}
)

Send = Callable[[Callable[[ApiClient], Awaitable[None]]], Awaitable[None]]


def queue_of(state: CentreConsoleState, call: int) -> str:
    """The queue where `call` waits, as the pushed events said; CommandError when none."""
    for number, queue in sorted(state.queues.items()):
        if call in queue.callers:
            return number
    raise CommandError(f"call {call} is not waiting in a queue")


async def run_centre_command(command: Command, state: CentreConsoleState, send: Send) -> str:
    """Send the command's request; returns what to say on the message line."""
    name, args = command.name, command.args
    if name == "pause":
        agent, reason = args[0], " ".join(args[1:])
        await send(lambda api: api.agent_pause(agent, reason))
        return f"agent {agent} not ready: {reason}"
    if name in ("ready", "login", "logout", "wrapup"):
        agent = args[0]
        if name == "ready":
            await send(lambda api: _ready(api, agent, state))
            return f"agent {agent} ready"
        if name == "login":
            await send(lambda api: api.agent_login(agent))
            return f"agent {agent} logged in"
        if name == "logout":
            await send(lambda api: api.agent_logoff(agent))
            return f"agent {agent} logged out"
        await send(lambda api: api.agent_end_wrap_up(agent))
        return f"agent {agent}: wrap-up ended"
    if name == "answer":
        call = command.number(0, _offered(state))
        await send(lambda api: _answer(api, call))
        return f"call {call}: your phone answers"
    call = command.number(0)
    if name == "transfer":
        # The agent's leg (the call's last party: the caller is leg 1) transfers its peer.
        row = state.calls.get(call)
        leg, target = (max(row.legs) if row is not None and row.legs else 2), args[1]
        await send(lambda api: api.transfer(call, leg, target))
        return f"call {call}: the caller is transferred to {target}"
    queue = queue_of(state, call)
    if name == "move":
        to_queue = args[1]
        await send(lambda api: api.move_caller(queue, call, to_queue))
        return f"call {call} moved from queue {queue} to {to_queue}"
    await send(lambda api: api.caller_to_head(queue, call))
    return f"call {call} is first in queue {queue}"


def _offered(state: CentreConsoleState) -> int:
    """The call last offered to the user's agent, as `call_offered` said."""
    offer = None if state.me is None else state.offers.get(state.me)
    if offer is None or offer.call_id is None:
        raise CommandError("answer: no call is offered to you (give CALL)")
    return offer.call_id


async def _answer(api: ApiClient, call: int) -> None:
    await api.answer(call)


async def _ready(api: ApiClient, agent: str, state: CentreConsoleState) -> None:
    """Ready from any state a person means by it: a logged-out agent is logged in (the ACD
    makes it ready); from not ready or wrap-up the ACD's ready does it."""
    row = state.agents.get(agent)
    if row is not None and row.state == "logged out":
        await api.agent_login(agent)
    else:
        await api.agent_ready(agent)
