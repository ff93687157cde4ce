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
