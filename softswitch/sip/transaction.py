"""SIP transactions (RFC 3261 §17, amended by RFC 6026), sans-IO.

One `TransactionLayer` holds every client and server transaction of the process. It takes parsed
messages and the time in, and gives events out (`receive`, `handle_timer`), with the bytes to send
queued for `outgoing()` and its next deadline in `next_timer()`. It never reads the clock.

The four state machines share one `TransactionState` enum and each has one transition table below
(`CLIENT_INVITE`, `CLIENT_NON_INVITE`, `SERVER_INVITE`, `SERVER_NON_INVITE`): every state change
goes through a table. An input a table does not allow raises LocalProtocolError when it comes from
our own code (a response sent twice, a CANCEL after the final response); when it comes from the
network (a late response, a stray retransmission) it is absorbed silently.

Two jobs RFC 3261 gives to the UA core live here too, because every UA needs them and both are
timers: retransmitting a 2xx to INVITE until the ACK arrives (§13.3.1.4), and holding a CANCEL
until the INVITE has had a provisional response (§9.1).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from dataclasses import dataclass
from enum import Enum, auto
from typing import NamedTuple

from softswitch.sip.errors import LocalProtocolError
from softswitch.sip.message import MAGIC_COOKIE, Request, Response, make_response

Address = tuple[str, str, int]  # (transport "udp"|"tcp", host, port)

T1 = 0.5  # RFC 3261 §17.1.1.1: RTT estimate
T2 = 4.0  # RFC 3261 §17.1.2.2: maximum retransmission interval for non-INVITE and INVITE responses
T4 = 5.0  # RFC 3261 §17.1.2.2: maximum time a message stays in the network
TIMER_D = 32.0  # RFC 3261 §17.1.1.2: "at least 32 seconds" on unreliable transports

# A B2BUA at 300 calls/s keeps about 3 transactions per call alive for 64*T1 = 32 s (both INVITEs
# in Accepted, the BYE in Completed): some 30 000 live. The cap leaves room for three times that.
DEFAULT_MAX_TRANSACTIONS = 100_000


class TransactionKey(NamedTuple):
    """Identifies a transaction (RFC 3261 §17.1.3, §17.2.3).

    `branch` is the top Via branch; for an RFC 2543 peer (no z9hG4bK cookie) it is a composite of
    Call-ID, From tag, CSeq number and top Via that cannot collide with a real branch. `sent_by` is
    the top Via sent-by for server transactions and "" for client ones (whose responses match on
    branch and method alone). `method` is the CSeq method, INVITE for an ACK.
    """

    branch: str
    sent_by: str
    method: str
    server: bool

    @classmethod
    def client(cls, branch: str, method: str) -> TransactionKey:
        """The key of our own request, e.g. of the CANCEL that `cancel` sends for an INVITE."""
        return cls(branch, "", method, False)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Bytes to send now, and where."""

    data: bytes
    address: Address


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """New request for the TU; `key` is None for an ACK to a 2xx or a stray ACK (no transaction)."""

    request: Request
    source: Address
    key: TransactionKey | None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for a client transaction; every 2xx to INVITE reaches the TU (§17.1.1.2), which
    tells a repeat from another fork's answer by the dialog its To tag names."""

    response: Response
    key: TransactionKey


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL matched a pending INVITE; it was answered 200, the INVITE awaits the TU's 487."""

    invite_key: TransactionKey
    cancel: Request


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B or F (no final response), H (no ACK for our non-2xx), or a CANCEL unanswered."""

    key: TransactionKey
    method: str


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """Our 2xx to INVITE was never ACKed in 64*T1: end the dialog with BYE (RFC 3261 §13.3.1.4)."""

    call_id: str
    cseq: int
    to_tag: str


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response no client transaction owns, e.g. a 2xx retransmitted after Timer M."""

    response: Response


Event = (
    RequestReceived
    | ResponseReceived
    | CancelReceived
    | TransactionTimedOut
    | AckTimedOut
    | StrayResponse
)


