"""`[api]` and `[[users]]`: where the CTI API listens and who may use it, typed and checked.

Users have a role (admin, supervisor, agent); an agent has its agent number and the extension
of its phone, a supervisor the teams it leads, an agent the teams it belongs to. Credentials are
a `password` or a salted `password_hash` (`softswitch hash-password` prints one). Mistakes are
`ConfigError`s located by file and key, like the rest of the configuration.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from softswitch.config_table import MISSING, Table
from softswitch.security.passwords import PasswordHash, PasswordHashError

API_KEYS: Final = (
    "host",
    "port",
    "token_lifetime_s",
    "max_login_failures",
    "login_failure_window_s",
    "event_queue_size",
)
USER_KEYS: Final = ("username", "password", "password_hash", "role", "agent", "extension", "teams")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_AGENT_RE: Final = re.compile(r"[0-9]{1,16}")


class Role(StrEnum):
    ADMIN = "admin"  # everything
    SUPERVISOR = "supervisor"  # the agents (and their calls) of the teams it leads
    AGENT = "agent"  # itself and its own calls


@dataclass(frozen=True)
class ApiUser:
    username: str
    role: Role
    password: str | None = field(default=None, repr=False)
    password_hash: PasswordHash | None = field(default=None, repr=False)
    agent: str | None = None  # agents: the agent number
    extension: str | None = None  # the user's phone: an agent's; a supervisor's to supervise
    teams: tuple[str, ...] = ()  # supervisors: teams led; agents: teams belonged to


@dataclass(frozen=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = off; the example configuration serves on 8088
    token_lifetime_s: float = 3600.0
    max_login_failures: int = 5  # per source address and per username, within the window
    login_failure_window_s: float = 60.0
    event_queue_size: int = 256  # events waiting for one WebSocket before it is dropped
    users: tuple[ApiUser, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.port != 0


def parse_api(root: Table, extensions: set[str]) -> ApiConfig:
    """`[api]` and `[[users]]` of the root table; `extensions` are the configured numbers."""
    t = root.table("api", API_KEYS)
    host: str = t.get("host", "127.0.0.1", _is_ip, "an IP address")
    return ApiConfig(
        host=host,
        port=t.integer("port", 0, 0, 65535),
        token_lifetime_s=t.seconds("token_lifetime_s", 3600.0),
        max_login_failures=t.integer("max_login_failures", 5, 1),
        login_failure_window_s=t.seconds("login_failure_window_s", 60.0),
        event_queue_size=t.integer("event_queue_size", 256, 1, 100_000),
        users=_parse_users(root, extensions),
    )


def _parse_users(root: Table, extensions: set[str]) -> tuple[ApiUser, ...]:
    users: list[ApiUser] = []
    names: dict[str, int] = {}
    agents: dict[str, int] = {}
    for index, t in enumerate(root.tables("users", USER_KEYS)):
        username: str = t.get(
            "username",
            MISSING,
            lambda v: isinstance(v, str) and bool(_NAME_RE.fullmatch(v)),
            "a name of letters, digits and . _ @ - (at most 64)",
        )
        if username in names:
            raise t.error("username", f"{username!r} is also users[{names[username]}]")
        names[username] = index
        role = Role(t.choice("role", MISSING, tuple(Role)))
        password: str | None = t.string("password", None, empty=False)
        hashed = _password_hash(t)
        if (password is None) == (hashed is None):
            raise t.error(None, "needs exactly one of password and password_hash")
        teams = tuple(t.strings("teams"))
        if any(not _NAME_RE.fullmatch(team) for team in teams):
            raise t.error("teams", "team names are letters, digits and . _ @ -")
        agent: str | None = None
        extension: str | None = None
        if role is Role.AGENT:
            agent = t.get("agent", MISSING, _is_agent_number, "an agent number (digits)")
            if agent in agents:
                raise t.error("agent", f"agent {agent} is also users[{agents[agent]}]")
            agents[agent] = index
            extension = t.string("extension", empty=False)
            if extension not in extensions:
                raise t.error("extension", f"no extension {extension}")
        else:
            if "agent" in t.data:
                raise t.error("agent", f"only for role 'agent', not {role.value!r}")
            if "extension" in t.data:  # the phone a supervisor supervises from (*33..*35)
                extension = t.string("extension", empty=False)
                if extension not in extensions:
                    raise t.error("extension", f"no extension {extension}")
            if role is Role.ADMIN and teams:
                raise t.error("teams", "an admin acts on every team: leave teams out")
        users.append(ApiUser(username, role, password, hashed, agent, extension, teams))
    return tuple(users)


def _password_hash(t: Table) -> PasswordHash | None:
    text: str | None = t.string("password_hash", None, empty=False)
    if text is None:
        return None
    try:
        return PasswordHash.parse(text)
    except PasswordHashError as exc:
        raise t.error("password_hash", str(exc)) from exc


def _is_agent_number(value: object) -> bool:
    return isinstance(value, str) and bool(_AGENT_RE.fullmatch(value))


def _is_ip(value: object) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return isinstance(value, str)
