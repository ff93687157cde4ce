"""What the API needs from call control, as a Protocol, so that tests can hand in a fake.

The API reads calls and sends commands through `CallControl` only. The call-control layer
(`calls/control.py`, with its frozen `CallView`/`LegView`) satisfies it as it is: views need
only the attributes named below, and a failed command raises a `LookupError` whose
`status_hint` (404 no such call or leg, 409 not possible in the leg's state) becomes the HTTP
status. `softswitch.calls.control.CallControl` is the implementation app.py hands in.

Errors: `softswitch.calls.control.ControlError` (a LookupError), status_hint 404 (no such
call or leg) or 409 (not in this state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from softswitch.calls.control import ControlError
from softswitch.calls.supervision import SupervisionView

__all__ = ["CallControl", "CallInfo", "ControlError", "LegInfo"]


class LegInfo(Protocol):
    @property
    def leg_id(self) -> int: ...
    @property
    def side(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def held(self) -> bool: ...


class CallInfo(Protocol):
    @property
    def call_id(self) -> int: ...
    @property
    def caller(self) -> str: ...
    @property
    def callee(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def started_at(self) -> float: ...
    @property
    def answered_at(self) -> float | None: ...
    @property
    def legs(self) -> Sequence[LegInfo]: ...
    @property
    def recording(self) -> str: ...  # "recording", "paused" or "none"


class CallControl(Protocol):
    """Commands the API offers on calls; each raises LookupError with a `status_hint`."""

    def calls(self) -> Sequence[CallInfo]: ...

    def call(self, call_id: int) -> CallInfo: ...

    def hang_up(self, call_id: int, cause: str) -> None: ...

    def hold(self, call_id: int, leg_id: int) -> None: ...

    def resume(self, call_id: int, leg_id: int) -> None: ...

    def pause_recording(self, call_id: int, paused: bool) -> None: ...

    # supervision (api/supervision.py)
    def supervisions(self) -> Sequence[SupervisionView]: ...

    def supervise(self, extension: str, supervisor: str, mode: str) -> SupervisionView: ...

    def supervise_call(self, call_id: int, supervisor: str, mode: str) -> SupervisionView: ...

    def supervision_mode(self, supervision_id: int, mode: str) -> SupervisionView: ...

    def stop_supervision(self, supervision_id: int) -> None: ...
