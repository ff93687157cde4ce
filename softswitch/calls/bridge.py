"""The bridge: connect a leg (the party) to an extension's phones or a trunk.

Every registered phone of an extension rings at once; the first to answer takes the call and the
others get CANCEL; when every phone refused, the caller hears the most telling refusal (busy over
declined over unavailable over timeout). Early media and the callee's answer are carried to the
party with our SDP; a BYE from either side ends the call. Media is relayed between the party's
endpoint and one callee-side endpoint that every fork shares, on the cheap pass-through path.

Re-INVITEs (a new address; hold and resume from a party whose `hold` setting is passthrough)
pass from one side to the other with our SDP. A party whose setting is `moh` (the default)
holding its call gets the switch's own answer, and the other party hears music on hold from the
engine until the holder resumes; a hold from the control layer plays it to the held party.

A party moved here mid-call (already answered) is bridged the same way, without a new answer
toward it; moving it away cancels the phones still ringing and ends the callee's dialog.

A recorded call whose legs share a G.711 codec and a packet length stays on the relay, its
packets tapped for the recording (media/call_recording.py). A call whose codecs differ, or a
recorded one in another codec or packet length, is connected in the tick engine instead of the
relay (`_Crossing`: each leg decoded and encoded in its own codec). There the bridge passes RFC
4733 digits across itself (the relay forwards them as packets): a digit that ended on one leg is
sent to the other as a new event of the same length; the in-call codes' tap keeps a code's
digits from ever reaching the engine, so they are not passed.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from enum import Enum, auto

from softswitch.call_record import Disposition, Side
from softswitch.calls.application import CallServices, Timer
from softswitch.calls.audio import NoAgreedCodec, hold_mode, negotiated_codec
from softswitch.calls.call import Call, CallState
from softswitch.calls.leg import (
    DigitReceived,
    Leg,
    LegAnswered,
    LegEnded,
    LegEvent,
    LegReofferAnswered,
    LegReoffered,
    LegReofferFailed,
    LegRinging,
    LegState,
)
from softswitch.calls.nat import reachable
from softswitch.calls.routing import RouteTarget
from softswitch.calls.srtp import reachable as srtp_reachable
from softswitch.config import HoldMode, NoAnswerMode, SrtpMode, Trunk
from softswitch.media.endpoint import Direction, MediaEndpoint, RemoteAddressError
from softswitch.media.engine import TickFrames
from softswitch.media.engine_leg import EngineLeg
from softswitch.media.moh import MOH_CLASS
from softswitch.media.ports import PortsExhausted
from softswitch.sip.sdp import (
    ANSWER_DIRECTION,
    AudioStream,
    Codec,
    SessionDescription,
    supported_codecs,
    widened_offer,
)
from softswitch.sip.transaction import Address
from softswitch.sip.uri import SipUri

log = logging.getLogger("softswitch.calls")

# When every phone of an extension refused, the caller hears the most telling refusal.
_FAILURE_PREFERENCE = (486, 600, 603, 480, 408)

_HOLDING = frozenset({"sendonly", "inactive"})  # RFC 3264 §8.4: an offer that puts us on hold
# Codecs whose recording is tapped off the relay (media/packet_tap.py decodes these).
_TAPPED_CODECS = frozenset({"PCMU", "PCMA"})
_DEFAULT_PTIME_MS = 20  # RFC 3551 §4.5: G.711's packets without an a=ptime

_DISPOSITION_OF_REFUSAL = {
    486: Disposition.BUSY,
    600: Disposition.BUSY,
    480: Disposition.NO_ANSWER,
    408: Disposition.NO_ANSWER,
    404: Disposition.UNKNOWN_NUMBER,
    484: Disposition.UNKNOWN_NUMBER,
    603: Disposition.FAILED,
}


class BridgeState(Enum):
    __hash__ = object.__hash__

    STARTING = auto()  # opening the callee-side endpoint
    RINGING = auto()  # INVITEs out to every destination
    CONNECTED = auto()  # a callee answered
    OVER = auto()  # refused, cancelled, timed out, or the party moved away


def _voice(codecs: tuple[Codec, ...]) -> Codec | None:
    return next((c for c in codecs if c.name.upper() != "TELEPHONE-EVENT"), None)


class _Crossing:
    """The tick processor of a transcoding bridge: each leg hears what the other sent."""

    def __init__(self, party: EngineLeg, callee: EngineLeg) -> None:
        self.party, self.callee = party, callee

    def process(self, frames: TickFrames) -> None:
        a, b = self.party.row, self.callee.row
        if a < 0 or b < 0:
            return
        frames.say[a] = frames.heard[b]
        frames.say[b] = frames.heard[a]
        # Only what came in goes out, as the relay does: silence is not sent as packets.
        frames.send[a] = frames.received[b]
        frames.send[b] = frames.received[a]

    def other(self, leg: EngineLeg) -> EngineLeg | None:
        if leg is self.party:
            return self.callee
        return self.party if leg is self.callee else None


def most_telling(failures: list[tuple[int, str]]) -> tuple[int, str]:
    for wanted in _FAILURE_PREFERENCE:
        for status, reason in failures:
            if status == wanted:
                return status, reason
    return failures[0]


class BridgeApplication:
    kind = "bridge"

    def __init__(self, target: RouteTarget, services: CallServices, call: Call) -> None:
        self.target = target
        self.services = services
        self.call = call
        self.state = BridgeState.STARTING
        self.party: Leg | None = None
        self.forks: list[Leg] = []
        self.answered_by: Leg | None = None
        self.failures: list[tuple[int, str]] = []
        self.media: MediaEndpoint | None = None  # the callee side, shared by every fork
        self.agent: str | None = None  # a queue's agent, for the recording's row
        self.calling: str | None = None  # who the callee sees calling; None: the call's caller
        self._ring_timer: Timer | None = None
        # re-INVITEs we passed on, by the leg we sent ours to: the leg to answer and its offer
        self._reoffers: dict[Leg, tuple[Leg, SessionDescription]] = {}
        self._holder: Leg | None = None  # the party whose hold the switch answered
        self._on_moh: Leg | None = None  # the leg hearing music on hold
        self._crossing: _Crossing | None = None  # the tick processor when in the engine
        self._recorded = False  # the config records this bridge: connected in the engine

    @classmethod
    def create(cls, target: RouteTarget, services: CallServices, call: Call) -> BridgeApplication:
        return cls(target, services, call)

    @classmethod
    def joining(
        cls,
        target: RouteTarget,
        services: CallServices,
        call: Call,
        callee: Leg,
        media: MediaEndpoint,
    ) -> BridgeApplication:
        """A bridge to a callee leg that has answered already (a queue's agent): the party
        moved here is relayed to `media`, the callee's endpoint, with nothing dialled."""
        bridge = cls(target, services, call)
        bridge.join(callee, media)
        return bridge

    def join(self, callee: Leg, media: MediaEndpoint) -> None:
        """Take `callee`, answered already, as this bridge's answered leg (see `joining`)."""
        self.state = BridgeState.CONNECTED
        self.forks.append(callee)
        self.answered_by = callee
        self.media = media
        self.agent = self.target.target
        self.call.attachments[callee] = self

    # ---- the application interface ---------------------------------------------------
    def attach(self, leg: Leg) -> Coroutine[object, object, None] | None:
        if self.party is not None:
            self.forks.append(leg)
            return None
        self.party = leg
        if self.state is BridgeState.CONNECTED:
            assert leg.media is not None and self.media is not None
            self._recorded = self._wants_recording()
            self._connect()
            self._record()
            return None
        return self._dial_all(leg)

    def detach(self, leg: Leg) -> None:
        if leg is not self.party:
            return
        self._stop_recording()
        self._stop_music()
        self._disconnect()
        self._holder = None
        self._stop_ringing()
        self.state = BridgeState.OVER
        now = self.services.now()
        for fork in self.forks:
            fork.hang_up(now)
        self.party = None
        if leg.media is not None and not leg.media.closed:
            leg.media.unroute()

    def hand_over(self, callee: Leg) -> None:
        """A transfer takes a leg (the answered callee or the party) away to another application:
        forget it and the party without hanging up; the bridge is over, and the legs it keeps
        are the transfer's to end."""
        self._stop_recording()
        self._stop_music()  # the legs leave the engine for whatever takes them next
        self._disconnect()
        self._holder = None
        self._stop_ringing()
        if callee in self.forks:
            self.forks.remove(callee)
        if self.answered_by is callee:
            self.answered_by = None
        self.state = BridgeState.OVER
        self.party = None

    def rering(self, old: Leg, new: Leg) -> None:
        """A screen's answer (calls/answer.py): `new` rings the phone `old` rang, as a fork."""
        if old in self.forks:
            self.forks[self.forks.index(old)] = new

    @property
    def holding(self) -> bool:
        """A party is held (the switch answered its hold, or plays it music)."""
        return self._holder is not None or self._on_moh is not None

    def reconnect(self) -> None:
        """Both legs back together after something else had their audio (a supervision);
        while a party is held the bridge reconnects them itself at resume."""
        if not self.holding:
            self._connect()

    def on_event(self, event: LegEvent) -> None:
        leg = event.leg
        if isinstance(event, LegEnded) and (
            self.answered_by is None or leg in (self.party, self.answered_by)
        ):
            # Once answered, only the two connected legs: a cancelled fork's 487 after the
            # answer must not take a recorded (engine-crossed) call's audio away.
            self._stop_music()
            self._disconnect()
        if isinstance(event, LegReoffered):
            if self._holder is not None or self._switch_holds(event):
                self._answer_hold(event)
            else:
                self._pass_reoffer(event)
        elif isinstance(event, LegReofferAnswered):
            self._reoffer_answered(event)
        elif isinstance(event, DigitReceived):
            self._pass_digit(event)
        elif isinstance(event, LegReofferFailed):
            pending = self._reoffers.pop(leg, None)
            if pending is not None and pending[0].pending_reoffer is not None:
                pending[0].reject_reoffer(event.status, event.reason)
        elif leg is self.party:
            if isinstance(event, LegEnded):
                self._party_ended(event)
        elif isinstance(event, LegRinging):
            self._fork_ringing(event)
        elif isinstance(event, LegAnswered):
            self._fork_answered(event)
        elif isinstance(event, LegEnded):
            self._fork_ended(event)

    # ---- ringing ------------------------------------------------------------------------
    async def _dial_all(self, party: Leg) -> None:
        services, call = self.services, self.call
        destinations = self._destinations()
        if destinations is None:
            return
        destinations = [(peer, uri) for peer, uri in destinations if services.allowed(peer[1])]
        if not destinations:
            self._fail(503, "no destination is allowed")
            return
        srtp = self._srtp_mode()
        destinations = [(peer, uri) for peer, uri in destinations if srtp_reachable(srtp, peer[0])]
        if not destinations:
            self._fail(488, "SRTP is mandatory for the callee and it is not reached over TLS")
            return
        try:
            media = await services.open_media()
        except PortsExhausted:
            self._fail(503, "no RTP ports left")
            return
        if call.ended or self.party is not party or party.media is None:
            services.close_media(media)
            return
        self.media = media
        party.media.bridge(media)
        self.state = BridgeState.RINGING
        offer = party.remote_audio
        assert offer is not None
        # The callee is offered the caller's codecs and then every other the switch transcodes.
        codecs = party.sdp_shown[0] if party.up and party.sdp_shown else supported_codecs(offer)
        codecs = widened_offer(codecs)
        template = party.remote_sdp
        assert template is not None
        trunk = self._trunk()
        for peer, request_uri in destinations:
            leg = services.dial(
                call,
                peer,
                request_uri,
                self.target.number,
                media,
                template,
                codecs,
                offer.direction,
                trunk=trunk,
                srtp=srtp,
                caller=self._calling(trunk),
            )
            self.forks.append(leg)
            call.attachments[leg] = self
        services.flush()  # a destination refused at once ends its fork here
        if self.state is BridgeState.RINGING:
            self._ring_timer = services.call_later(
                services.config.calls.ring_timeout_s, self._ring_timeout
            )

    def _srtp_mode(self) -> SrtpMode:
        """The callee's `srtp` setting: its trunk's or its extension's."""
        trunk = self._trunk()
        if trunk is not None:
            return trunk.srtp
        config = self.services.config
        extension = next((e for e in config.extensions if e.number == self.target.target), None)
        return extension.srtp if extension is not None else SrtpMode.OFF

    def _calling(self, trunk: Trunk | None) -> str | None:
        """Who the callee sees calling: a trunk sees the call's outbound caller ID (a queue's),
        else the calling extension's `caller_id`."""
        if trunk is None:
            return self.calling
        if self.call.outbound_caller_id:
            return self.call.outbound_caller_id
        number = self.calling or self.call.caller
        extensions = self.services.config.extensions
        extension = next((e for e in extensions if e.number == number), None)
        return (
            extension.caller_id if extension is not None and extension.caller_id else self.calling
        )

    def _trunk(self) -> Trunk | None:
        if self.target.kind != "trunk":
            return None
        return next(t for t in self.services.config.trunks if t.name == self.target.target)

    def _destinations(self) -> list[tuple[Address, str]] | None:
        """Where the callee legs go: each registered phone of an extension, or the trunk.

        A phone is reached at its Contact, or behind NAT where its REGISTER came from (nat.py).
        """
        target = self.target
        trunk = self._trunk()
        if trunk is not None:
            port = trunk.port or (5061 if trunk.transport == "tls" else 5060)  # RFC 3261 §19.1.2
            scheme = "sips" if trunk.transport == "tls" else "sip"
            uri = SipUri(scheme, target.number, trunk.host, port)
            return [((trunk.transport, trunk.host, port), uri.serialize())]
        bindings = self.services.registrar.lookup(target.target)
        if not bindings:
            self._fail(480, f"extension {target.target} is not registered")
            return None
        extension = next(e for e in self.services.config.extensions if e.number == target.target)
        return reachable(bindings, extension.nat)

    def _fork_ringing(self, event: LegRinging) -> None:
        party = self.party
        if self.state is not BridgeState.RINGING or party is None:
            return
        if event.leg.state is LegState.EARLY and self.call.state is CallState.ROUTING:
            self.call.state = CallState.EARLY
        if not party.unanswered:
            return  # a party moved here mid-call hears the ringing in its own media
        if event.audio is not None:
            self._set_callee_media(event.leg, event.audio)
            party.ring(event.status, event.reason, body=self._party_sdp(party, event.audio))
            self._connect_early(event.leg)
        else:
            party.ring(event.status, event.reason)

    def _fork_answered(self, event: LegAnswered) -> None:
        fork, party = event.leg, self.party
        now = self.services.now()
        if self.state is not BridgeState.RINGING or party is None or party.ended:
            fork.hang_up(now)  # cancelled meanwhile, or another phone answered first
            return
        self.state = BridgeState.CONNECTED
        self.answered_by = fork
        self._stop_ringing()
        for other in self.forks:
            if other is not fork:
                other.hang_up(now)  # the phones still ringing
        if event.audio is None:
            self.services.hang_up(self.call, Side.SWITCH, "callee answered without SDP")
            return
        if fork.srtp is not None and fork.srtp.failed:
            self.services.hang_up(self.call, Side.SWITCH, "488 callee answered without SRTP")
            return
        self._set_callee_media(fork, event.audio)
        if party.unanswered:
            party.answer(self._party_sdp(party, event.audio), now)
        self._recorded = self._wants_recording()
        self._connect()
        self.services.answered(self.call)
        self._record()

    def _wants_recording(self) -> bool:
        recordings = self.services.recordings
        return recordings is not None and recordings.wants(self.call, self.target)

    def _record(self) -> None:
        """Connected in the engine and recorded: the file starts (calls/recording.py)."""
        recordings = self.services.recordings
        party, callee = self.party, self.answered_by
        if not self._recorded or recordings is None or party is None or callee is None:
            return
        relayed = self._crossing is None
        if relayed and not self._tapped():
            log.warning("call %d not recorded: its legs could not enter the engine", self.call.id)
            return
        recordings.bridge_connected(
            self.call, party, callee, self.target, self.agent, relayed=relayed
        )

    def _stop_recording(self) -> None:
        recordings = self.services.recordings
        if self._recorded and recordings is not None:
            recordings.stop(self.call)
        self._recorded = False

    def _pass_digit(self, event: DigitReceived) -> None:
        """An RFC 4733 digit from a leg in the engine goes to the other as a new event; SIP INFO
        digits are never passed on, in-band ones are in the audio already."""
        crossing = self._crossing
        if crossing is None or event.method != "rfc4733" or event.leg.media is None:
            return
        source = self.services.engine.leg_of(event.leg.media)
        target = None if source is None else crossing.other(source)
        if target is None or target.leaving or target.codec.event_payload_type is None:
            return
        target.send_digit(event.digit, max(event.duration_ms, 40))

    def _fork_ended(self, event: LegEnded) -> None:
        if event.leg is self.answered_by:
            side = Side.SWITCH if event.cause == "no ACK" else Side.CALLEE
            self.services.hang_up(self.call, side, event.cause)
            return
        if self.state is not BridgeState.RINGING or self.call.ended:
            return
        self.failures.append((event.status or 500, event.reason))
        if any(fork.ringing for fork in self.forks):
            return  # another phone of the extension is still ringing
        status, reason = most_telling(self.failures)
        self._callee_failed(status, reason)

    def _party_ended(self, event: LegEnded) -> None:
        if self.state in (BridgeState.STARTING, BridgeState.RINGING) and not self.call.ended:
            self._stop_ringing()
            self.state = BridgeState.OVER
            now = self.services.now()
            for fork in self.forks:
                fork.hang_up(now)
            if self.call.answered_at is None:
                self.services.end(self.call, Disposition.CANCELLED, event.cause, Side.CALLER)
                return
        side = Side.SWITCH if event.cause == "no ACK" else Side.CALLER
        self.services.hang_up(self.call, side, event.cause)

    def _ring_timeout(self) -> None:
        self._ring_timer = None
        if self.state is not BridgeState.RINGING or self.call.ended:
            return
        if self._to_voicemail():
            return
        self.state = BridgeState.OVER
        now = self.services.now()
        for fork in self.forks:
            fork.hang_up(now)
        party = self.party
        if party is not None and party.unanswered:
            party.reject(480, now=now)
            self.services.end(self.call, Disposition.NO_ANSWER, "ring timeout", Side.SWITCH)
        else:
            self.services.hang_up(self.call, Side.SWITCH, "ring timeout")

    def _to_voicemail(self) -> bool:
        """`no_answer = "voicemail"`: the caller of an extension that rang out is moved to the
        extension's box (answered there), instead of hearing 480."""
        target, party = self.target, self.party
        if target.kind != "extension" or party is None or party.ended:
            return False
        config = self.services.config
        extension = next((e for e in config.extensions if e.number == target.target), None)
        if extension is None or extension.no_answer is not NoAnswerMode.VOICEMAIL:
            return False
        box = RouteTarget("voicemail", extension.number, extension.number)
        app = self.services.application_for(box, self.call)
        if app is None:
            return False
        log.info("call %d: %s rang out: to its voicemail", self.call.id, extension.number)
        self.services.move(self.call, party, app)  # detach() cancels the phones still ringing
        return True

    def _stop_ringing(self) -> None:
        if self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None

    def _fail(self, status: int, reason: str) -> None:
        self.state = BridgeState.OVER
        party, call = self.party, self.call
        if call.ended:
            return
        if party is not None and party.unanswered:
            party.reject(status, warning=reason, now=self.services.now())
            self.services.end(call, Disposition.FAILED, f"{status} {reason}", Side.SWITCH)
        else:
            self.services.hang_up(call, Side.SWITCH, f"{status} {reason}")

    def _callee_failed(self, status: int, reason: str) -> None:
        if status in (408, 480) and self.party is not None and self._to_voicemail():
            return
        self.state = BridgeState.OVER
        self._stop_ringing()
        party = self.party
        disposition = _DISPOSITION_OF_REFUSAL.get(status, Disposition.FAILED)
        relay_status = status if 400 <= status < 700 else 480
        if status in (401, 407):
            # The carrier challenged our credentials, not the caller's: the caller cannot answer.
            relay_status = 403
        if party is not None and party.unanswered:
            party.reject(
                relay_status, reason if relay_status == status else None, now=self.services.now()
            )
            self.services.end(self.call, disposition, str(status), Side.CALLEE)
        else:
            self.services.hang_up(self.call, Side.CALLEE, str(status))

    # ---- media and SDP ------------------------------------------------------------------
    def _set_callee_media(self, leg: Leg, audio: AudioStream) -> None:
        media = leg.media
        if media is None or media.closed:
            return
        try:
            media.set_remote(audio.address, audio.port, audio.rtcp_port)
        except RemoteAddressError as exc:
            # Nothing is sent until a packet from the callee latches the endpoint.
            log.info("callee SDP unusable: %s", exc)
        # A party the switch holds is heard by no one and hears only the music on hold (or
        # nothing), whatever direction its answer names.
        if leg.held_by_switch:
            media.set_direction(Direction.SENDONLY if leg is self._on_moh else Direction.INACTIVE)
        else:
            media.set_direction(Direction(ANSWER_DIRECTION[audio.direction]))

    def _party_sdp(self, party: Leg, audio: AudioStream) -> bytes:
        """Our SDP toward the party: the callee's codecs and direction when the party offered
        the callee's codec (pass-through), else the party's own first codec (transcoded)."""
        assert party.media is not None
        party.media.set_direction(Direction(audio.direction))
        return party.local_sdp(
            party.remote_sdp, self._party_codecs(party, audio), audio.direction, self.call.id
        )

    @staticmethod
    def _party_codecs(party: Leg, audio: AudioStream) -> tuple[Codec, ...]:
        offered = party.remote_audio
        if party.up or offered is None:
            return audio.codecs
        mine = supported_codecs(offered)
        voice = _voice(audio.codecs)
        if voice is None or any(c.name.upper() == voice.name.upper() for c in mine):
            return audio.codecs
        first = _voice(mine)
        events = tuple(c for c in mine if c.name.upper() == "TELEPHONE-EVENT")
        return mine if first is None else (first, *events)

    def _transcodes(self) -> bool:
        """The party's and the callee's agreed voice codecs differ."""
        party, callee = self.party, self.answered_by
        if party is None or callee is None:
            return False
        try:
            mine, theirs = negotiated_codec(party), negotiated_codec(callee)
        except NoAgreedCodec:
            return False
        return mine.name != theirs.name

    def _tapped(self) -> bool:
        """Both legs agreed one codec whose recording is tapped off the relay, and one packet
        length (the engine sends each phone its `a=ptime`; the relay passes packets as they
        are)."""
        party, callee = self.party, self.answered_by
        if party is None or callee is None:
            return False
        try:
            mine, theirs = negotiated_codec(party), negotiated_codec(callee)
        except NoAgreedCodec:
            return False
        return (
            mine.name == theirs.name
            and mine.name in _TAPPED_CODECS
            and (mine.ptime_ms or _DEFAULT_PTIME_MS) == (theirs.ptime_ms or _DEFAULT_PTIME_MS)
        )

    def _connect(self) -> None:
        """Both sides together: the relay's pass-through (a recorded call of one G.711 codec
        too: its packets are tapped), or the tick path when the codecs differ or a recorded
        call has another codec (each leg decoded and encoded in its own, `_Crossing` between
        them)."""
        party, callee = self.party, self.answered_by
        if party is None or party.media is None or self.media is None or callee is None:
            return
        if party.media.closed or self.media.closed:
            return
        self._disconnect()  # early media may have been crossed with another fork's codec
        if not self._transcodes() and (not self._recorded or self._tapped()):
            party.media.bridge(self.media)
            return
        try:
            crossing = _Crossing(
                self.services.take_audio(self.call, party, inband=False),
                self.services.take_audio(self.call, callee, inband=False),
            )
        except NoAgreedCodec as exc:
            log.warning("call %d relayed as it is: %s", self.call.id, exc)
            self.services.release_audio(party)
            self.services.release_audio(callee)
            party.media.bridge(self.media)
            return
        self.services.engine.add_processor(crossing)
        self._crossing = crossing

    def _connect_early(self, fork: Leg) -> None:
        """Early media (a 183 with SDP) in another codec than the party's: the two legs are
        crossed in the engine until the answer connects them for good (the relay bridged at
        dialling carries early media of the party's own codec)."""
        party = self.party
        if self._crossing is not None or party is None or party.media is None:
            return
        try:
            mine, theirs = negotiated_codec(party), negotiated_codec(fork)
        except NoAgreedCodec:
            return
        if mine.name == theirs.name:
            return
        crossing = _Crossing(
            self.services.take_audio(self.call, party, inband=False),
            self.services.take_audio(self.call, fork, inband=False),
        )
        self.services.engine.add_processor(crossing)
        self._crossing = crossing

    def _disconnect(self) -> None:
        crossing, self._crossing = self._crossing, None
        if crossing is not None:
            self.services.engine.remove_processor(crossing)
            for leg in (self.party, self.answered_by):
                if leg is not None and leg is not self._on_moh:
                    self.services.release_audio(leg)

    def _pass_reoffer(self, event: LegReoffered) -> None:
        """Hold, resume or a new address: carried to the other leg with our SDP (§14)."""
        leg = event.leg
        other = self.answered_by if leg is self.party else self.party
        audio = event.offer.audio
        assert audio is not None
        if other is None or other.state is not LegState.CONFIRMED or other.media is None:
            leg.reject_reoffer(488)
            return
        if self._reoffers or other.reoffer_key is not None:
            leg.reject_reoffer(491)  # RFC 3261 §14.2: an offer is already outstanding
            return
        if leg.media is not None:
            try:
                leg.media.set_remote(audio.address, audio.port, audio.rtcp_port)
            except RemoteAddressError:
                leg.reject_reoffer(488)
                return
        body = other.local_sdp(
            event.offer, supported_codecs(audio), audio.direction, self.call.id, bump=True
        )
        other.media.set_direction(Direction(audio.direction))
        other.reoffer(body)
        self._reoffers[other] = (leg, event.offer)

    def _reoffer_answered(self, event: LegReofferAnswered) -> None:
        other, audio = event.leg, event.audio
        pending = self._reoffers.pop(other, None)
        if audio is not None:
            self._set_callee_media(other, audio)
        if pending is None:
            return  # our own re-INVITE (hold from the control layer): the media is set
        source, offer = pending
        if source.pending_reoffer is None:
            return
        if audio is None:
            source.answer_reoffer(b"")
            return
        source.answer_reoffer(self._reoffer_sdp(source, offer, audio))

    def _reoffer_sdp(self, source: Leg, offer: SessionDescription, audio: AudioStream) -> bytes:
        assert source.media is not None
        source.media.set_direction(Direction(audio.direction))
        return source.local_sdp(offer, audio.codecs, audio.direction, self.call.id)

    # ---- music on hold --------------------------------------------------------------------
    def _switch_holds(self, event: LegReoffered) -> bool:
        audio = event.offer.audio
        return (
            audio is not None
            and audio.direction in _HOLDING
            and hold_mode(self.services.config, self.call, event.leg) is HoldMode.MOH
        )

    def _answer_hold(self, event: LegReoffered) -> None:
        """Answer a hold or resume ourselves (RFC 3264 §8.4) and play or stop the music the
        other party hears; a re-INVITE from the held party meanwhile is answered likewise."""
        leg, audio = event.leg, event.offer.audio
        other = self.answered_by if leg is self.party else self.party
        assert audio is not None
        if other is None or other.media is None or leg.media is None or self.media is None:
            leg.reject_reoffer(488)
            return
        try:
            leg.media.set_remote(audio.address, audio.port, audio.rtcp_port)
        except RemoteAddressError:
            leg.reject_reoffer(488)
            return
        codecs = supported_codecs(audio)
        if not codecs:
            leg.reject_reoffer(488)
            return
        direction = ANSWER_DIRECTION[audio.direction]
        if leg is not self._holder and self._holder is not None:
            leg.answer_reoffer(leg.local_sdp(event.offer, codecs, direction, self.call.id))
            return
        if audio.direction in _HOLDING:
            leg.media.set_direction(Direction(direction))
            if self._holder is None:
                self._holder = leg
                self._play_music(other)
        else:
            self._holder = None
            self._stop_music()
            leg.media.set_direction(Direction(direction))
            self._connect()
        leg.answer_reoffer(leg.local_sdp(event.offer, codecs, direction, self.call.id))

    def hold_by_switch(self, leg: Leg, hold: bool) -> None:
        """The control layer held (or resumed) `leg`: the held party hears music on hold."""
        if hold:
            self._play_music(leg)
        elif self._on_moh is leg:
            self._stop_music()
            self._connect()

    def _play_music(self, leg: Leg) -> None:
        if leg.media is None or leg.media.closed:
            return
        self._disconnect()
        try:
            listener = self.services.take_audio(self.call, leg, inband=False)
        except NoAgreedCodec as exc:
            log.info("no music on hold: %s", exc)
            return
        self.services.music_on_hold.listen(listener, MOH_CLASS)
        self._on_moh = leg

    def _stop_music(self) -> None:
        leg, self._on_moh = self._on_moh, None
        if leg is None or leg.media is None:
            return
        listener = self.services.engine.leg_of(leg.media)
        if listener is not None:
            self.services.music_on_hold.stop(listener)
        self.services.release_audio(leg)
