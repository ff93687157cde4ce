"""The transaction layer, two instances back to back in memory, every RFC 3261/6026 timer."""

from __future__ import annotations

import itertools

import pytest
from sip.helpers import Endpoint, Pair, make_request

from softswitch.sip.errors import LocalProtocolError
from softswitch.sip.message import Request, Response, make_response, parse_message
from softswitch.sip.transaction import (
    T1,
    T2,
    T4,
    TIMER_D,
    AckTimedOut,
    CancelReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionKey,
    TransactionLayer,
    TransactionState,
    TransactionTimedOut,
    build_cancel,
)

S = TransactionState
SIXTY_FOUR_T1 = 64 * T1


def only(events: list[Event], kind: type) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def statuses(events: list[Event]) -> list[int]:
    """The status of each event, all of which must be responses for a client transaction."""
    assert all(isinstance(e, ResponseReceived) for e in events), events
    return [e.response.status for e in events if isinstance(e, ResponseReceived)]


def request_keys(events: list[Event]) -> list[TransactionKey | None]:
    assert all(isinstance(e, RequestReceived) for e in events), events
    return [e.key for e in events if isinstance(e, RequestReceived)]


def send_times(pair: Pair, side: Endpoint, until: float) -> list[float]:
    """Step the clock by quarter seconds up to `until`, noting when `side` sent something."""
    times = [pair.now]
    while pair.now < until:
        before = len(side.sent)
        pair.advance(0.25)
        if len(side.sent) > before:
            times.append(pair.now)
    return times


def server_request(pair: Pair) -> tuple[Request, TransactionKey]:
    (event,) = pair.server.take()
    assert isinstance(event, RequestReceived)
    assert event.key is not None
    assert event.source == pair.client.address
    return event.request, event.key


def ack_for_2xx(invite: Request, response: Response, branch: str = "z9hG4bK-ack") -> Request:
    return make_request(
        "ACK", branch=branch, cseq=invite.cseq.seq, to_tag=response.to.tag, call_id=invite.call_id
    )


# ------------------------------------------------------------------------------ INVITE, 100 Trying


def test_new_invite_gets_100_trying_and_reaches_the_tu() -> None:
    pair = Pair()
    invite = make_request("INVITE")
    pair.client_request(invite)
    request, key = server_request(pair)
    assert request.method == "INVITE"
    assert key == TransactionKey("z9hG4bK-1", f"127.0.0.1:{pair.client.address[2]}", "INVITE", True)
    (trying,) = pair.client.take()
    assert isinstance(trying, ResponseReceived)
    assert trying.response.status == 100
    assert trying.response.to.tag is None  # §17.2.1: no tag on the 100
    client_key = TransactionKey.client("z9hG4bK-1", "INVITE")
    assert pair.client.layer.state(client_key) is S.PROCEEDING
    assert pair.server.layer.state(key) is S.PROCEEDING
    pair.server_respond(make_response(request, 486, to_tag="uas"))
    pair.advance(100)
    pair.assert_idle()


def test_without_auto_trying_the_server_sends_nothing_until_the_tu_does() -> None:
    pair = Pair(server=TransactionLayer(auto_trying=False))
    pair.client_request(make_request("INVITE"))
    request, _ = server_request(pair)
    assert pair.server.sent == []
    pair.server_respond(make_response(request, 180, to_tag="uas"))
    assert pair.server.sent_lines() == ["SIP/2.0 180 Ringing"]
    pair.server_respond(make_response(request, 603, to_tag="uas"))
    pair.advance(100)
    pair.assert_idle()


# ----------------------------------------------------------------------------- Timers A, B, C-less


def test_timer_a_retransmits_identical_bytes_doubling_until_timer_b() -> None:
    pair = Pair()
    pair.server.deaf = True
    key = pair.client.layer.send_request(make_request("INVITE"), pair.server.address, pair.now)
    pair.pump()
    times = send_times(pair, pair.client, SIXTY_FOUR_T1)
    # A = T1, 2T1, 4T1 ... with no cap (RFC 3261 §17.1.1.2): 7 sends inside 64*T1
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert len(set(pair.client.sent)) == 1  # byte-identical retransmissions
    assert pair.client.take() == [TransactionTimedOut(key, "INVITE")]  # Timer B at 32 s
    assert pair.now == SIXTY_FOUR_T1
    pair.assert_idle()


def test_timer_b_does_not_fire_in_proceeding_a_ua_has_no_timer_c() -> None:
    pair = Pair()
    pair.client_request(make_request("INVITE"))
    request, _ = server_request(pair)
    pair.server_respond(make_response(request, 180, to_tag="uas"))
    sent = len(pair.client.sent)
    pair.advance(10 * SIXTY_FOUR_T1)
    # Timer A stopped at the provisional, Timer B with it; the TU decides when to CANCEL
    assert len(pair.client.sent) == sent
    events = pair.client.take()
    assert [e.response.status for e in events if isinstance(e, ResponseReceived)] == [100, 180]
    assert only(events, TransactionTimedOut) == []
    assert pair.client.layer.state(TransactionKey.client("z9hG4bK-1", "INVITE")) is S.PROCEEDING
    pair.server_respond(make_response(request, 480, to_tag="uas"))
    assert statuses(pair.client.take()) == [480]
    pair.advance(100)
    pair.assert_idle()


# ----------------------------------------------------------------- non-2xx: ACK, Timers D, G, H, I


