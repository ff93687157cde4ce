"""In-call DTMF feature codes (Asterisk's features.conf: `#1` blind transfer, `*2` attended,
`*0` disconnect): a sans-IO matcher per party (digits in, a decision out), and `InCallCodes`,
which feeds it the digits of the parties of every connected bridge.

How a bridge sees digits cheaply: SIP INFO digits are events already (and never relayed). RFC
4733 digits are packets the relay forwards, so each bridged party's RTP socket gets a tap for
the telephone-event payload type only (`MediaEndpoint.tap_events`): voice packets pay one
attribute test, event packets (a few dozen per key press) are parsed and fed to an RFC 4733
receiver, and those of a code are not relayed. Taking the legs into the tick engine instead
would decode and encode every packet of every bridged call to find a few digits.

A code starts with * or #, so a party's plain digits reach the far end untouched; from a code's
first digit on, digits are held back (`holds`) until the code is matched or proves not to be
one. After a transfer code (blind or attended) the party dials the number, ended by # or by the
transfer digit timeout; a party consulting in an attended transfer (`consulting`) has no number
to dial after the attended or three-way code: they complete the transfer or join all three at
once, as Asterisk's atxfercomplete and atxferthreeway.
Time comes in as `now`; `deadline()` says when `expire(now)` is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, auto

from softswitch.calls.application import Timer
from softswitch.calls.audio import NoAgreedCodec, negotiated_codec
from softswitch.calls.bridge import BridgeApplication, BridgeState
from softswitch.calls.call import Call
from softswitch.calls.leg import Leg
from softswitch.calls.signalling import Signalling
from softswitch.config_features import InCallFeatures
from softswitch.media.dtmf import DIGITS, DigitEnded, TelephoneEventReceiver
from softswitch.media.rtp import RtpPacket, RtpParseError

log = logging.getLogger("softswitch.calls")


class MatchState(Enum):
    __hash__ = object.__hash__

    IDLE = auto()
    CODE = auto()  # some digits of a code pressed
    NUMBER = auto()  # a transfer code pressed: the number is being dialled


@dataclass(frozen=True, slots=True)
class FeaturePressed:
    """A whole code: `feature` is blind_transfer, attended_transfer or three_way (with
    `number`; none for the last two while consulting), or disconnect."""

    feature: str
    number: str = ""


_TAKES_NUMBER = frozenset({"blind_transfer", "attended_transfer", "three_way"})
_ALONE_WHILE_CONSULTING = frozenset({"attended_transfer", "three_way"})  # complete, merge


class FeatureMatcher:
    def __init__(self, features: InCallFeatures) -> None:
        self._codes = features.codes
        self._leads = frozenset(code[0] for code in self._codes)
        self._code_timeout_s = features.feature_digit_timeout_s
        self._number_timeout_s = features.transfer_digit_timeout_s
        self.state = MatchState.IDLE
        self.consulting = False  # in an attended transfer's consultation (calls/consult.py)
        self._digits = ""
        self._dialling = ""  # the transfer feature whose number is being dialled
        self._deadline: float | None = None

    def holds(self, digit: str) -> bool:
        """Whether `digit`, being pressed now, is kept from the far end."""
        return self.state is not MatchState.IDLE or digit in self._leads

    def deadline(self) -> float | None:
        return self._deadline

    def pressed(self, digit: str, now: float) -> FeaturePressed | None:
        """A digit ended; a whole code (or a dialled transfer number) comes back."""
        if self.state is MatchState.NUMBER:
            if digit == "#":
                return self._number_done()
            self._digits += digit
            self._deadline = now + self._number_timeout_s
            return None
        if self.state is MatchState.IDLE and digit not in self._leads:
            return None
        self._digits += digit
        feature = self._codes.get(self._digits)
        if feature in _TAKES_NUMBER and not (
            self.consulting and feature in _ALONE_WHILE_CONSULTING
        ):
            self.state, self._digits, self._dialling = MatchState.NUMBER, "", feature
            self._deadline = now + self._number_timeout_s
            return None
        if feature is not None:
            self._reset()
            return FeaturePressed(feature)
        if any(code.startswith(self._digits) for code in self._codes):
            self.state = MatchState.CODE
            self._deadline = now + self._code_timeout_s
            return None
        self._reset()  # not a code: what was held back is dropped
        return None

    def expire(self, now: float) -> FeaturePressed | None:
        if self._deadline is None or now < self._deadline:
            return None
        if self.state is MatchState.NUMBER:
            return self._number_done()
        self._reset()
        return None

    def _number_done(self) -> FeaturePressed | None:
        number, feature = self._digits, self._dialling
        self._reset()
        return FeaturePressed(feature, number) if number else None

    def _reset(self) -> None:
        self.state, self._digits, self._deadline = MatchState.IDLE, "", None
        self._dialling = ""


FeatureHandler = Callable[[Call, Leg, FeaturePressed], None]


@dataclass(eq=False, slots=True)
class _Party:
    call: Call
    matcher: FeatureMatcher
    receiver: TelephoneEventReceiver = field(default_factory=TelephoneEventReceiver)
    held_timestamp: int = -1  # the RTP timestamp of the event being held back
    timer: Timer | None = None


class InCallCodes:
    """The feature codes of the parties of connected bridges; `on_feature` carries them out."""

    def __init__(self, signalling: Signalling, on_feature: FeatureHandler) -> None:
        self._signalling = signalling
        self._on_feature = on_feature
        self._parties: dict[Leg, _Party] = {}

    def watch(self, call: Call) -> None:
        """Listen to both parties of the call's connected bridge (once each)."""
        features = self._signalling.config.features.in_call
        if not features.codes or call.ended:
            return
        for leg in call.live_legs():
            bridge = call.attachments.get(leg)
            if (
                not isinstance(bridge, BridgeApplication)
                or bridge.state is not BridgeState.CONNECTED
                or leg not in (bridge.party, bridge.answered_by)
                or leg in self._parties
                or leg.media is None
            ):
                continue
            party = _Party(call, FeatureMatcher(features))
            self._parties[leg] = party
            try:
                event_pt = negotiated_codec(leg).event_payload_type
            except NoAgreedCodec:
                event_pt = None
            if event_pt is not None:
                leg.media.tap_events(event_pt, self._tap_for(leg))

    def _tap_for(self, leg: Leg) -> Callable[[bytes], bool]:
        def tap(data: bytes) -> bool:
            return self._packet(leg, data)

        return tap

    def set_consulting(self, leg: Leg, consulting: bool) -> None:
        """The leg's party is (or no longer is) consulting in an attended transfer."""
        party = self._parties.get(leg)
        if party is not None:
            party.matcher.consulting = consulting

    def forget(self, call: Call) -> None:
        for leg in call.legs:
            party = self._parties.pop(leg, None)
            if party is not None and party.timer is not None:
                party.timer.cancel()

    def digit(self, call: Call, leg: Leg, digit: str) -> None:
        """A digit of the leg ended (SIP INFO, or the tap's RFC 4733 receiver)."""
        party = self._parties.get(leg)
        if party is None or leg.ended:
            return
        now = self._signalling.now()
        self._result(leg, party, party.matcher.pressed(digit, now))

    def _result(self, leg: Leg, party: _Party, result: FeaturePressed | None) -> None:
        if party.timer is not None:
            party.timer.cancel()
            party.timer = None
        deadline = party.matcher.deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self._signalling.now())
            party.timer = self._signalling.call_later(delay, lambda: self._expire(leg))
        if result is not None:
            log.info("call %d: leg %d pressed %s", party.call.id, leg.id, result.feature)
            self._on_feature(party.call, leg, result)

    def _expire(self, leg: Leg) -> None:
        party = self._parties.get(leg)
        if party is None:
            return
        party.timer = None
        self._result(leg, party, party.matcher.expire(self._signalling.now()))

    def _packet(self, leg: Leg, data: bytes) -> bool:
        """A telephone-event packet from the leg's phone: True keeps it from the far end."""
        party = self._parties.get(leg)
        if party is None or leg.ended:
            return False
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            return False
        timestamp = packet.header.timestamp
        payload = packet.payload
        hold = timestamp == party.held_timestamp
        if not hold and payload and payload[0] < len(DIGITS):
            hold = party.matcher.holds(DIGITS[payload[0]])
            if hold:
                party.held_timestamp = timestamp
        for event in party.receiver.receive(payload, timestamp, self._signalling.now()):
            if isinstance(event, DigitEnded):
                self.digit(party.call, leg, event.digit)
                self._signalling.flush()
        return hold
