"""The leg state machine against a scripted phone, in memory, with a stepped clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leg_pair import PHONE, FakeMedia, LegPair, answer, phone_sdp
from sip.helpers import make_request

from softswitch.calls.leg import (
    DigitReceived,
    EndedBy,
    Leg,
    LegAnswered,
    LegEnded,
    LegHeld,
    LegReoffered,
    LegResumed,
    LegRinging,
    LegState,
    TransferRequested,
)
from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError
from softswitch.sip.message import Request, make_response

SWITCH_URI = "sip:softswitch@127.0.0.1:5080"


def caller_leg(lp: LegPair) -> Leg:
    """The phone calls the switch; the switch makes the caller's leg for that INVITE."""
    invite = make_request("INVITE", uri="sip:7000@127.0.0.1:5080")
    invite.body = phone_sdp()
    invite.headers.append(("Content-Type", "application/sdp"))
    lp.phone_sends(invite)
    lp.flush()
    received = lp.invites.pop()
    leg = Leg.inbound_from(
        1, received.request, received.source, received.key, "sw-tag", lp.settings, lp.outbox
    )
    leg.media = FakeMedia()  # type: ignore[assignment]
    lp.legs.append(leg)
    return leg


def answered_caller(lp: LegPair) -> Leg:
    leg = caller_leg(lp)
    leg.ring(180)
    leg.answer(leg.local_sdp(leg.remote_sdp, leg.remote_audio.codecs, "sendrecv", 7), lp.now)  # type: ignore[union-attr]
    lp.flush()
    ok = next(r for r in lp.phone_responses() if r.status == 200)
    lp.phone_sends(in_dialog(ok, "ACK", cseq=1))
    lp.flush()
    return leg


def in_dialog(response_or_leg: object, method: str, *, cseq: int, body: bytes = b"") -> Request:
    """A request from the phone inside the dialog the switch's 200 made."""
    ok = response_or_leg
    to_tag = ok.to.tag  # type: ignore[attr-defined]
    request = make_request(
        method, to_tag=to_tag, cseq=cseq, uri=SWITCH_URI, branch=f"z9hG4bK-{method}{cseq}"
    )
    if body:
        request.body = body
        request.headers.append(("Content-Type", "application/sdp"))
    return request


def callee_leg(lp: LegPair) -> Leg:
    """The switch calls the phone."""
    invite = make_request("INVITE", from_tag="sw-out", call_id="out-1@127.0.0.1")
    invite.headers[0] = ("Via", lp.settings.via("udp"))
    invite.body = phone_sdp(port=30002)
    invite.headers.append(("Content-Type", "application/sdp"))
    leg = Leg.outbound_to(2, PHONE, invite, lp.settings, lp.outbox)
    lp.legs.append(leg)
    lp.flush()
    return leg


def test_caller_rings_answers_and_the_phone_hangs_up() -> None:
    lp = LegPair()
    leg = caller_leg(lp)
    assert leg.state is LegState.INCOMING and leg.remote_audio is not None
    leg.ring(180)
    lp.flush()
    assert leg.state is LegState.EARLY
    body = leg.local_sdp(leg.remote_sdp, leg.remote_audio.codecs, "sendrecv", 7)
    again = leg.local_sdp(leg.remote_sdp, leg.remote_audio.codecs, "sendrecv", 7)
    assert b"o=softswitch 7 1 " in body and again == body  # same SDP again: same version
    leg.answer(body, lp.now)
    lp.flush()
    responses = lp.phone_responses()
    assert [r.status for r in responses] == [100, 180, 200]
    assert responses[1].to.tag == responses[2].to.tag == "sw-tag"
    assert b"m=audio 30000 RTP/AVP 0 101" in responses[2].body
    assert leg.state is LegState.ANSWERED
    lp.phone_sends(in_dialog(responses[2], "ACK", cseq=1))
    lp.flush()
    assert leg.state is LegState.CONFIRMED
    lp.phone_sends(in_dialog(responses[2], "BYE", cseq=2))
    lp.flush()
    (ended,) = lp.take()
    assert isinstance(ended, LegEnded) and (ended.by, ended.cause) == (EndedBy.REMOTE, "BYE")
    assert leg.state is LegState.ENDED
    assert [r.status for r in lp.phone_responses()] == [200]


def test_caller_cancels_while_ringing() -> None:
    lp = LegPair()
    leg = caller_leg(lp)
    leg.ring(180)
    lp.flush()
    lp.phone_responses()
    cancel = make_request("CANCEL", uri="sip:7000@127.0.0.1:5080")
    lp.phone_sends(cancel)
    lp.flush()
    (ended,) = lp.take()
    assert isinstance(ended, LegEnded) and ended.cause == "CANCEL"
    assert 487 in [r.status for r in lp.phone_responses()]
    assert leg.state is LegState.ENDED
    with pytest.raises(LocalProtocolError):
        leg.answer(b"", lp.now)  # the table allows no answer once the leg has ended