class TransactionState(Enum):
    # Members are singletons, so identity is their equality: hash them by it, in C, rather than
    # with Enum's hash(self._name_) in Python, since every table lookup hashes two of them.
    __hash__ = object.__hash__

    CALLING = auto()
    TRYING = auto()
    PROCEEDING = auto()
    COMPLETED = auto()
    CONFIRMED = auto()
    ACCEPTED = auto()  # RFC 6026
    TERMINATED = auto()


class Input(Enum):
    """What can happen to a transaction: a message from the network, a TU call, or a timer."""

    __hash__ = object.__hash__  # as TransactionState's

    # from the network
    PROVISIONAL = auto()  # 1xx received
    SUCCESS = auto()  # 2xx received
    FAILURE = auto()  # 3xx-6xx received
    REQUEST = auto()  # the request retransmitted
    ACK = auto()  # ACK matching a server INVITE transaction
    CANCEL_RECEIVED = auto()  # CANCEL matching a server INVITE transaction
    # from the TU
    SEND_PROVISIONAL = auto()
    SEND_SUCCESS = auto()
    SEND_FAILURE = auto()
    SEND_CANCEL = auto()
    # timers (RFC 3261 §17 table 4, RFC 6026 §8)
    TIMER_A = auto()
    TIMER_B = auto()
    TIMER_D = auto()
    TIMER_E = auto()
    TIMER_F = auto()
    TIMER_G = auto()
    TIMER_H = auto()
    TIMER_I = auto()
    TIMER_J = auto()
    TIMER_K = auto()
    TIMER_L = auto()
    TIMER_M = auto()
    # RFC 3261 §9.1: 64*T1 after our CANCEL with no final response, give the INVITE up
    CANCEL_EXPIRED = auto()


S = TransactionState
I = Input  # noqa: E741 - the tables read better with a one-letter name

Table = dict[tuple[TransactionState, Input], TransactionState]

# Network inputs missing from a table are absorbed (a retransmitted 1xx in Completed, ...).
CLIENT_INVITE: Table = {
    (S.CALLING, I.TIMER_A): S.CALLING,
    (S.CALLING, I.TIMER_B): S.TERMINATED,
    (S.CALLING, I.PROVISIONAL): S.PROCEEDING,
    (S.CALLING, I.SUCCESS): S.ACCEPTED,
    (S.CALLING, I.FAILURE): S.COMPLETED,
    (S.CALLING, I.SEND_CANCEL): S.CALLING,  # held until a provisional arrives (§9.1)
    (S.PROCEEDING, I.PROVISIONAL): S.PROCEEDING,
    (S.PROCEEDING, I.SUCCESS): S.ACCEPTED,
    (S.PROCEEDING, I.FAILURE): S.COMPLETED,
    (S.PROCEEDING, I.SEND_CANCEL): S.PROCEEDING,
    (S.PROCEEDING, I.CANCEL_EXPIRED): S.TERMINATED,
    (S.COMPLETED, I.FAILURE): S.COMPLETED,  # re-send the ACK
    (S.COMPLETED, I.TIMER_D): S.TERMINATED,
    (S.ACCEPTED, I.SUCCESS): S.ACCEPTED,  # passed to the TU, which re-sends its ACK
    (S.ACCEPTED, I.TIMER_M): S.TERMINATED,
}

CLIENT_NON_INVITE: Table = {
    (S.TRYING, I.TIMER_E): S.TRYING,
    (S.TRYING, I.TIMER_F): S.TERMINATED,
    (S.TRYING, I.PROVISIONAL): S.PROCEEDING,
    (S.TRYING, I.SUCCESS): S.COMPLETED,
    (S.TRYING, I.FAILURE): S.COMPLETED,
    (S.PROCEEDING, I.TIMER_E): S.PROCEEDING,
    (S.PROCEEDING, I.TIMER_F): S.TERMINATED,
    (S.PROCEEDING, I.PROVISIONAL): S.PROCEEDING,
    (S.PROCEEDING, I.SUCCESS): S.COMPLETED,
    (S.PROCEEDING, I.FAILURE): S.COMPLETED,
    (S.COMPLETED, I.TIMER_K): S.TERMINATED,
}

