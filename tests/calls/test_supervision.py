"""calls/supervision.py without I/O: the routing of the codes, who may supervise, the state
table, and mode names. The media and SIP side is tested end to end in
tests/integration/test_supervised_calls.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.calls.routing import RouteTarget, RoutingPlan
from softswitch.calls.supervision import (
    Supervision,
    SupervisionError,
    SupervisionInput,
    Supervisions,
    SupervisionState,
    mode_named,
    supervision_prefixes,
)
from softswitch.config import INTERNAL_CONTEXT, load_config
from softswitch.media.mixer import SupervisorMode

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_the_codes_route_with_the_extension_after_them() -> None:
    config = load_config(EXAMPLE)
    plan = RoutingPlan(config, prefixes=supervision_prefixes(config.features.supervisor))
    assert plan.resolve(INTERNAL_CONTEXT, "*331001") == RouteTarget(
        "supervise", "listen", "*331001"
    )
    assert plan.resolve(INTERNAL_CONTEXT, "*341002") == RouteTarget(
        "supervise", "whisper", "*341002"
    )
    assert plan.resolve(INTERNAL_CONTEXT, "*351003") == RouteTarget("supervise", "barge", "*351003")


def test_only_a_supervisors_or_admins_phone_may_supervise() -> None:
    supervisions = Supervisions(load_config(EXAMPLE))
    assert supervisions.may_supervise("1006")  # user "supervisor"
    assert not any(supervisions.may_supervise(n) for n in ("1001", "1003", "1005", "9999"))


def test_no_call_to_supervise_is_a_404() -> None:
    supervisions = Supervisions(load_config(EXAMPLE))
    with pytest.raises(SupervisionError) as caught:
        supervisions.target("1001")
    assert caught.value.status_hint == 404


def _supervision() -> Supervision:
    fake = object()
    return Supervision(1, SupervisorMode.LISTEN, "1001", "1006", *[fake] * 5)  # type: ignore[arg-type]


def test_the_state_table_allows_what_a_supervision_can_do_and_refuses_the_rest() -> None:
    s = _supervision()
    assert s.state is SupervisionState.RINGING
    s.step(SupervisionInput.MODE)  # a mode chosen while the supervisor's phone rings
    s.step(SupervisionInput.ANSWERED)
    assert s.state is SupervisionState.ACTIVE
    with pytest.raises(SupervisionError) as caught:
        s.step(SupervisionInput.ANSWERED)
    assert caught.value.status_hint == 409
    s.step(SupervisionInput.MODE)
    s.step(SupervisionInput.END)
    for event in SupervisionInput:
        with pytest.raises(SupervisionError):
            s.step(event)


def test_mode_names() -> None:
    assert [mode_named(n) for n in ("listen", "whisper", "barge")] == list(SupervisorMode)
    with pytest.raises(SupervisionError) as caught:
        mode_named("spy")
    assert caught.value.status_hint == 400


def test_a_supervision_waits_between_calls_and_only_a_next_call_or_an_end_leaves_the_wait() -> None:
    s = _supervision()
    with pytest.raises(SupervisionError):
        s.step(SupervisionInput.CALL_OVER)  # ringing: there is no call of its own to be over
    s.step(SupervisionInput.ANSWERED)
    s.step(SupervisionInput.CALL_OVER)
    assert s.state is SupervisionState.WAITING
    s.step(SupervisionInput.MODE)  # 4/5/6 while waiting
    for refused in (SupervisionInput.ANSWERED, SupervisionInput.CALL_OVER):
        with pytest.raises(SupervisionError):
            s.step(refused)
    s.step(SupervisionInput.NEXT_CALL)
    assert s.state is SupervisionState.ACTIVE
    s.step(SupervisionInput.CALL_OVER)
    s.step(SupervisionInput.END)
    assert s.state is SupervisionState.ENDED