def test_unacknowledged_answer_ends_the_leg_with_bye() -> None:
    lp = LegPair()
    leg = caller_leg(lp)
    assert leg.remote_audio is not None
    leg.answer(leg.local_sdp(None, leg.remote_audio.codecs, "sendrecv", 7), lp.now)
    lp.flush()
    lp.phone_responses()
    lp.pair.client.deaf = True  # the phone never ACKs: it is gone
    lp.advance(40)
    ended = [e for e in lp.take() if isinstance(e, LegEnded)]
    assert [(e.by, e.cause) for e in ended] == [(EndedBy.TIMEOUT, "no ACK")]
    assert leg.state is LegState.ENDING
    assert any(line.startswith("BYE ") for line in lp.pair.server.sent_lines())
    lp.advance(40)  # our BYE times out as well: the leg is over
    assert leg.state is LegState.ENDED


def test_callee_rings_with_early_media_answers_and_we_hang_up() -> None:
    lp = LegPair()
    leg = callee_leg(lp)
    (invite,) = lp.phone_requests()
    assert leg.state is LegState.CALLING and leg.invite_key is not None
    lp.phone_responds(answer(invite, 183, body=phone_sdp(port=5555)))
    (ringing,) = lp.take()
    assert isinstance(ringing, LegRinging) and ringing.status == 183
    assert ringing.audio is not None and ringing.audio.port == 5555
    assert leg.state is LegState.EARLY
    lp.phone_responds(answer(invite, 200, body=phone_sdp(port=5556)))
    (answered,) = lp.take()
    assert isinstance(answered, LegAnswered) and answered.audio is not None
    assert answered.audio.port == 5556 and leg.state is LegState.CONFIRMED
    assert [r.method for r in lp.phone_requests()] == ["ACK"]
    leg.hang_up(lp.now)
    lp.flush()
    (bye,) = lp.phone_requests()
    assert bye.method == "BYE" and leg.state is LegState.ENDING
    lp.phone_responds(answer(bye, 200))
    assert leg.state is LegState.ENDED and lp.take() == []


def test_cancel_then_a_crossing_answer_is_acked_and_ended() -> None:
    lp = LegPair()
    leg = callee_leg(lp)
    (invite,) = lp.phone_requests()
    lp.phone_responds(answer(invite, 180))
    lp.take()
    leg.hang_up(lp.now)  # ringing: hang_up means CANCEL
    lp.flush()
    assert leg.state is LegState.CANCELLING
    assert [r.method for r in lp.phone_requests()] == ["CANCEL"]
    lp.phone_responds(answer(invite, 200))  # the phone answered as the CANCEL crossed
    assert [r.method for r in lp.phone_requests()] == ["ACK", "BYE"]
    assert leg.state is LegState.ENDING and lp.take() == []


def test_refusal_and_timeout_end_the_callee_with_the_status() -> None:
    lp = LegPair()
    busy = callee_leg(lp)
    (invite,) = lp.phone_requests()
    lp.phone_responds(answer(invite, 486))
    (ended,) = lp.take()
    assert isinstance(ended, LegEnded) and (ended.status, ended.by) == (486, EndedBy.REMOTE)
    assert busy.state is LegState.ENDED

    silent = LegPair()
    silent.pair.client.deaf = True  # not even a 100 Trying: Timer B runs out (RFC 3261 §17.1.1.2)
    leg = callee_leg(silent)
    silent.advance(40)
    (timeout,) = silent.take()
    assert isinstance(timeout, LegEnded) and (timeout.status, timeout.by) == (408, EndedBy.TIMEOUT)
    assert leg.state is LegState.ENDED


def test_hold_and_resume_by_reinvite_and_491_while_one_is_pending() -> None:
    lp = LegPair()
    leg = answered_caller(lp)
    ok = make_request("ACK", to_tag="sw-tag")  # only its To tag is used
    lp.phone_sends(in_dialog(ok, "INVITE", cseq=2, body=phone_sdp("sendonly", version=2)))
    lp.flush()
    held, reoffered = lp.take()
    assert isinstance(held, LegHeld) and isinstance(reoffered, LegReoffered)
    assert reoffered.offer.audio is not None and reoffered.offer.audio.direction == "sendonly"
    lp.phone_sends(in_dialog(ok, "INVITE", cseq=3, body=phone_sdp("sendrecv", version=3)))
    lp.flush()
    assert [r.status for r in lp.phone_responses() if r.status >= 200] == [491]
    leg.answer_reoffer(leg.local_sdp(leg.remote_sdp, leg.remote_audio.codecs, "recvonly", 7))  # type: ignore[union-attr]
    lp.flush()
    (ok2,) = [r for r in lp.phone_responses() if r.status == 200]
    assert b"a=recvonly" in ok2.body and b"o=softswitch 7 2 " in ok2.body
    lp.phone_sends(in_dialog(ok, "INVITE", cseq=4, body=phone_sdp("sendrecv", version=4)))
    lp.flush()
    resumed, _ = lp.take()
    assert isinstance(resumed, LegResumed) and not leg.held


