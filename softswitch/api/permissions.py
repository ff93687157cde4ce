"""Who may do what: Wazo-style ACL names, what each role is granted, and the scope rules.

An ACL is a dotted name such as ``calld.calls.17.delete``. A route names its ACL with its path
parameters in braces (``calld.calls.{call_id}.delete``), filled in per request. A role is
granted patterns in which ``*`` matches one segment and ``#`` any number of them (as Wazo's
auth does). On top of the ACL, scope narrows what a user reaches: an agent only its own calls
(its extension is a party), a supervisor the calls of the agents of the teams it leads, an
admin everything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Final

from softswitch.api.auth import Principal
from softswitch.config_api import ApiUser, Role

# What each role is granted. Everything an agent may do, a supervisor may do on its teams.
_CALLS: Final = (
    "calld.calls.read",
    "calld.calls.*.read",
    "calld.calls.*.delete",
    "calld.calls.*.legs.*.hold.update",
    "calld.calls.*.legs.*.resume.update",
    "calld.calls.*.recording.update",  # pause for a card number, resume
    "calld.calls.*.transfer.create",  # blind, or attended (consult first)
    "calld.calls.*.transfer.update",  # complete or cancel the attended transfer
    "calld.calls.*.conference.create",  # three-way: add a third party
    "calld.calls.create",  # originate from one's own extension (scope checks the extension)
    "calld.calls.*.answer.create",  # answer on one's ringing phone from a screen (api/answer.py)
)
# The call centre (agentd): an agent acts on itself, scope narrows the pattern to its number.
_AGENT_SELF: Final = (
    "agentd.agents.read",
    "agentd.agents.*.read",
    "agentd.agents.*.login.create",
    "agentd.agents.*.logoff.create",
    "agentd.agents.*.pause.create",
    "agentd.agents.*.ready.create",
    "agentd.agents.*.wrapup.end.create",
    "events.agents.#",
)
_QUEUES: Final = ("agentd.queues.#", "events.queues.#")
_ANYONE: Final = (
    "auth.users.me.read",
    "auth.tokens.me.delete",
    "websocketd.connect",
    "events.calls.#",
)
# Supervisors watch their teams' phones and the switch's warnings; trunks are the admin's.
_WATCH: Final = (
    "calld.registrations.read",
    "events.registrations.#",
    "system.logs.read",
    "events.logs.#",
)
# Listen, whisper, barge (api/supervision.py): supervisors only, never agents.
_SUPERVISE: Final = (
    "agentd.agents.*.supervise.create",
    "calld.calls.*.supervise.create",
    "calld.calls.*.intercept.create",  # take an agent's call over (api/answer.py)
    "calld.supervisions.#",
    "events.supervisions.#",
)
ROLE_GRANTS: Final[Mapping[Role, tuple[str, ...]]] = {
    Role.ADMIN: ("#",),
    Role.SUPERVISOR: (*_ANYONE, *_CALLS, *_WATCH, *_AGENT_SELF, *_QUEUES, *_SUPERVISE),
    Role.AGENT: (*_ANYONE, *_CALLS, *_AGENT_SELF),
}


def acl_matches(pattern: str, acl: str) -> bool:
    return _match(tuple(pattern.split(".")), tuple(acl.split(".")))


def _match(pattern: tuple[str, ...], acl: tuple[str, ...]) -> bool:
    if not pattern:
        return not acl
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, acl[skip:]) for skip in range(len(acl) + 1))
    return bool(acl) and head in ("*", acl[0]) and _match(rest, acl[1:])


def granted(role: Role, acl: str) -> bool:
    return any(acl_matches(pattern, acl) for pattern in ROLE_GRANTS[role])


def fill(template: str, params: Mapping[str, str]) -> str:
    """``calld.calls.{call_id}.delete`` with the request's path parameters."""
    return template.format_map(params)


class Teams:
    """Which agents' extensions each team has, from `[[users]]`."""

    def __init__(self, users: Iterable[ApiUser]) -> None:
        self._extensions: dict[str, set[str]] = {}
        self._agents: dict[str, set[str]] = {}
        self._agent_extension: dict[str, str] = {}
        for user in users:
            if user.role is Role.AGENT and user.extension is not None:
                for team in user.teams:
                    self._extensions.setdefault(team, set()).add(user.extension)
            if user.role is Role.AGENT and user.agent is not None:
                for team in user.teams:
                    self._agents.setdefault(team, set()).add(user.agent)
                if user.extension is not None:
                    self._agent_extension[user.agent] = user.extension

    def agents(self, teams: Collection[str]) -> frozenset[str]:
        """The agent numbers of the teams' agent users."""
        found: set[str] = set()
        for team in teams:
            found |= self._agents.get(team, set())
        return frozenset(found)

    def extension_of(self, agent: str) -> str:
        """The agent's extension (events are scoped by extension); its number if none."""
        return self._agent_extension.get(agent, agent)

    def extensions(self, teams: Collection[str]) -> frozenset[str]:
        found: set[str] = set()
        for team in teams:
            found |= self._extensions.get(team, set())
        return frozenset(found)


class Scope:
    """Whether a principal reaches something whose parties are given extension numbers."""

    def __init__(self, teams: Teams) -> None:
        self._teams = teams

    def reach(self, principal: Principal) -> frozenset[str] | None:
        """The extensions a principal acts on; None means every one (admin)."""
        if principal.role is Role.ADMIN:
            return None
        if principal.role is Role.SUPERVISOR:
            return self._teams.extensions(principal.teams)
        return frozenset({principal.extension}) if principal.extension else frozenset()

    def reach_agents(self, principal: Principal) -> frozenset[str] | None:
        """The agent numbers a principal acts on: itself, its teams' agents; None: all."""
        if principal.role is Role.ADMIN:
            return None
        if principal.role is Role.SUPERVISOR:
            return self._teams.agents(principal.teams)
        return frozenset({principal.agent}) if principal.agent else frozenset()

    def allows_agent(self, principal: Principal, agent: str) -> bool:
        reach = self.reach_agents(principal)
        return reach is None or agent in reach

    def extension_of(self, agent: str) -> str:
        return self._teams.extension_of(agent)

    def allows(
        self, principal: Principal, parties: Collection[str], watchers: Collection[str] = ()
    ) -> bool:
        """Whether the principal reaches one of `parties`; a supervisor also one of
        `watchers` (the agents of a queue a call waits in: theirs to watch, not to see)."""
        reach = self.reach(principal)
        if reach is None or any(party in reach for party in parties):
            return True
        return principal.role is Role.SUPERVISOR and any(w in reach for w in watchers)