SERVER_INVITE: Table = {
    (S.PROCEEDING, I.REQUEST): S.PROCEEDING,  # re-send the last provisional
    (S.PROCEEDING, I.CANCEL_RECEIVED): S.PROCEEDING,  # the TU decides on the 487
    (S.PROCEEDING, I.SEND_PROVISIONAL): S.PROCEEDING,
    (S.PROCEEDING, I.SEND_SUCCESS): S.ACCEPTED,
    (S.PROCEEDING, I.SEND_FAILURE): S.COMPLETED,
    (S.COMPLETED, I.REQUEST): S.COMPLETED,  # re-send the final response
    (S.COMPLETED, I.ACK): S.CONFIRMED,
    (S.COMPLETED, I.TIMER_G): S.COMPLETED,
    (S.COMPLETED, I.TIMER_H): S.TERMINATED,
    (S.CONFIRMED, I.TIMER_I): S.TERMINATED,
    (S.ACCEPTED, I.SEND_SUCCESS): S.ACCEPTED,  # RFC 6026 §8.5: the TU may repeat its 2xx
    (S.ACCEPTED, I.TIMER_L): S.TERMINATED,
}

SERVER_NON_INVITE: Table = {
    (S.TRYING, I.SEND_PROVISIONAL): S.PROCEEDING,
    (S.TRYING, I.SEND_SUCCESS): S.COMPLETED,
    (S.TRYING, I.SEND_FAILURE): S.COMPLETED,
    (S.PROCEEDING, I.REQUEST): S.PROCEEDING,
    (S.PROCEEDING, I.SEND_PROVISIONAL): S.PROCEEDING,
    (S.PROCEEDING, I.SEND_SUCCESS): S.COMPLETED,
    (S.PROCEEDING, I.SEND_FAILURE): S.COMPLETED,
    (S.COMPLETED, I.REQUEST): S.COMPLETED,
    (S.COMPLETED, I.TIMER_J): S.TERMINATED,
}

_TIMEOUTS = frozenset({I.TIMER_B, I.TIMER_F, I.TIMER_H, I.CANCEL_EXPIRED})


class _AckTimer(Enum):
    """The timers of a 2xx awaiting its ACK (RFC 3261 §13.3.1.4); not a transaction."""

    __hash__ = object.__hash__  # as TransactionState's

    RETRANSMIT = auto()
    GIVE_UP = auto()


_AckKey = tuple[str, int, str]  # (Call-ID, CSeq number, To tag)


def _received(status: int) -> Input:
    if status < 200:
        return I.PROVISIONAL
    return I.SUCCESS if status < 300 else I.FAILURE


def _sending(status: int) -> Input:
    if status < 200:
        return I.SEND_PROVISIONAL
    return I.SEND_SUCCESS if status < 300 else I.SEND_FAILURE


class _Transaction:
    __slots__ = (
        "ack",
        "address",
        "cancel",
        "data",
        "interval",
        "key",
        "reliable",
        "request",
        "response_tag",
        "state",
        "table",
        "timers",
    )

    def __init__(
        self,
        key: TransactionKey,
        table: Table,
        state: TransactionState,
        request: Request,
        address: Address,
    ) -> None:
        self.key = key
        self.table = table
        self.state = state
        self.request = request
        self.address = address  # where we send: the peer for client, the source for server
        self.reliable = address[0] != "udp"
        self.data = b""  # client: the request; server: the last response (resent as is)
        self.ack: bytes | None = None  # client INVITE: our ACK for a non-2xx, re-sent as is
        self.response_tag: str | None = None  # server: To tag of the last response sent
        self.interval = 0.0  # current retransmission interval (Timers A, E, G)
        self.cancel: Request | None = None  # client INVITE: a CANCEL held for a provisional
        self.timers: dict[Input, int] = {}  # timer -> sequence number of its live heap entry


class _AwaitingAck:
    __slots__ = ("address", "data", "interval", "timers")

    def __init__(self, data: bytes, address: Address, interval: float) -> None:
        self.data = data
        self.address = address
        self.interval = interval
        self.timers: dict[_AckTimer, int] = {}