def test_dtmf_by_sip_info_becomes_a_digit_event() -> None:
    lp = LegPair()
    leg = answered_caller(lp)
    ok = make_request("ACK", to_tag="sw-tag")
    for cseq, (kind, body) in enumerate(
        [
            ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            ("application/dtmf", b"#"),
            ("application/dtmf-relay", b"Signal=55\r\n"),  # not a digit: ignored
            ("text/plain", b"Signal=1"),
        ],
        start=2,
    ):
        info = in_dialog(ok, "INFO", cseq=cseq)
        info.body = body
        info.headers.append(("Content-Type", kind))
        lp.phone_sends(info)
        lp.flush()
    digits = [(e.digit, e.duration_ms, e.method) for e in lp.take() if isinstance(e, DigitReceived)]
    assert digits == [("5", 160, "info"), ("#", 0, "info")]
    assert [r.status for r in lp.phone_responses()] == [200] * 4
    assert leg.state is LegState.CONFIRMED


def test_commands_the_table_does_not_allow_raise() -> None:
    lp = LegPair()
    leg = callee_leg(lp)
    with pytest.raises(LocalProtocolError):
        leg.answer(b"", lp.now)  # an outbound leg is not answered by us
    with pytest.raises(LocalProtocolError):
        leg.reoffer(b"")  # no dialog yet
    caller = caller_leg(lp)
    with pytest.raises(LocalProtocolError):
        caller.cancel()  # only our own INVITE can be cancelled


@given(st.binary(max_size=300), st.sampled_from(["application/dtmf-relay", "application/dtmf"]))
def test_any_info_body_gives_a_digit_or_nothing(body: bytes, kind: str) -> None:
    lp = LegPair()
    leg = answered_caller(lp)
    info = in_dialog(make_request("ACK", to_tag="sw-tag"), "INFO", cseq=2)
    info.body = body
    info.headers.append(("Content-Type", kind))
    events = leg.receive_request(info, 0.0)
    assert all(isinstance(e, DigitReceived) and e.digit in "0123456789*#ABCD" for e in events)
    assert len(events) <= 1


def test_refer_is_accepted_with_202_and_notify_reports_the_transfer() -> None:
    """RFC 3515: 202 to the REFER, then sipfrag NOTIFYs; NOTIFY answers change no state."""
    lp = LegPair()
    leg = answered_caller(lp)
    ok = make_request("ACK", to_tag="sw-tag")
    refer = in_dialog(ok, "REFER", cseq=2)
    refer.headers.append(("Refer-To", "<sip:1002@127.0.0.1>"))
    lp.phone_sends(refer)
    lp.flush()
    (event,) = [e for e in lp.take() if isinstance(e, TransferRequested)]
    assert event.refer_to.number == "1002" and event.refer_to.replaces is None
    assert [r.status for r in lp.phone_responses()] == [202]
    leg.notify_refer(100, "Trying", final=False)
    leg.notify_refer(200, "OK", final=True)
    lp.flush()
    notifies = [r for r in lp.phone_requests() if r.method == "NOTIFY"]
    assert [n.body for n in notifies] == [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"]
    assert notifies[0].header("Event") == "refer"
    assert (notifies[1].header("Subscription-State") or "").startswith("terminated")
    assert notifies[0].cseq.seq < notifies[1].cseq.seq
    for notify in notifies:
        lp.phone_responds(make_response(notify, 200))
    assert leg.state is LegState.CONFIRMED
    leg.hang_up(lp.now)
    lp.flush()
    (bye,) = [r for r in lp.phone_requests() if r.method == "BYE"]
    lp.phone_responds(make_response(bye, 200))
    assert leg.state is LegState.ENDED


def test_refer_without_refer_to_is_a_400_and_keeps_the_call() -> None:
    lp = LegPair()
    leg = answered_caller(lp)
    refer = in_dialog(make_request("ACK", to_tag="sw-tag"), "REFER", cseq=2)
    lp.phone_sends(refer)
    with pytest.raises(RemoteProtocolError) as info:
        lp.flush()
    assert info.value.status_hint == 400
    assert leg.state is LegState.CONFIRMED
