"""What the API needs from call control, as a Protocol, and an adapter over today's B2BUA.

The API reads calls and sends commands through `CallControl` only. The call-control layer
(`calls/control.py`, with its frozen `CallView`/`LegView`) satisfies it as it is: views need
only the attributes named below, and a failed command raises a `LookupError` whose
`status_hint` (404 no such call or leg, 409 not possible in the leg's state) becomes the HTTP
status. `B2buaControl` implements it over `calls/b2bua.py` until that layer lands.

Errors::

    LookupError
      CallControlError   status_hint 404 (no such call or leg) or 409 (not in this state)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from softswitch.call_record import Side
from softswitch.calls.b2bua import B2bua
from softswitch.calls.call import Call, CallState, Leg


class CallControlError(LookupError):
    def __init__(self, message: str, status_hint: int = 404) -> None:
        super().__init__(message)
        self.status_hint = status_hint


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


class CallControl(Protocol):
    """Commands the API offers on calls; each raises LookupError with a `status_hint`."""

    def calls(self) -> Sequence[CallInfo]: ...

    def call(self, call_id: int) -> CallInfo: ...

    def hang_up(self, call_id: int) -> None: ...

    def hold(self, call_id: int, leg_id: int) -> None: ...

    def resume(self, call_id: int, leg_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class B2buaLegView:
    leg_id: int
    side: str
    state: str
    held: bool


@dataclass(frozen=True, slots=True)
class B2buaCallView:
    call_id: int
    caller: str
    callee: str
    direction: str
    state: str
    started_at: float
    answered_at: float | None
    legs: tuple[B2buaLegView, ...]


class B2buaControl:
    """`CallControl` over `B2bua`: legs are numbered 1 (the caller) and 2 (the callee that
    answered, or the first one ringing).

    Hold is done in the media relay, as Asterisk holds a channel from the switch: the held
    leg's endpoint turns inactive, so its party hears nothing and is heard by no one, without
    a re-INVITE towards it (there is no music on hold yet). A re-INVITE from the phone itself
    sets the direction it asks for and so ends such a hold.
    """

    def __init__(self, b2bua: B2bua) -> None:
        self._b2bua = b2bua
        self._held: dict[tuple[int, int], str] = {}  # (call, leg) -> direction before

    def calls(self) -> list[B2buaCallView]:
        return [self._view(call) for call in self._b2bua.calls.values() if _live(call)]

    def call(self, call_id: int) -> B2buaCallView:
        return self._view(self._call(call_id))

    def hang_up(self, call_id: int) -> None:
        self._b2bua.hang_up(self._call(call_id), Side.SWITCH, "hung up through the API")

    def hold(self, call_id: int, leg_id: int) -> None:
        leg = self._answered_leg(call_id, leg_id)
        if (call_id, leg_id) in self._held:
            raise CallControlError(f"leg {leg_id} of call {call_id} is already held", 409)
        self._held[(call_id, leg_id)] = self._b2bua.set_media_direction(leg, "inactive")

    def resume(self, call_id: int, leg_id: int) -> None:
        leg = self._answered_leg(call_id, leg_id)
        before = self._held.pop((call_id, leg_id), None)
        if before is None:
            raise CallControlError(f"leg {leg_id} of call {call_id} is not held", 409)
        self._b2bua.set_media_direction(leg, before)

    def forget(self, call_id: int) -> None:
        """The call ended: drop what was kept about its held legs."""
        for key in [key for key in self._held if key[0] == call_id]:
            del self._held[key]

    def _call(self, call_id: int) -> Call:
        call = self._b2bua.calls.get(call_id)
        if call is None or not _live(call):
            raise CallControlError(f"no call {call_id}")
        return call

    def _answered_leg(self, call_id: int, leg_id: int) -> Leg:
        call = self._call(call_id)
        legs = _legs(call)
        if not 1 <= leg_id <= len(legs):
            raise CallControlError(f"call {call_id} has no leg {leg_id}")
        leg = legs[leg_id - 1]
        if call.state is not CallState.ANSWERED or leg.media is None:
            raise CallControlError(f"call {call_id} is {call.state.value}, not answered", 409)
        return leg

    def _view(self, call: Call) -> B2buaCallView:
        legs = tuple(
            B2buaLegView(
                index,
                leg.role.value,
                _leg_state(call, leg),
                (call.id, index) in self._held,
            )
            for index, leg in enumerate(_legs(call), start=1)
        )
        return B2buaCallView(
            call.id,
            call.caller,
            call.callee,
            call.direction.value,
            call.state.value,
            call.started_at,
            call.answered_at,
            legs,
        )


def _live(call: Call) -> bool:
    return call.state is not CallState.ENDED


def _legs(call: Call) -> list[Leg]:
    callee = call.answered_by or call.callee_leg
    return [call.caller_leg] if callee is None else [call.caller_leg, callee]


def _leg_state(call: Call, leg: Leg) -> str:
    if call.state is CallState.ANSWERED:
        return "answered"
    return "ringing" if leg.role is Side.CALLEE else "calling"
