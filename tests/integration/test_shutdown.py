"""SIGTERM mid-call: both phones get a BYE, the CDR row is closed, the switch exits 0 within 5 s."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from peers.pjsua import PjsuaPeer
from running_switch import HANGUP_SWITCH, Switch
from two_phones import connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_sigterm_mid_call_sends_bye_and_closes_cdr(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    c = connect(switch, pjsua, tmp_path)
    switch.wait_cdr(lambda rows: len(rows) == 1 and rows[0]["answer_ts"] is not None, 5.0)

    assert switch.stop() == 0, switch.log_tail()
    c.caller.wait_bye(c.caller_call, 5.0)
    c.callee.wait_bye(c.callee_call, 5.0)
    assert switch.closed_cdr()["hangup_side"] == HANGUP_SWITCH  # closed before the exit


def test_a_bye_to_a_phone_that_is_gone_does_not_hold_up_the_shutdown(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """The callee's process dies, the caller hangs up: the switch's BYE to the dead phone repeats
    (timer F, 32 s). A SIGTERM then has no call left to end and must not wait for that one."""
    c = connect(switch, pjsua, tmp_path)
    switch.wait_cdr(lambda rows: len(rows) == 1 and rows[0]["answer_ts"] is not None, 5.0)
    c.callee.proc.kill()
    c.callee.proc.wait(5.0)
    c.caller.send("hangup", call=c.caller_call)
    c.caller.wait_call_state(c.caller_call, "DISCONNECTED", 5.0)
    switch.wait_cdr(lambda rows: rows[0]["end_ts"] is not None, 5.0)

    assert switch.stop() == 0, switch.log_tail()
    assert "outstanding at shutdown" not in switch.log_tail(), switch.log_tail()
