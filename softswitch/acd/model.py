"""Frozen configuration of the ACD: queues, agents, skills, strategies and exits.

Parsed from TOML by `settings.py`; the engine only ever reads these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

MIN_PRIORITY: Final = 0
MAX_PRIORITY: Final = 9
MIN_PROFICIENCY: Final = 1
MAX_PROFICIENCY: Final = 10
NO_ANSWER_REASON: Final = "no answer"  # the reason given when max_no_answer is reached


@dataclass(frozen=True)
class Requirement:
    """A caller needs an agent with `skill` at `min_proficiency` or better."""

    skill: str
    min_proficiency: int


@dataclass(frozen=True)
class WideningRule:
    """After `after_s` in the queue, accept agents down to `min_proficiency`; 0 means anyone
    in the queue, with or without the skill (app_queue's penalty rules, mod_callcenter's
    tier rules)."""

    after_s: float
    min_proficiency: int


class TargetKind(StrEnum):
    """Where a caller goes when it leaves a queue other than to an agent."""

    QUEUE = "queue"  # another queue, keeping the original entry time
    VOICEMAIL = "voicemail"
    FLOW = "flow"
    HANGUP = "hangup"
    CALLBACK = "callback"  # only as an exit key: the caller's place is kept for a callback


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    name: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else str(self.kind)


HANGUP: Final = Target(TargetKind.HANGUP)


class EmptyPolicy(StrEnum):
    """When a queue counts as empty for join-empty / leave-empty."""

    NEVER = "never"  # never empty: callers always join and stay
    NO_AGENTS = "no_agents"  # no member logged in
    NO_READY = "no_ready"  # no member logged in and not paused (ready, ringing, on a call, wrap-up)


@dataclass(frozen=True)
class CallbackPolicy:
    """How a callback that kept the caller's place is dialled."""

    retries: int = 2  # further attempts after the first one fails
    retry_delay_s: float = 60.0  # the entry waits this long (keeping its place) before a retry
    dial_timeout_s: float = 30.0  # no answer from the caller's number within this = a failure


@dataclass(frozen=True, kw_only=True)
class QueueConfig:
    """One queue. Timers are in seconds; 0 turns max_wait_s, max_length and the steps off."""

    number: str
    name: str = ""
    strategy: str = "longest-idle"
    requirements: tuple[Requirement, ...] = ()
    widening: tuple[WideningRule, ...] = ()  # sorted by after_s
    ring_timeout_s: float = 15.0
    max_no_answer: int = 3  # consecutive no-answers before the agent goes not ready; 0 = never
    no_answer_delay_s: float = 0.0  # mod_callcenter's no-answer-delay-time
    reject_delay_s: float = 10.0  # mod_callcenter's reject-delay-time
    busy_delay_s: float = 10.0  # mod_callcenter's busy-delay-time
    wrap_up_s: float = 0.0
    max_wait_s: float = 0.0
    overflow: Target = HANGUP  # where max_wait_s sends the caller
    join_empty: EmptyPolicy = EmptyPolicy.NEVER
    leave_empty: EmptyPolicy = EmptyPolicy.NEVER
    empty_target: Target = HANGUP  # where join/leave-empty send the caller
    max_length: int = 0
    full_target: Target = HANGUP
    exit_keys: tuple[tuple[str, Target], ...] = ()  # DTMF digit -> target
    priority_step_s: float = 0.0  # priority rises by one every this many seconds of wait
    progressive_step_s: float = 5.0  # ring-progressively adds an agent this often
    callback: CallbackPolicy = CallbackPolicy()
    default_handle_time_s: float = 180.0  # EWT's handle time until calls have been measured
    service_level_s: float = 20.0  # T: answered within it counts toward the service level
    short_abandon_s: float = 5.0  # S: callers who hang up sooner were never really offered
    abandon_treatment: str = "against"  # statistics.AbandonTreatment: against, ignore, in-favour
    screen_pop_url: str = ""  # template: {caller}, {queue}, {agent}, {var.NAME} (IVR variables)
    moh_class: str = "default"  # the music-on-hold class its waiting callers hear
    announce_every_s: float = 30.0  # position and wait again this often; 0 = at entry only
    caller_id: str = ""  # what trunks see when an agent whose outbound_queue this is dials out

    def exit_target(self, digit: str) -> Target | None:
        for key, target in self.exit_keys:
            if key == digit:
                return target
        return None


@dataclass(frozen=True)
class Membership:
    """An agent in a queue. `level` and `position` order sequential and linear strategies
    (lower first); `weight` biases weighted-random."""

    queue: str
    level: int = 1
    position: int = 0
    weight: float = 1.0


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """An agent (an extension number); skills map a name to proficiency 1-10."""

    number: str
    name: str = ""
    skills: tuple[tuple[str, int], ...] = ()
    memberships: tuple[Membership, ...] = ()
    outbound_queue: str = ""  # its outbound calls present this queue's caller_id, and are logged

    def proficiency(self, skill: str) -> int:
        for name, level in self.skills:
            if name == skill:
                return level
        return 0


@dataclass(frozen=True)
class AcdConfig:
    queues: tuple[QueueConfig, ...] = ()
    agents: tuple[AgentConfig, ...] = ()
    # Reason codes an agent may give with *47 + digits, code -> reason.
    not_ready_reasons: tuple[tuple[str, str], ...] = field(
        default=(("1", "break"), ("2", "lunch"), ("3", "training"), ("4", "meeting"))
    )
    recent_handle_times: int = 50  # EWT keeps this many recent handle times per queue

    def reason_for_code(self, code: str) -> str | None:
        for key, reason in self.not_ready_reasons:
            if key == code:
                return reason
        return None
