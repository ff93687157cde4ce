"""Which answered calls the media sweep ends (Signalling.reap_silent_calls's rule, `vanished`):
a party silent past the limit is gone, unless the call is on hold, when all must be silent."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from softswitch.calls.media_timeout import vanished


@dataclass
class Media:
    idle: float

    def idle_seconds(self, now: float) -> float:
        return self.idle


@dataclass
class FakeLeg:
    idle: float | None  # None: no media endpoint
    held: bool = False
    up: bool = True

    @property
    def media(self) -> Media | None:
        return None if self.idle is None else Media(self.idle)


@dataclass
class FakeCall:
    legs: list[FakeLeg]

    def live_legs(self) -> list[FakeLeg]:
        return self.legs


@pytest.mark.parametrize(
    ("legs", "gone"),
    [
        pytest.param([FakeLeg(1), FakeLeg(1)], False, id="both-talking"),
        pytest.param([FakeLeg(1), FakeLeg(30)], True, id="one-party-vanished"),
        pytest.param([FakeLeg(30), FakeLeg(30)], True, id="both-vanished"),
        pytest.param([FakeLeg(1, held=True), FakeLeg(30)], False, id="on-hold-one-silent"),
        pytest.param([FakeLeg(30, held=True), FakeLeg(30)], True, id="on-hold-all-silent"),
        pytest.param([FakeLeg(1), FakeLeg(30, up=False)], False, id="a-phone-still-ringing"),
        pytest.param([FakeLeg(30)], True, id="alone-in-an-application-and-silent"),
        pytest.param([FakeLeg(None)], False, id="no-media-endpoint"),
        pytest.param([], False, id="no-legs"),
    ],
)
def test_a_party_silent_past_the_limit_ends_the_call(legs: list[FakeLeg], gone: bool) -> None:
    assert vanished(FakeCall(legs), now=100.0, limit=10.0) is gone  # type: ignore[arg-type]