def test_client_acks_a_failure_itself_and_the_server_sees_no_event() -> None:
    pair = Pair()
    route = "<sip:proxy.example.com;lr>"
    invite = make_request("INVITE", routes=(route,))
    pair.client_request(invite)
    request, key = server_request(pair)
    pair.server_respond(make_response(request, 486, to_tag="busy"))
    ack = parse_message(pair.client.sent[-1])
    assert isinstance(ack, Request)
    # RFC 3261 §17.1.1.3: the ACK is built by the transaction from the INVITE and the response
    assert ack.method == "ACK"
    assert ack.uri == invite.uri
    assert ack.values("Via") == invite.values("Via")[:1]
    assert ack.top_via.branch == "z9hG4bK-1"
    assert ack.to.tag == "busy"
    assert ack.header("From") == invite.header("From")
    assert ack.call_id == invite.call_id
    assert (ack.cseq.seq, ack.cseq.method) == (1, "ACK")
    assert ack.header_lines("Route") == [route]
    assert pair.server.take() == []
    assert pair.server.layer.state(key) is S.CONFIRMED
    client_key = TransactionKey.client("z9hG4bK-1", "INVITE")
    assert pair.client.layer.state(client_key) is S.COMPLETED
    pair.advance(T4)  # Timer I (T4)
    assert pair.server.layer.state(key) is S.TERMINATED
    assert pair.client.layer.state(client_key) is S.COMPLETED
    pair.advance(TIMER_D - T4)  # Timer D (32 s)
    assert pair.client.layer.state(client_key) is S.TERMINATED
    pair.assert_idle()


def test_timer_g_retransmits_the_failure_and_the_completed_client_re_acks_without_event() -> None:
    pair = Pair()
    pair.client_request(make_request("INVITE"))
    request, key = server_request(pair)
    pair.client.take()
    pair.server.deaf = True  # the ACKs are lost: the server keeps retransmitting its 486
    pair.server_respond(make_response(request, 486, to_tag="busy"))
    assert statuses(pair.client.take()) == [486]
    acks_before = pair.client.sent_lines().count(f"ACK {request.uri} SIP/2.0")
    pair.advance(T1)  # Timer G: first retransmission
    assert pair.server.sent_lines().count("SIP/2.0 486 Busy Here") == 2
    assert pair.client.take() == []  # absorbed in Completed ...
    # ... but the ACK went out again
    assert pair.client.sent_lines().count(f"ACK {request.uri} SIP/2.0") == acks_before + 1
    pair.server.deaf = False
    pair.advance(2 * T1)  # the next retransmission's ACK gets through
    assert pair.server.layer.state(key) is S.CONFIRMED
    assert pair.server.take() == []
    pair.advance(100)
    pair.assert_idle()


def test_timer_g_caps_at_t2_and_timer_h_reports_the_missing_ack() -> None:
    pair = Pair()
    pair.client_request(make_request("INVITE"))
    request, key = server_request(pair)
    pair.client.deaf = True
    pair.server_respond(make_response(request, 486, to_tag="busy"))
    gaps = [b - a for a, b in itertools.pairwise(send_times(pair, pair.server, SIXTY_FOUR_T1))]
    assert gaps[:4] == [T1, 2 * T1, 4 * T1, T2]
    assert set(gaps[3:]) == {T2}
    assert len(set(pair.server.sent[1:])) == 1  # the same 486 each time
    assert pair.server.take() == [TransactionTimedOut(key, "INVITE")]  # Timer H, 64*T1
    pair.client.deaf = False
    pair.deliver(pair.client, pair.server.sent[-1], pair.server.address)  # for the client's sake
    pair.pump()
    pair.advance(100)
    pair.assert_idle()


# -------------------------------------------------------- 2xx: Accepted, Timers L and M, ACK wait


def answer(pair: Pair) -> tuple[Request, Response, TransactionKey]:
    pair.client_request(make_request("INVITE"))
    request, key = server_request(pair)
    ok = make_response(request, 200, to_tag="uas")
    pair.server_respond(ok)
    return request, ok, key


def test_2xx_is_accepted_and_the_end_to_end_ack_stops_its_retransmission() -> None:
    pair = Pair()
    request, ok, key = answer(pair)
    client_key = TransactionKey.client("z9hG4bK-1", "INVITE")
    events = pair.client.take()
    assert statuses(events) == [100, 200]
    assert pair.client.layer.state(client_key) is S.ACCEPTED
    assert pair.server.layer.state(key) is S.ACCEPTED
    assert pair.server.layer.awaiting_ack == 1
    ack = ack_for_2xx(request, ok)
    pair.client.layer.send_ack(ack, pair.server.address)
    pair.pump()
    (event,) = pair.server.take()
    assert isinstance(event, RequestReceived)
    assert event.key is None
    assert event.request.method == "ACK"
    assert pair.server.layer.awaiting_ack == 0
    pair.advance(SIXTY_FOUR_T1 - 0.01)
    assert pair.server.sent_lines().count("SIP/2.0 200 OK") == 1  # never retransmitted
    assert pair.server.layer.state(key) is S.ACCEPTED  # Timer L not yet
    assert pair.client.layer.state(client_key) is S.ACCEPTED  # Timer M not yet
    pair.advance(0.01)
    assert pair.server.layer.state(key) is S.TERMINATED  # Timer L
    assert pair.client.layer.state(client_key) is S.TERMINATED  # Timer M
    assert pair.client.take() == []
    assert pair.server.take() == []
    pair.assert_idle()