def build_cancel(invite: Request) -> Request:
    """The CANCEL for `invite` (RFC 3261 §9.1): same Request-URI, Call-ID, From, To, CSeq number,
    top Via (so the branch matches) and Route headers."""
    headers: list[tuple[str, str]] = [("Via", invite.values("Via")[0])]
    headers.extend(("Route", route) for route in invite.header_lines("Route"))
    headers.append(("Max-Forwards", "70"))
    for name in ("From", "To", "Call-ID"):
        headers.append((name, invite.header_lines(name)[0]))
    headers.append(("CSeq", f"{invite.cseq.seq} CANCEL"))
    return Request("CANCEL", invite.uri, headers)


def _ack_for_failure(invite: Request, response: Response) -> Request:
    """The ACK the client INVITE transaction sends for a 3xx-6xx (RFC 3261 §17.1.1.3)."""
    headers: list[tuple[str, str]] = [("Via", invite.values("Via")[0])]
    headers.extend(("Route", route) for route in invite.header_lines("Route"))
    headers.append(("Max-Forwards", "70"))
    headers.append(("From", invite.header_lines("From")[0]))
    headers.append(("To", response.header_lines("To")[0]))
    headers.append(("Call-ID", invite.call_id))
    headers.append(("CSeq", f"{invite.cseq.seq} ACK"))
    return Request("ACK", invite.uri, headers)


def _server_key(message: Request | Response, method: str) -> TransactionKey:
    """RFC 3261 §17.2.3: branch and sent-by, or the RFC 2543 fields when the cookie is missing."""
    via = message.top_via
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return TransactionKey(branch, via.sent_by, method, True)
    # NUL cannot occur in a header, so this never equals a real branch. The Request-URI is not
    # in a response, so it is checked on match instead (see _rfc2543_uri_differs).
    composite = (
        f"\0{message.call_id}\0{message.from_.tag or ''}\0{message.cseq.seq}\0{branch or ''}"
    )
    return TransactionKey(composite, f"{via.transport} {via.sent_by}", method, True)


def _rfc2543_uri_differs(tx: _Transaction, request: Request) -> bool:
    return tx.key.branch.startswith("\0") and tx.request.uri != request.uri


