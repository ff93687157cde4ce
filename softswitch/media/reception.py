"""What one leg receives from one RTP source: sequence tracking, loss and interarrival jitter.

The algorithms are RFC 3550's own: A.1 (extended sequence numbers across the 16-bit wrap, a
jump beyond MAX_DROPOUT accepted only when the next packet confirms it), A.3 (cumulative loss
and the fraction lost since the last report) and A.8 (interarrival jitter, in timestamp
units). Sans-IO: the arrival time comes in as `now`, on any clock that counts seconds.

Source validation (A.1's probation) is left to the jitter buffer, which sees the SSRC first;
a new source gets a new `ReceptionStatistics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from softswitch.media.rtcp import ReportBlock

RTP_SEQ_MOD = 1 << 16  # RFC 3550 A.1
MAX_DROPOUT = 3000  # RFC 3550 A.1: a forward jump up to this is loss, not a restart
MAX_MISORDER = 100  # RFC 3550 A.1: a backward step up to this is a late packet
JITTER_GAIN = 1.0 / 16.0  # RFC 3550 §6.4.1: the 1/16 gain of the jitter filter


def signed32(value: int) -> int:
    """A 32-bit difference as a signed number: timestamps wrap (RFC 3550 §5.1)."""
    return ((value + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


class Sequencing(Enum):
    """Where a packet's sequence number falls (RFC 3550 A.1)."""

    NEWEST = "newest"  # ahead of every packet so far (within MAX_DROPOUT)
    OLDER = "older"  # a duplicate, or late by less than MAX_MISORDER
    JUMP = "jump"  # far from the rest: ignored until the next packet confirms it


@dataclass(frozen=True, slots=True)
class ReceptionSnapshot:
    """Cumulative figures for the CDR and /metrics; reading them changes nothing."""

    received: int
    expected: int
    lost: int  # may be negative when duplicates arrived (RFC 3550 §6.4.1)
    jitter_s: float
    fraction_lost: float  # over the interval up to the last report block, 0..1

    @property
    def loss_ratio(self) -> float:
        return max(self.lost, 0) / self.expected if self.expected > 0 else 0.0


class ReceptionStatistics:
    """RFC 3550 A.1/A.3/A.8 for one source, fed every packet that source sends."""

    def __init__(self, clock_rate: int, first_sequence: int) -> None:
        self.clock_rate = clock_rate
        self._init(first_sequence)
        self.received = 0
        self._jitter = 0.0  # timestamp units, the filter of A.8
        self._transit: float | None = None
        self._expected_prior = 0
        self._received_prior = 0
        self._fraction = 0
        self._last_sr = 0
        self._last_sr_at: float | None = None

    def _init(self, sequence: int) -> None:
        self.base_sequence = sequence
        self.max_sequence = sequence
        self.cycles = 0
        self._bad_sequence = RTP_SEQ_MOD + 1  # no sequence number equals it

    def update(self, sequence: int, timestamp: int, now: float) -> Sequencing:
        """Count one packet (A.1); a JUMP is not counted until the next packet confirms it."""
        delta = (sequence - self.max_sequence) % RTP_SEQ_MOD
        result = Sequencing.NEWEST
        if delta == 0 and self.received:
            result = Sequencing.OLDER
        elif delta < MAX_DROPOUT:
            if sequence < self.max_sequence:
                self.cycles += RTP_SEQ_MOD  # the 16-bit number wrapped
            self.max_sequence = sequence
        elif delta <= RTP_SEQ_MOD - MAX_MISORDER:
            if sequence != self._bad_sequence:
                # A very large jump: believe it only when the next packet follows it (A.1).
                self._bad_sequence = (sequence + 1) % RTP_SEQ_MOD
                return Sequencing.JUMP
            # Two packets in a row agree: the sender restarted its numbering.
            self._init(sequence)
            self.received = 0
            self._expected_prior = self._received_prior = 0
        else:
            result = Sequencing.OLDER  # late by less than MAX_MISORDER: counted, no new max
        self.received += 1
        # A.8: transit time in timestamp units; only differences matter, so the offset
        # between the arrival clock and the sender's clock cancels out.
        transit = now * self.clock_rate - timestamp
        if self._transit is not None:
            d = transit - self._transit
            if d > 0x8000_0000:  # the timestamp wrapped at 2^32 between the two packets
                d -= 0x1_0000_0000
            elif d < -0x8000_0000:
                d += 0x1_0000_0000
            self._jitter += JITTER_GAIN * (abs(d) - self._jitter)
        self._transit = transit
        return result

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_sequence

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_sequence + 1  # A.3

    @property
    def lost(self) -> int:
        return self.expected - self.received  # A.3; negative with duplicates

    @property
    def jitter_units(self) -> float:
        return self._jitter

    def sender_report(self, ntp_middle: int, now: float) -> None:
        """Remember the source's last SR (its LSR field) and when it came, for DLSR."""
        self._last_sr = ntp_middle
        self._last_sr_at = now

    def report_block(self, ssrc: int, now: float) -> ReportBlock:
        """The §6.4.1 report block about this source; starts a new loss interval (A.3)."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            self._fraction = 0
        else:
            self._fraction = min((lost_interval << 8) // expected_interval, 255)
        delay = 0
        if self._last_sr_at is not None:
            delay = max(0, min(round((now - self._last_sr_at) * 65536), 0xFFFF_FFFF))
        return ReportBlock(
            ssrc=ssrc,
            fraction_lost=self._fraction,
            cumulative_lost=max(-0x800000, min(self.lost, 0x7FFFFF)),
            highest_sequence=self.extended_max & 0xFFFF_FFFF,
            jitter=min(int(self._jitter), 0xFFFF_FFFF),
            last_sr=self._last_sr,
            delay_since_last_sr=delay,
        )

    def snapshot(self) -> ReceptionSnapshot:
        return ReceptionSnapshot(
            received=self.received,
            expected=self.expected,
            lost=self.lost,
            jitter_s=self._jitter / self.clock_rate,
            fraction_lost=self._fraction / 256.0,
        )