def test_unacked_2xx_is_retransmitted_reaches_the_client_tu_then_ack_times_out() -> None:
    pair = Pair()
    request, _, _ = answer(pair)
    pair.client.take()
    pair.advance(SIXTY_FOUR_T1)
    retransmissions = [e for e in pair.client.take() if isinstance(e, ResponseReceived)]
    # T1 doubling to T2 (§13.3.1.4): 0.5 1.5 3.5 7.5 11.5 ... 31.5
    assert len(retransmissions) == 3 + int((SIXTY_FOUR_T1 - 3.5) // T2)
    assert {(e.response.status, e.response.to.tag) for e in retransmissions} == {(200, "uas")}
    assert len(set(pair.server.sent[1:])) == 1
    assert pair.server.take() == [AckTimedOut(request.call_id, 1, "uas")]
    pair.assert_idle()
    # after Timer M the 2xx belongs to no transaction: the TU may re-ACK it
    pair.deliver(pair.client, pair.server.sent[-1], pair.server.address)
    (stray,) = pair.client.take()
    assert isinstance(stray, StrayResponse)
    assert stray.response.status == 200


def test_late_ack_after_ack_timeout_still_reaches_the_tu() -> None:
    pair = Pair()
    request, ok, _ = answer(pair)
    pair.client.deaf = True
    pair.advance(SIXTY_FOUR_T1)
    assert only(pair.server.take(), AckTimedOut) == [AckTimedOut(request.call_id, 1, "uas")]
    pair.client.layer.send_ack(ack_for_2xx(request, ok), pair.server.address)
    pair.pump()
    assert request_keys(pair.server.take()) == [None]
    pair.client.deaf = False
    pair.advance(100)
    pair.assert_idle()


def test_a_2xx_from_another_fork_reaches_the_tu_with_its_own_tag() -> None:
    pair = Pair()
    pair.client_request(make_request("INVITE"))
    request, _ = server_request(pair)
    pair.server_respond(make_response(request, 200, to_tag="fork-a"))
    forked = make_response(request, 200, to_tag="fork-b")
    pair.deliver(pair.client, forked.serialize(), pair.server.address)
    tags = [e.response.to.tag for e in pair.client.take() if isinstance(e, ResponseReceived)]
    assert tags == [None, "fork-a", "fork-b"]  # 100, 200 fork-a, 200 fork-b
    pair.client.layer.send_ack(
        ack_for_2xx(request, make_response(request, 200, to_tag="fork-a")), pair.server.address
    )
    pair.pump()
    pair.advance(100)
    pair.assert_idle()


def test_invite_retransmission_in_accepted_is_absorbed() -> None:
    pair = Pair()
    request, ok, _ = answer(pair)
    sent = len(pair.server.sent)
    pair.deliver(pair.server, pair.client.sent[0], pair.client.address)
    assert pair.server.take() == []
    assert len(pair.server.layer.outgoing()) == 0  # RFC 6026 §8.5: absorbed, not answered
    assert len(pair.server.sent) == sent
    pair.client.layer.send_ack(ack_for_2xx(request, ok), pair.server.address)
    pair.pump()
    pair.advance(100)
    pair.assert_idle()


def test_ack_for_2xx_reusing_the_invite_branch_is_end_to_end_too() -> None:
    pair = Pair()
    request, ok, key = answer(pair)
    pair.client.layer.send_ack(ack_for_2xx(request, ok, branch="z9hG4bK-1"), pair.server.address)
    pair.pump()
    assert request_keys(pair.server.take()) == [None]
    assert pair.server.layer.awaiting_ack == 0
    assert pair.server.layer.state(key) is S.ACCEPTED
    pair.advance(100)
    pair.assert_idle()


def test_stray_ack_is_passed_up_without_a_key() -> None:
    layer = TransactionLayer()
    ack = make_request("ACK", branch="z9hG4bK-nothing", to_tag="x")
    events = layer.receive(ack, ("udp", "127.0.0.1", 5070), 0.0)
    assert events == [RequestReceived(ack, ("udp", "127.0.0.1", 5070), None)]
    assert layer.outgoing() == []
    assert len(layer) == 0


# ------------------------------------------------------------------------ non-INVITE: E, F, J, K


def test_timer_e_doubles_to_t2_and_timer_f_times_out() -> None:
    pair = Pair()
    pair.server.deaf = True
    key = pair.client.layer.send_request(make_request("OPTIONS"), pair.server.address, 0.0)
    pair.pump()
    gaps = [b - a for a, b in itertools.pairwise(send_times(pair, pair.client, SIXTY_FOUR_T1))]
    assert gaps[:4] == [T1, 2 * T1, 4 * T1, T2]
    assert set(gaps[3:]) == {T2}
    assert len(set(pair.client.sent)) == 1
    assert pair.client.take() == [TransactionTimedOut(key, "OPTIONS")]  # Timer F
    assert pair.now == SIXTY_FOUR_T1
    pair.assert_idle()


def test_timer_e_runs_at_t2_in_proceeding_and_the_server_repeats_its_provisional() -> None:
    pair = Pair()
    key = pair.client.layer.send_request(make_request("OPTIONS"), pair.server.address, 0.0)
    pair.pump()
    request, server_key = server_request(pair)
    pair.server_respond(make_response(request, 100))
    assert pair.client.layer.state(key) is S.PROCEEDING
    assert pair.server.layer.state(server_key) is S.PROCEEDING
    pair.advance(T1)  # E still on its first interval
    pair.advance(T2)  # then T2 flat
    assert len(pair.client.sent) == 3
    pair.advance(T2 - 0.01)
    assert len(pair.client.sent) == 3
    pair.advance(0.01)
    assert len(pair.client.sent) == 4
    # each retransmission got the last provisional again, and the server TU saw none of them
    assert pair.server.sent_lines() == ["SIP/2.0 100 Trying"] * 4
    assert pair.server.take() == []
    pair.server_respond(make_response(request, 200, to_tag="uas"))
    assert statuses(pair.client.take()) == [100] * 4 + [200]
    pair.advance(100)
    pair.assert_idle()


def test_non_invite_retransmission_gets_the_final_again_timers_j_and_k() -> None:
    pair = Pair()
    key = pair.client.layer.send_request(make_request("OPTIONS"), pair.server.address, 0.0)
    pair.pump()
    request, server_key = server_request(pair)
    pair.client.deaf = True  # the 200 is lost: the client retransmits (Timer E)
    pair.server_respond(make_response(request, 200, to_tag="uas"))
    pair.client.deaf = False
    pair.advance(T1)
    assert pair.server.sent_lines() == ["SIP/2.0 200 OK"] * 2  # the same 200 again ...
    assert pair.server.sent[0] == pair.server.sent[1]
    assert pair.server.take() == []  # ... and no second request for the TU
    assert [type(e) for e in pair.client.take()] == [ResponseReceived]
    assert pair.client.layer.state(key) is S.COMPLETED
    pair.advance(T4)  # Timer K
    assert pair.client.layer.state(key) is S.TERMINATED
    assert pair.server.layer.state(server_key) is S.COMPLETED
    pair.advance(SIXTY_FOUR_T1 - T4 - T1)  # Timer J, 64*T1 after the 200
    assert pair.server.layer.state(server_key) is S.TERMINATED
    pair.assert_idle()


def test_non_invite_retransmission_in_trying_is_absorbed() -> None:
    pair = Pair()
    pair.client_request(make_request("OPTIONS"))
    request, _ = server_request(pair)
    pair.advance(T1)
    assert len(pair.client.sent) == 2
    assert pair.server.take() == []
    assert pair.server.sent == []
    pair.server_respond(make_response(request, 200, to_tag="uas"))
    pair.advance(100)
    pair.assert_idle()


def test_late_responses_are_absorbed_and_unknown_ones_are_stray() -> None:
    pair = Pair()
    pair.client_request(make_request("OPTIONS"))
    request, _ = server_request(pair)
    pair.server_respond(make_response(request, 200, to_tag="uas"))
    pair.client.take()
    late = make_response(request, 180, to_tag="uas").serialize()
    pair.deliver(pair.client, late, pair.server.address)
    assert pair.client.take() == []  # Completed absorbs it
    unknown = make_response(make_request("OPTIONS", branch="z9hG4bK-unknown"), 200)
    pair.deliver(pair.client, unknown.serialize(), pair.server.address)
    assert [type(e) for e in pair.client.take()] == [StrayResponse]
    pair.advance(100)
    pair.assert_idle()


# ------------------------------------------------------------------------------------- CANCEL


def test_cancel_is_answered_200_reported_and_the_invite_ends_with_487() -> None:
    pair = Pair()
    invite = make_request("INVITE")
    invite_key = pair.client.layer.send_request(invite, pair.server.address, 0.0)
    pair.pump()
    request, server_invite_key = server_request(pair)
    pair.server_respond(make_response(request, 180, to_tag="uas"))
    pair.client.take()
    cancel_key = pair.client.layer.cancel(invite_key, build_cancel(invite), pair.now)
    assert cancel_key == TransactionKey.client("z9hG4bK-1", "CANCEL")
    pair.pump()
    (event,) = pair.server.take()
    assert isinstance(event, CancelReceived)
    assert event.invite_key == server_invite_key
    assert event.cancel.method == "CANCEL"
    (ok,) = pair.client.take()
    assert isinstance(ok, ResponseReceived)
    assert ok.key == cancel_key
    assert ok.response.status == 200
    assert ok.response.to.tag == "uas"  # §9.2: the tag of the INVITE's responses
    pair.server_respond(make_response(request, 487, to_tag="uas"))
    (terminated,) = pair.client.take()
    assert statuses([terminated]) == [487]
    assert pair.client.sent_lines()[-1].startswith("ACK ")
    assert pair.server.take() == []
    pair.advance(100)
    pair.assert_idle()


def test_cancel_waits_for_a_provisional() -> None:
    pair = Pair(server=TransactionLayer(auto_trying=False))
    invite = make_request("INVITE")
    invite_key = pair.client.layer.send_request(invite, pair.server.address, 0.0)
    pair.pump()
    request, server_invite_key = server_request(pair)
    assert pair.client.layer.cancel(invite_key, build_cancel(invite), pair.now) is None
    pair.pump()
    assert not any(line.startswith("CANCEL") for line in pair.client.sent_lines())  # §9.1
    pair.advance(T1)  # Timer A still retransmits the INVITE; the server absorbs it
    assert pair.client.sent_lines() == [f"INVITE {invite.uri} SIP/2.0"] * 2
    pair.server_respond(make_response(request, 183, to_tag="uas"))
    assert pair.client.sent_lines()[-1] == f"CANCEL {invite.uri} SIP/2.0"
    (event,) = pair.server.take()
    assert isinstance(event, CancelReceived)
    assert event.invite_key == server_invite_key
    # the provisional, then the 200 to the CANCEL
    assert statuses(pair.client.take()) == [183, 200]
    pair.server_respond(make_response(request, 487, to_tag="uas"))
    pair.advance(100)
    pair.assert_idle()


def test_unmatched_cancel_gets_481_and_no_event() -> None:
    pair = Pair()
    cancel = build_cancel(make_request("INVITE", branch="z9hG4bK-gone"))
    pair.client_request(cancel)
    assert pair.server.take() == []
    assert pair.server.sent_lines() == ["SIP/2.0 481 Call/Transaction Does Not Exist"]
    assert statuses(pair.client.take()) == [481]
    assert len(pair.server.layer) == 0  # answered statelessly
    pair.advance(100)
    pair.assert_idle()


def test_cancel_after_the_final_response_is_answered_but_has_no_effect() -> None:
    pair = Pair()
    invite = make_request("INVITE")
    pair.client_request(invite)
    request, _ = server_request(pair)
    pair.server_respond(make_response(request, 486, to_tag="busy"))
    pair.client_request(build_cancel(invite))  # as if the client had raced the final
    assert pair.server.take() == []
    assert pair.server.sent_lines()[-1] == "SIP/2.0 200 OK"
    pair.advance(100)
    pair.assert_idle()


def test_retransmitted_cancel_gets_the_same_200_and_no_second_event() -> None:
    pair = Pair()
    invite = make_request("INVITE")
    invite_key = pair.client.layer.send_request(invite, pair.server.address, 0.0)
    pair.pump()
    request, _ = server_request(pair)
    pair.client.take()
    pair.client.layer.cancel(invite_key, build_cancel(invite), pair.now)
    pair.client.deaf = True  # the 200 to the CANCEL is lost
    pair.pump()
    assert [type(e) for e in pair.server.take()] == [CancelReceived]
    pair.client.deaf = False
    pair.advance(T1)
    assert pair.server.take() == []
    assert pair.server.sent_lines()[-2:] == ["SIP/2.0 200 OK"] * 2
    pair.server_respond(make_response(request, 487, to_tag="uas"))
    pair.advance(100)
    pair.assert_idle()


def test_invite_is_given_up_64_t1_after_an_unanswered_cancel() -> None:
    pair = Pair()
    invite = make_request("INVITE")
    invite_key = pair.client.layer.send_request(invite, pair.server.address, 0.0)
    pair.pump()
    pair.server.take()
    pair.server.deaf = True
    cancel_key = pair.client.layer.cancel(invite_key, build_cancel(invite), pair.now)
    pair.pump()
    pair.advance(SIXTY_FOUR_T1)
    timeouts = only(pair.client.take(), TransactionTimedOut)
    assert cancel_key is not None
    assert set(timeouts) == {
        TransactionTimedOut(invite_key, "INVITE"),  # RFC 3261 §9.1
        TransactionTimedOut(cancel_key, "CANCEL"),  # Timer F
    }
    # the server never got the CANCEL: its INVITE waits for the TU, which answers at last
    pair.server.deaf = False
    pair.client.deaf = True
    pair.server.layer.send_response(
        make_response(make_request("INVITE"), 408, to_tag="uas"), pair.now
    )
    pair.pump()
    pair.client.deaf = False
    pair.advance(100)
    pair.assert_idle()


def test_pending_cancel_is_dropped_when_a_2xx_arrives_first() -> None:
    pair = Pair(server=TransactionLayer(auto_trying=False))
    invite = make_request("INVITE")
    invite_key = pair.client.layer.send_request(invite, pair.server.address, 0.0)
    pair.pump()
    request, _ = server_request(pair)
    assert pair.client.layer.cancel(invite_key, build_cancel(invite), pair.now) is None
    ok = make_response(request, 200, to_tag="uas")
    pair.server_respond(ok)
    assert statuses(pair.client.take()) == [200]
    assert not any(line.startswith("CANCEL") for line in pair.client.sent_lines())
    pair.client.layer.send_ack(ack_for_2xx(request, ok), pair.server.address)
    pair.pump()
    pair.advance(100)
    pair.assert_idle()


# ----------------------------------------------------------------------------------- RFC 2543


def test_rfc2543_requests_match_on_call_id_from_tag_cseq_and_via() -> None:
    layer = TransactionLayer()
    source = ("udp", "127.0.0.1", 5070)
    invite = make_request("INVITE", branch=None)
    (event,) = layer.receive(invite, source, 0.0)
    assert isinstance(event, RequestReceived)
    assert event.key is not None
    assert [o.data.split(b"\r\n")[0] for o in layer.outgoing()] == [b"SIP/2.0 100 Trying"]
    # a retransmission: absorbed, the 100 again
    assert layer.receive(make_request("INVITE", branch=None), source, 0.1) == []
    assert [o.data.split(b"\r\n")[0] for o in layer.outgoing()] == [b"SIP/2.0 100 Trying"]
    # the same fields on another Request-URI: a merged request (RFC 3261 §8.2.2.2)
    other = make_request("INVITE", branch=None, uri="sip:carol@127.0.0.1:5080")
    assert layer.receive(other, source, 0.2) == []
    assert [o.data.split(b"\r\n")[0] for o in layer.outgoing()] == [b"SIP/2.0 482 Loop Detected"]
    # another CSeq is another transaction
    (second,) = layer.receive(make_request("INVITE", branch=None, cseq=2), source, 0.3)
    assert isinstance(second, RequestReceived)
    assert second.key != event.key
    layer.outgoing()
    # CANCEL matches by the same fields
    cancel = build_cancel(invite)
    (cancelled,) = layer.receive(cancel, source, 0.4)
    assert cancelled == CancelReceived(event.key, cancel)
    layer.send_response(make_response(invite, 487, to_tag="uas"), 0.5)
    layer.send_response(make_response(second.request, 486, to_tag="uas"), 0.5)
    layer.outgoing()
    # an ACK with another To tag is not for this transaction: passed up as stray
    wrong = make_request("ACK", branch=None, to_tag="someone-else")
    assert layer.receive(wrong, source, 0.6) == [RequestReceived(wrong, source, None)]
    assert layer.state(event.key) is S.COMPLETED
    # the real ACK (same top Via, the response's To tag) confirms it without an event
    assert layer.receive(make_request("ACK", branch=None, to_tag="uas"), source, 0.7) == []
    assert layer.state(event.key) is S.CONFIRMED
    assert layer.receive(make_request("ACK", branch=None, cseq=2, to_tag="uas"), source, 0.7) == []
    layer.handle_timer(100.0)
    assert len(layer) == 0
    assert layer.next_timer() is None


# ---------------------------------------------------------------------------------------- TCP


def test_tcp_sends_once_and_completed_states_end_at_once() -> None:
    pair = Pair("tcp")
    pair.server.deaf = True
    key = pair.client.layer.send_request(
        make_request("INVITE", transport="TCP"), pair.server.address, 0.0
    )
    pair.pump()
    pair.advance(SIXTY_FOUR_T1)
    assert len(pair.client.sent) == 1  # no Timer A on a reliable transport
    assert pair.client.take() == [TransactionTimedOut(key, "INVITE")]  # Timer B still applies
    pair.assert_idle()

    pair.server.deaf = False
    pair.client_request(make_request("INVITE", branch="z9hG4bK-2", transport="TCP"))
    request, _ = server_request(pair)
    pair.client.deaf = True
    pair.server_respond(make_response(request, 486, to_tag="busy"))
    pair.advance(SIXTY_FOUR_T1)
    assert pair.server.sent_lines() == ["SIP/2.0 100 Trying", "SIP/2.0 486 Busy Here"]  # no G
    assert [type(e) for e in pair.server.take()] == [TransactionTimedOut]  # Timer H
    # the client gets the 486 at last: its ACK finds no transaction and goes up as stray
    pair.client.deaf = False
    pair.deliver(pair.client, pair.server.sent[-1], pair.server.address)
    pair.pump()
    assert request_keys(pair.server.take()) == [None]
    pair.assert_idle()


def test_tcp_timers_d_i_j_k_are_zero() -> None:
    pair = Pair("tcp")
    pair.client_request(make_request("INVITE", transport="TCP"))
    request, _ = server_request(pair)
    pair.server_respond(make_response(request, 486, to_tag="busy"))
    # the ACK went through at once: Timer I (server) and Timer D (client) were zero
    assert len(pair.client.layer) == 0
    assert len(pair.server.layer) == 0
    pair.client_request(make_request("OPTIONS", branch="z9hG4bK-3", transport="TCP"))
    request, _ = server_request(pair)
    pair.server_respond(make_response(request, 200, to_tag="uas"))
    assert len(pair.client.layer) == 0  # Timer K zero
    assert len(pair.server.layer) == 0  # Timer J zero
    assert statuses(pair.client.take()) == [100, 486, 200]
    pair.assert_idle()


def test_tcp_2xx_is_still_retransmitted_until_the_ack() -> None:
    pair = Pair("tcp")
    pair.client_request(make_request("INVITE", transport="TCP"))
    request, _ = server_request(pair)
    ok = make_response(request, 200, to_tag="uas")
    pair.server_respond(ok)
    pair.advance(T1)
    # RFC 3261 §13.3.1.4: end to end, a later hop may be UDP
    assert pair.server.sent_lines().count("SIP/2.0 200 OK") == 2
    pair.client.layer.send_ack(ack_for_2xx(request, ok), pair.server.address)
    pair.pump()
    pair.advance(100)
    assert pair.server.sent_lines().count("SIP/2.0 200 OK") == 2
    pair.assert_idle()


# ----------------------------------------------------------------------------------- the cap


def test_over_the_cap_new_requests_get_503_statelessly() -> None:
    pair = Pair(server=TransactionLayer(max_transactions=2))
    for n in range(3):
        pair.client_request(make_request("INVITE", branch=f"z9hG4bK-{n}", call_id=f"c{n}"))
    assert len(pair.server.layer) == 2
    events = pair.server.take()
    assert [type(e) for e in events] == [RequestReceived] * 3
    # the ACK for the stateless 503 belongs to no transaction: passed up as a stray ACK
    methods = [e.request.method for e in events if isinstance(e, RequestReceived)]
    assert methods == ["INVITE", "INVITE", "ACK"]
    assert request_keys(events)[2] is None
    assert pair.server.sent_lines()[-1] == "SIP/2.0 503 Service Unavailable"
    rejected = parse_message(pair.server.sent[-1])
    assert rejected.header("Retry-After") is not None
    assert rejected.call_id == "c2"
    assert rejected.to.tag  # a final response carries a To tag, even a stateless one
    events = pair.client.take()
    assert statuses(events) == [100, 100, 503]
    for event in events[:2]:
        assert isinstance(event, ResponseReceived)
    pair.advance(100)
    assert len(pair.client.layer) == 2  # the two accepted INVITEs still wait for their TU
    for n in range(2):
        invite = make_request("INVITE", branch=f"z9hG4bK-{n}", call_id=f"c{n}")
        pair.server_respond(make_response(invite, 480, to_tag="uas"))
    pair.advance(100)
    pair.assert_idle()


# --------------------------------------------------------------------------------- misuse


def test_misuse_raises_local_protocol_error() -> None:
    layer = TransactionLayer()
    peer = ("udp", "127.0.0.1", 5080)
    with pytest.raises(LocalProtocolError):
        layer.send_request(make_request("ACK", to_tag="x"), peer, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(make_request("INVITE", branch="1234"), peer, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_response(make_response(make_request("INVITE"), 200, to_tag="x"), 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_ack(make_request("BYE"), peer)
    key = layer.send_request(make_request("INVITE"), peer, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(make_request("INVITE"), peer, 0.0)  # same branch twice
    with pytest.raises(LocalProtocolError):  # the CANCEL's branch must be the INVITE's
        layer.cancel(key, build_cancel(make_request("INVITE", branch="z9hG4bK-other")), 0.0)

    server = TransactionLayer()
    invite = make_request("INVITE")
    server.receive(invite, peer, 0.0)
    with pytest.raises(LocalProtocolError):  # a 2xx to INVITE without a To tag
        server.send_response(make_response(invite, 200), 0.0)
    server.send_response(make_response(invite, 486, to_tag="x"), 0.0)
    with pytest.raises(LocalProtocolError):  # a second final response
        server.send_response(make_response(invite, 200, to_tag="x"), 0.0)

    layer.receive(make_response(make_request("INVITE"), 486, to_tag="x"), peer, 0.1)
    with pytest.raises(LocalProtocolError):  # CANCEL after the final response (§9.1)
        layer.cancel(key, build_cancel(make_request("INVITE")), 0.1)


# ------------------------------------------------------------------------------ timer heap


def test_next_timer_skips_timers_of_finished_transactions() -> None:
    pair = Pair()
    pair.client.layer.send_request(make_request("OPTIONS"), pair.server.address, 0.0)
    pair.pump()
    request, _ = server_request(pair)
    assert pair.client.layer.next_timer() == T1  # Timer E
    pair.server_respond(make_response(request, 200, to_tag="uas"))
    # E and F are dead now; the next live deadline is Timer K
    assert pair.client.layer.next_timer() == T4
    assert pair.server.layer.next_timer() == SIXTY_FOUR_T1  # Timer J
    assert pair.client.layer.handle_timer(T4 - 0.001) == []
    pair.advance(100)
    pair.assert_idle()


def test_many_transactions_stay_cheap_and_all_end() -> None:
    pair = Pair()
    for n in range(2000):
        pair.client_request(make_request("OPTIONS", branch=f"z9hG4bK-{n}", call_id=f"c{n}"))
    requests = [server_request_from(e) for e in pair.server.take()]
    assert len(requests) == 2000
    for request in requests:
        pair.server_respond(make_response(request, 200, to_tag="uas"))
    assert len(pair.client.take()) == 2000
    pair.advance(100)
    pair.assert_idle()


def server_request_from(event: object) -> Request:
    assert isinstance(event, RequestReceived)
    return event.request


# ------------------------------------------------ cases that `make mutants` found untested


def test_cancel_carries_route_and_max_forwards() -> None:
    # RFC 3261 §9.1: the CANCEL follows the INVITE's route, and like every request it has
    # Max-Forwards; so does the ACK the transaction builds for a failure (§17.1.1.3)
    routes = ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")
    invite = make_request("INVITE", routes=routes)
    cancel = parse_message(build_cancel(invite).serialize())
    assert cancel.header_lines("Route") == list(routes)
    assert cancel.header("Max-Forwards") == "70"
    pair = Pair()
    pair.client_request(invite)
    request, _ = server_request(pair)
    pair.server_respond(make_response(request, 486, to_tag="busy"))
    ack = parse_message(pair.client.sent[-1])
    assert ack.header("Max-Forwards") == "70"
    assert ack.header_lines("Route") == list(routes)


def test_300_is_a_failure_acked_by_the_transaction_and_retransmitted_by_timer_g() -> None:
    pair = Pair()
    pair.client_request(make_request("INVITE"))
    request, key = server_request(pair)
    pair.client.deaf = True
    pair.server_respond(make_response(request, 300, to_tag="redir"))
    assert pair.server.layer.state(key) is S.COMPLETED
    pair.advance(T1)
    assert pair.server.sent_lines().count("SIP/2.0 300 Unknown") == 2  # Timer G
    pair.client.deaf = False
    pair.advance(2 * T1)
    # the client transaction ACKed the 300 itself: it is a 3xx, not a 2xx
    assert pair.client.sent_lines()[-1] == f"ACK {request.uri} SIP/2.0"
    assert pair.server.layer.state(key) is S.CONFIRMED
    client_key = TransactionKey.client("z9hG4bK-1", "INVITE")
    assert pair.client.layer.state(client_key) is S.COMPLETED
    pair.advance(100)
    pair.assert_idle()


def test_invite_responses_carry_the_transaction_key() -> None:
    pair = Pair()
    invite_key = pair.client.layer.send_request(make_request("INVITE"), pair.server.address, 0.0)
    pair.pump()
    request, _ = server_request(pair)
    pair.server_respond(make_response(request, 180, to_tag="uas"))
    pair.server_respond(make_response(request, 200, to_tag="uas"))
    pair.advance(T1)  # one 2xx retransmission
    events = pair.client.take()
    assert [e.key for e in events if isinstance(e, ResponseReceived)] == [invite_key] * 4
    other = Pair()
    key = other.client.layer.send_request(make_request("INVITE"), other.server.address, 0.0)
    other.pump()
    request, _ = server_request(other)
    other.server_respond(make_response(request, 404, to_tag="uas"))
    assert [e.key for e in other.client.take() if isinstance(e, ResponseReceived)] == [key] * 2


def test_rfc2543_keys_tell_from_tags_old_branches_and_senders_apart() -> None:
    layer = TransactionLayer()
    source = ("udp", "127.0.0.1", 5070)
    first = make_request("OPTIONS", branch=None, from_tag="a")
    (event,) = layer.receive(first, source, 0.0)
    assert isinstance(event, RequestReceived) and event.key is not None and event.key.server
    assert first.received_at == 0.0
    (other_tag,) = layer.receive(make_request("OPTIONS", branch=None, from_tag="b"), source, 0.1)
    (old_branch,) = layer.receive(make_request("OPTIONS", branch="1", from_tag="a"), source, 0.2)
    (another,) = layer.receive(make_request("OPTIONS", branch="2", from_tag="a"), source, 0.2)
    moved = make_request("OPTIONS", branch=None, from_tag="a")
    moved.set_header("Via", "SIP/2.0/UDP 127.0.0.9:5070")
    (other_sender,) = layer.receive(moved, source, 0.3)
    events = (event, other_tag, old_branch, another, other_sender)
    keys = [e.key for e in events]  # type: ignore[union-attr]
    assert len(set(keys)) == 5
    # a non-INVITE RFC 2543 retransmission after the final response gets the final again
    layer.send_response(make_response(first, 200, to_tag="uas"), 0.4)
    layer.outgoing()
    again = make_request("OPTIONS", branch=None, from_tag="a")
    assert layer.receive(again, source, 0.5) == []
    assert again.received_at == 0.5
    assert [o.data.split(b"\r\n")[0] for o in layer.outgoing()] == [b"SIP/2.0 200 OK"]


def test_stateless_replies_go_to_the_source_with_a_tag_per_request() -> None:
    layer = TransactionLayer()
    source = ("udp", "127.0.0.1", 5070)
    layer.receive(make_request("INVITE", branch=None), source, 0.0)
    layer.outgoing()
    merged = make_request("INVITE", branch=None, uri="sip:carol@127.0.0.1:5080")
    layer.receive(merged, ("udp", "127.0.0.1", 5999), 0.1)
    (out,) = layer.outgoing()
    assert out.address == ("udp", "127.0.0.1", 5999)
    loop = parse_message(out.data)
    assert isinstance(loop, Response) and loop.status == 482
    assert loop.header("Retry-After") is None  # only a 503 asks to come back later
    tags = set()
    for n in range(2):
        for _ in range(2):  # a retransmission gets the same tag
            layer.receive(make_request("CANCEL", branch=f"z9hG4bK-x{n}"), source, 0.2)
            (reply,) = layer.outgoing()
            tags.add(parse_message(reply.data).to.tag)
    assert len(tags) == 2  # two requests, two tags


def test_503_asks_to_retry_after_5_seconds() -> None:
    layer = TransactionLayer(max_transactions=0)
    layer.receive(make_request("OPTIONS"), ("udp", "127.0.0.1", 5070), 0.0)
    (out,) = layer.outgoing()
    assert parse_message(out.data).header("Retry-After") == "5"


def test_the_cancelled_invite_lives_exactly_64_t1() -> None:
    pair = Pair()
    invite = make_request("INVITE")
    invite_key = pair.client.layer.send_request(invite, pair.server.address, 0.0)
    pair.pump()
    pair.server.take()
    pair.server.deaf = True
    pair.advance(1.0)
    pair.client.layer.cancel(invite_key, build_cancel(invite), pair.now)
    pair.pump()
    pair.advance(SIXTY_FOUR_T1 - 0.01)
    assert pair.client.layer.state(invite_key) is S.PROCEEDING
    pair.advance(0.02)
    assert TransactionTimedOut(invite_key, "INVITE") in pair.client.take()


def test_another_2xx_through_accepted_restarts_neither_timer_l_nor_the_ack_wait() -> None:
    # RFC 6026 §7.1: a proxy's TU may send more 2xx through the transaction in Accepted
    pair = Pair()
    pair.client.deaf = True
    pair.client_request(make_request("INVITE"))
    request, key = server_request(pair)
    pair.server_respond(make_response(request, 200, to_tag="uas", body=b"v=0 first\r\n"))
    assert send_times(pair, pair.server, 4.0)[:4] == [0.0, T1, 3 * T1, 7 * T1]
    pair.advance(6.0)  # t = 10
    pair.server_respond(make_response(request, 200, to_tag="uas", body=b"v=0 second\r\n"))
    pair.advance(2 * T2)
    assert pair.server.sent[-1].endswith(b"v=0 second\r\n")  # the latest 2xx is repeated
    pair.server_respond(make_response(request, 200, to_tag="fork-b"))
    pair.advance(SIXTY_FOUR_T1 - pair.now - 0.01)
    assert pair.server.layer.state(key) is S.ACCEPTED
    pair.advance(0.02)  # Timer L from the first 2xx; the wait for the first tag's ACK too
    assert pair.server.layer.state(key) is S.TERMINATED
    assert AckTimedOut(request.call_id, 1, "uas") in pair.server.take()
    # fork-b's 2xx, sent later, is still retransmitted: next_timer must say when
    # (sent at 18 s: T1 doubling to T2 gives 18.5, 19.5, 21.5, 25.5, 29.5, 33.5)
    assert pair.server.layer.next_timer() == pytest.approx(33.5)
    pair.advance(SIXTY_FOUR_T1)
    assert pair.server.take() == [AckTimedOut(request.call_id, 1, "fork-b")]
    pair.client.deaf = False
    pair.advance(100)
    pair.assert_idle()


def test_due_timers_of_both_heaps_fire_in_deadline_order() -> None:
    source = ("udp", "127.0.0.1", 5070)
    for tx_first in (True, False):
        layer = TransactionLayer()
        if not tx_first:
            invite = make_request("INVITE", branch="z9hG4bK-in")
            layer.receive(invite, source, 10.0)
            layer.send_response(make_response(invite, 200, to_tag="uas"), 10.0)  # again at +T1
        layer.send_request(make_request("OPTIONS", branch="z9hG4bK-out"), source, 10.1)  # E
        if tx_first:
            invite = make_request("INVITE", branch="z9hG4bK-in")
            layer.receive(invite, source, 10.2)
            layer.send_response(make_response(invite, 200, to_tag="uas"), 10.2)
        layer.outgoing()
        layer.handle_timer(11.0)
        lines = [o.data.split(b"\r\n")[0] for o in layer.outgoing()]
        options = b"OPTIONS sip:bob@127.0.0.1:5080 SIP/2.0"
        expected = [options, b"SIP/2.0 200 OK"] if tx_first else [b"SIP/2.0 200 OK", options]
        assert lines == expected


def test_cancel_of_an_unknown_or_non_invite_transaction_is_local_error() -> None:
    layer = TransactionLayer()
    peer = ("udp", "127.0.0.1", 5080)
    with pytest.raises(LocalProtocolError):
        layer.cancel(
            TransactionKey.client("z9hG4bK-none", "INVITE"),
            build_cancel(make_request("INVITE", branch="z9hG4bK-none")),
            0.0,
        )
    options_key = layer.send_request(make_request("OPTIONS"), peer, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.cancel(options_key, build_cancel(make_request("INVITE")), 0.0)


def test_cancels_of_two_invites_each_reach_the_tu() -> None:
    layer = TransactionLayer()
    source = ("udp", "127.0.0.1", 5070)
    invites = [make_request("INVITE", branch=f"z9hG4bK-{n}", call_id=f"c{n}") for n in range(2)]
    for invite in invites:
        layer.receive(invite, source, 0.0)
    events = [e for invite in invites for e in layer.receive(build_cancel(invite), source, 0.1)]
    assert [type(e) for e in events] == [CancelReceived, CancelReceived]