class TransactionLayer:
    """Every client and server transaction of one SIP endpoint, keyed for O(1) matching."""

    def __init__(
        self,
        *,
        t1: float = T1,
        t2: float = T2,
        t4: float = T4,
        auto_trying: bool = True,
        max_transactions: int = DEFAULT_MAX_TRANSACTIONS,
    ) -> None:
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4
        self.auto_trying = auto_trying
        self.max_transactions = max_transactions
        self._transactions: dict[TransactionKey, _Transaction] = {}
        self._awaiting_ack: dict[_AckKey, _AwaitingAck] = {}
        # (deadline, sequence, owner key, timer); an entry whose sequence is no longer its
        # owner's live one for that timer is stale and skipped (lazy deletion).
        self._heap: list[tuple[float, int, TransactionKey, Input]] = []
        self._ack_heap: list[tuple[float, int, _AckKey, _AckTimer]] = []
        self._sequence = itertools.count()
        self._outgoing: list[Outgoing] = []

    def __len__(self) -> int:
        return len(self._transactions)

    @property
    def awaiting_ack(self) -> int:
        """How many of our 2xx responses to INVITE are still retransmitted, waiting for an ACK."""
        return len(self._awaiting_ack)

    def state(self, key: TransactionKey) -> TransactionState:
        """The state of a live transaction (TERMINATED once it is gone)."""
        tx = self._transactions.get(key)
        return S.TERMINATED if tx is None else tx.state

    # --------------------------------------------------------------------------------- output
    def outgoing(self) -> list[Outgoing]:
        out = self._outgoing
        self._outgoing = []
        return out

    def send_ack(self, ack: Request, destination: Address) -> None:
        """Send an ACK for a 2xx: end to end, not part of any transaction (RFC 3261 §17.1.1.3)."""
        if ack.method != "ACK":
            raise LocalProtocolError(f"send_ack needs an ACK, not {ack.method}")
        self._outgoing.append(Outgoing(ack.serialize(), destination))

    # ------------------------------------------------------------------------------- timers
    def next_timer(self) -> float | None:
        heap, ack_heap = self._heap, self._ack_heap
        while heap and self._tx_timer_stale(heap[0]):
            heapq.heappop(heap)
        while ack_heap and self._ack_timer_stale(ack_heap[0]):
            heapq.heappop(ack_heap)
        if heap and ack_heap:
            return min(heap[0][0], ack_heap[0][0])
        if heap:
            return heap[0][0]
        return ack_heap[0][0] if ack_heap else None

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        heap, ack_heap = self._heap, self._ack_heap
        while True:
            tx_due = bool(heap) and heap[0][0] <= now
            ack_due = bool(ack_heap) and ack_heap[0][0] <= now
            if tx_due and (not ack_due or heap[0][0] <= ack_heap[0][0]):
                entry = heapq.heappop(heap)
                if not self._tx_timer_stale(entry):
                    tx = self._transactions[entry[2]]
                    del tx.timers[entry[3]]
                    self._fire(tx, entry[3], now, events)
            elif ack_due:
                ack_entry = heapq.heappop(ack_heap)
                if not self._ack_timer_stale(ack_entry):
                    self._fire_ack_timer(ack_entry[2], ack_entry[3], now, events)
            else:
                return events

    def _tx_timer_stale(self, entry: tuple[float, int, TransactionKey, Input]) -> bool:
        tx = self._transactions.get(entry[2])
        return tx is None or tx.timers.get(entry[3]) != entry[1]

    def _ack_timer_stale(self, entry: tuple[float, int, _AckKey, _AckTimer]) -> bool:
        waiting = self._awaiting_ack.get(entry[2])
        return waiting is None or waiting.timers.get(entry[3]) != entry[1]

    def _start(self, tx: _Transaction, timer: Input, deadline: float) -> None:
        seq = next(self._sequence)
        tx.timers[timer] = seq
        heapq.heappush(self._heap, (deadline, seq, tx.key, timer))

    def _start_or_expire(self, tx: _Transaction, timer: Input, deadline: float) -> None:
        """Timers D, I, J and K are zero on reliable transports (§17): fire them at once."""
        if tx.reliable:
            self._transition(tx, timer)
        else:
            self._start(tx, timer, deadline)

    def _start_ack_timer(
        self, ack_key: _AckKey, waiting: _AwaitingAck, timer: _AckTimer, deadline: float
    ) -> None:
        seq = next(self._sequence)
        waiting.timers[timer] = seq
        heapq.heappush(self._ack_heap, (deadline, seq, ack_key, timer))

    def _fire(self, tx: _Transaction, timer: Input, now: float, events: list[Event]) -> None:
        self._transition(tx, timer)
        if timer in _TIMEOUTS:
            events.append(TransactionTimedOut(tx.key, tx.key.method))
        elif timer is I.TIMER_A:
            tx.interval *= 2  # Timer A doubles without a cap (RFC 3261 §17.1.1.2)
            self._send(tx.data, tx.address)
            self._start(tx, I.TIMER_A, now + tx.interval)
        elif timer is I.TIMER_E:
            # §17.1.2.2: doubling up to T2 in Trying, T2 flat once a provisional arrived
            tx.interval = min(2 * tx.interval, self.t2) if tx.state is S.TRYING else self.t2
            self._send(tx.data, tx.address)
            self._start(tx, I.TIMER_E, now + tx.interval)
        elif timer is I.TIMER_G:
            tx.interval = min(2 * tx.interval, self.t2)
            self._send(tx.data, tx.address)
            self._start(tx, I.TIMER_G, now + tx.interval)

    def _fire_ack_timer(
        self, ack_key: _AckKey, timer: _AckTimer, now: float, events: list[Event]
    ) -> None:
        if timer is _AckTimer.GIVE_UP:
            del self._awaiting_ack[ack_key]
            events.append(AckTimedOut(*ack_key))
            return
        waiting = self._awaiting_ack[ack_key]
        waiting.interval = min(2 * waiting.interval, self.t2)
        self._send(waiting.data, waiting.address)
        self._start_ack_timer(ack_key, waiting, _AckTimer.RETRANSMIT, now + waiting.interval)

    # --------------------------------------------------------------------------- machinery
    def _transition(self, tx: _Transaction, event: Input) -> None:
        new = tx.table.get((tx.state, event))
        if new is None:
            raise LocalProtocolError(f"{event.name} not allowed in {tx.state.name} for {tx.key}")
        tx.state = new
        if new is S.TERMINATED:
            del self._transactions[tx.key]

    def _send(self, data: bytes, address: Address) -> None:
        self._outgoing.append(Outgoing(data, address))

    # ----------------------------------------------------------------------------- client
    def send_request(self, request: Request, destination: Address, now: float) -> TransactionKey:
        """Start a client transaction; the request carries its top Via with a z9hG4bK branch."""
        method = request.method
        if method == "ACK":
            raise LocalProtocolError("an ACK is not a transaction: use send_ack")
        branch = request.top_via.branch
        if branch is None or not branch.startswith(MAGIC_COOKIE):
            raise LocalProtocolError(f"top Via branch {branch!r} lacks the z9hG4bK cookie")
        key = TransactionKey(branch, "", method, False)
        if key in self._transactions:
            raise LocalProtocolError(f"a client transaction {key} already exists")
        if method == "INVITE":
            tx = _Transaction(key, CLIENT_INVITE, S.CALLING, request, destination)
            retransmit, timeout = I.TIMER_A, I.TIMER_B
        else:
            tx = _Transaction(key, CLIENT_NON_INVITE, S.TRYING, request, destination)
            retransmit, timeout = I.TIMER_E, I.TIMER_F
        self._transactions[key] = tx
        tx.data = request.serialize()
        self._send(tx.data, destination)
        if not tx.reliable:
            tx.interval = self.t1
            self._start(tx, retransmit, now + self.t1)
        self._start(tx, timeout, now + 64 * self.t1)
        return key

    def cancel(
        self, invite_key: TransactionKey, cancel: Request, now: float
    ) -> TransactionKey | None:
        """Send `cancel` for a client INVITE once it has had a provisional (RFC 3261 §9.1).

        Returns the CANCEL's key when sent now; None when it is held for the first provisional
        (its key will then be `TransactionKey.client(invite_key.branch, "CANCEL")`).
        """
        tx = self._transactions.get(invite_key)
        if tx is None or tx.table is not CLIENT_INVITE:
            raise LocalProtocolError(f"no client INVITE transaction {invite_key}")
        if cancel.method != "CANCEL" or cancel.top_via.branch != invite_key.branch:
            raise LocalProtocolError("a CANCEL must carry the INVITE's branch (RFC 3261 §9.1)")
        self._transition(tx, I.SEND_CANCEL)
        if tx.state is S.CALLING:
            if tx.cancel is not None:
                raise LocalProtocolError(f"a CANCEL for {invite_key} is already held")
            tx.cancel = cancel
            return None
        return self._send_cancel(tx, cancel, now)

    def _send_cancel(self, tx: _Transaction, cancel: Request, now: float) -> TransactionKey:
        tx.cancel = None
        key = self.send_request(cancel, tx.address, now)
        self._start(tx, I.CANCEL_EXPIRED, now + 64 * self.t1)
        return key

    def _on_response(self, response: Response, now: float) -> list[Event]:
        key = TransactionKey(response.top_via.branch or "", "", response.cseq.method, False)
        tx = self._transactions.get(key)
        if tx is None:
            return [StrayResponse(response)]
        event = _received(response.status)
        state = tx.state
        if (state, event) not in tx.table:
            return []  # absorbed: e.g. a late provisional, a retransmitted non-INVITE final
        self._transition(tx, event)
        if tx.table is CLIENT_INVITE:
            return self._client_invite_response(tx, state, response, key, now)
        if tx.state is S.COMPLETED:
            tx.timers.clear()  # E and F stop
            self._start_or_expire(tx, I.TIMER_K, now + self.t4)
        return [ResponseReceived(response, key)]

    def _client_invite_response(
        self,
        tx: _Transaction,
        old: TransactionState,
        response: Response,
        key: TransactionKey,
        now: float,
    ) -> list[Event]:
        new = tx.state
        if old is S.COMPLETED:
            assert tx.ack is not None
            self._send(tx.ack, tx.address)  # the final again: so is our ACK, no event
            return []
        if new is S.ACCEPTED:
            if old is not S.ACCEPTED:
                tx.timers.clear()  # A, B and a CANCEL_EXPIRED stop
                tx.cancel = None  # too late to cancel: the TU ACKs and sends BYE
                self._start(tx, I.TIMER_M, now + 64 * self.t1)
            return [ResponseReceived(response, key)]
        events: list[Event] = [ResponseReceived(response, key)]
        if new is S.COMPLETED:
            tx.timers.clear()
            tx.cancel = None
            tx.ack = _ack_for_failure(tx.request, response).serialize()
            self._send(tx.ack, tx.address)
            self._start_or_expire(tx, I.TIMER_D, now + TIMER_D)
        elif old is S.CALLING:  # first provisional: stop A and B (no Timer C in a UA)
            tx.timers.clear()
            if tx.cancel is not None:
                self._send_cancel(tx, tx.cancel, now)
        return events

    # ----------------------------------------------------------------------------- server
    def send_response(self, response: Response, now: float) -> None:
        """Send a response through its server transaction (matched by top Via and method)."""
        key = _server_key(response, response.cseq.method)
        tx = self._transactions.get(key)
        if tx is None:
            raise LocalProtocolError(f"no server transaction for {response!r} ({key})")
        self._server_send(tx, response, now)

    def _server_send(self, tx: _Transaction, response: Response, now: float) -> None:
        event = _sending(response.status)
        tag = response.to.tag
        if event is I.SEND_SUCCESS and tag is None and tx.table is SERVER_INVITE:
            raise LocalProtocolError("a 2xx to INVITE needs a To tag (RFC 3261 §8.2.6.2)")
        old = tx.state
        self._transition(tx, event)
        if tag is not None:
            tx.response_tag = tag
        tx.data = response.serialize()
        self._send(tx.data, tx.address)
        new = tx.state
        if tx.table is SERVER_INVITE:
            if tag is not None and event is I.SEND_SUCCESS:
                if old is not S.ACCEPTED:
                    self._start(tx, I.TIMER_L, now + 64 * self.t1)
                self._await_ack(tx, tag, now)
            elif new is S.COMPLETED:
                if not tx.reliable:
                    tx.interval = self.t1
                    self._start(tx, I.TIMER_G, now + self.t1)
                self._start(tx, I.TIMER_H, now + 64 * self.t1)
        elif new is S.COMPLETED:
            self._start_or_expire(tx, I.TIMER_J, now + 64 * self.t1)

    def _await_ack(self, tx: _Transaction, to_tag: str, now: float) -> None:
        # §13.3.1.4: retransmitted even over TCP, since a later hop may be UDP.
        ack_key = (tx.request.call_id, tx.request.cseq.seq, to_tag)
        waiting = self._awaiting_ack.get(ack_key)
        if waiting is not None:
            waiting.data = tx.data
            return
        waiting = _AwaitingAck(tx.data, tx.address, self.t1)
        self._awaiting_ack[ack_key] = waiting
        self._start_ack_timer(ack_key, waiting, _AckTimer.RETRANSMIT, now + self.t1)
        self._start_ack_timer(ack_key, waiting, _AckTimer.GIVE_UP, now + 64 * self.t1)

    def receive(self, message: Request | Response, source: Address, now: float) -> list[Event]:
        """Match a parsed message to its transaction and run the machine (RFC 3261 §17.1.3,
        §17.2.3). Responses to our requests are sent to `source`, the address the request came
        from, which is right behind NAT and what RFC 3581 rport asks for."""
        message.received_at = now
        if isinstance(message, Response):
            return self._on_response(message, now)
        method = message.method
        if method == "ACK":
            return self._on_ack(message, source, now)
        if method == "CANCEL":
            return self._on_cancel(message, source, now)
        key = _server_key(message, method)
        tx = self._transactions.get(key)
        if tx is not None:
            if _rfc2543_uri_differs(tx, message):
                # same Call-ID, From tag and CSeq but another request: merged (§8.2.2.2)
                self._reply_stateless(message, 482, source)
            elif (tx.state, I.REQUEST) in tx.table and tx.data:
                self._send(tx.data, tx.address)  # a retransmission: our last response again
            return []
        if len(self._transactions) >= self.max_transactions:
            self._reply_stateless(message, 503, source)
            return []
        if method == "INVITE":
            tx = _Transaction(key, SERVER_INVITE, S.PROCEEDING, message, source)
        else:
            tx = _Transaction(key, SERVER_NON_INVITE, S.TRYING, message, source)
        self._transactions[key] = tx
        if method == "INVITE" and self.auto_trying:
            # §17.2.1: quench retransmissions at once; no To tag on a 100
            self._server_send(tx, make_response(message, 100), now)
        return [RequestReceived(message, source, key)]

    def _reply_stateless(self, request: Request, status: int, destination: Address) -> None:
        # §8.2.6.2 wants a To tag on a final response; hashing the request gives a retransmitted
        # request the same tag without keeping any state.
        seed = f"{request.call_id}\0{request.top_via.branch}\0{request.cseq.seq}".encode()
        tag = hashlib.blake2s(seed, digest_size=8).hexdigest()
        extra = [("Retry-After", "5")] if status == 503 else []
        response = make_response(request, status, to_tag=tag, extra=extra)
        self._send(response.serialize(), destination)

    def _on_ack(self, ack: Request, source: Address, now: float) -> list[Event]:
        tx = self._transactions.get(_server_key(ack, "INVITE"))
        if tx is not None and tx.state is not S.ACCEPTED:
            matches = not tx.key.branch.startswith("\0") or (
                not _rfc2543_uri_differs(tx, ack) and ack.to.tag == tx.response_tag
            )
            if matches:
                if (tx.state, I.ACK) in tx.table:
                    self._transition(tx, I.ACK)
                    tx.timers.clear()  # G and H stop
                    self._start_or_expire(tx, I.TIMER_I, now + self.t4)
                return []  # ACK for our non-2xx (or a repeat of it): the transaction's own
        # ACK for a 2xx: end to end, for the TU; it stops our 2xx retransmission.
        to_tag = ack.to.tag
        if to_tag is not None:
            self._awaiting_ack.pop((ack.call_id, ack.cseq.seq, to_tag), None)
        return [RequestReceived(ack, source, None)]

    def _on_cancel(self, cancel: Request, source: Address, now: float) -> list[Event]:
        cancel_key = _server_key(cancel, "CANCEL")
        own = self._transactions.get(cancel_key)
        if own is not None:
            self._send(own.data, own.address)  # a retransmitted CANCEL: the 200 again
            return []
        invite_key = _server_key(cancel, "INVITE")
        invite = self._transactions.get(invite_key)
        if invite is None or _rfc2543_uri_differs(invite, cancel):
            self._reply_stateless(cancel, 481, source)
            return []
        tx = _Transaction(cancel_key, SERVER_NON_INVITE, S.TRYING, cancel, source)
        self._transactions[tx.key] = tx
        # §9.2: the 200 to a CANCEL carries the To tag of the INVITE's responses
        self._server_send(tx, make_response(cancel, 200, to_tag=invite.response_tag), now)
        if (invite.state, I.CANCEL_RECEIVED) not in invite.table:
            return []  # the INVITE already has its final response: the CANCEL has no effect
        self._transition(invite, I.CANCEL_RECEIVED)
        return [CancelReceived(invite_key, cancel)]
