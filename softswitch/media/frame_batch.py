"""The engine's batched send: every plain 20 ms audio packet of a tick built in one numpy pass.

`MediaEndpoint.send_frame` builds one packet per call in Python (checks, a header from the last
packet's bytes, a concatenation). At hundreds of legs that per-leg Python is a large part of
the tick, so for the common packet (the tick's frame in one packet, no SRTP, the stream
continued from our own last packet) this module keeps each row's sequence number, timestamp
and SSRC in arrays, writes all headers and payloads of the tick into one record array, and the
only per-leg Python left is the `sendto` of a slice of its bytes.

The endpoint's socket stays the truth of its stream: each packet sent here becomes the
socket's `tail`, as `send_frame` leaves it. A row whose socket's tail is not the packet this
batch sent last (the leg's first tick, an RFC 4733 event or a queued packet sent in between,
SRTP) is sent with `send_frame` and its numbers are read back from the tail it leaves, so the
two paths give byte-identical streams (tests/media/test_frame_batch.py drives both).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from softswitch.media.endpoint import Direction, MediaEndpoint

if TYPE_CHECKING:
    from softswitch.media.endpoint import _RtpSocket

_SEQUENCE_TIMESTAMP_SSRC = struct.Struct("!2xHII")
_SENDS = frozenset((Direction.SENDRECV, Direction.SENDONLY))
_UNKNOWN = object()  # a tail no socket has: the row is not in step yet


def _record(size: int) -> np.dtype[np.void]:
    """An RTP packet with a `size`-byte payload: RFC 3550 §5.1's fixed header, big-endian."""
    return np.dtype(
        [
            ("first", "u1"),
            ("second", "u1"),
            ("sequence", ">u2"),
            ("timestamp", ">u4"),
            ("ssrc", ">u4"),
            ("payload", "u1", (size,)),
        ]
    )


class FrameBatch:
    """Per engine row: the socket, and the numbers of the last packet this batch sent from it."""

    def __init__(self) -> None:
        self._endpoints: list[MediaEndpoint] = []
        self._sockets: list[_RtpSocket] = []
        self._tails: list[object] = []
        self._sequence = np.zeros(0, dtype=np.uint16)
        self._timestamp = np.zeros(0, dtype=np.uint32)
        self._ssrc = np.zeros(0, dtype=np.uint32)
        self._payload_type = np.zeros(0, dtype=np.uint8)
        self._records: dict[int, np.dtype[np.void]] = {}
        self.batched = 0  # packets built by the numpy pass (the rest went by send_frame)

    def add_row(self, endpoint: MediaEndpoint, payload_type: int) -> None:
        """The engine's new last row."""
        self._endpoints.append(endpoint)
        self._sockets.append(endpoint.frame_socket)
        self._tails.append(_UNKNOWN)
        self._sequence = np.append(self._sequence, np.uint16(0))
        self._timestamp = np.append(self._timestamp, np.uint32(0))
        self._ssrc = np.append(self._ssrc, np.uint32(0))
        self._payload_type = np.append(self._payload_type, np.uint8(payload_type & 0x7F))

    def remove_row(self, row: int) -> None:
        """Rows after `row` move up by one, as the engine's do."""
        del self._endpoints[row], self._sockets[row], self._tails[row]
        self._sequence = np.delete(self._sequence, row)
        self._timestamp = np.delete(self._timestamp, row)
        self._ssrc = np.delete(self._ssrc, row)
        self._payload_type = np.delete(self._payload_type, row)

    def send(self, rows: list[int], codes: npt.NDArray[np.uint8], samples: int) -> int:
        """Send `codes[i]` as the next packet of row `rows[i]`'s stream, `samples` RTP units
        long; returns the packets sent (a leg whose direction, remote or socket does not let
        it send sends nothing, as with `send_frame`)."""
        sockets, tails = self._sockets, self._tails
        fast: list[int] = []
        sent = 0
        for index, row in enumerate(rows):
            sock = sockets[row]
            if sock.tail is tails[row] and sock.protect is None and sock.feeder is None:
                fast.append(index)
            elif self._endpoints[row].send_frame(
                codes[index].tobytes(), int(self._payload_type[row]), samples
            ):
                sent += 1
                self._adopt(row, sock, samples)
        if not fast:
            return sent
        picked = np.asarray(fast, dtype=np.intp)
        fast_rows = np.asarray(rows, dtype=np.intp)[picked]
        size = codes.shape[1]
        record = self._records.get(size)
        if record is None:
            record = self._records[size] = _record(size)
        packets = np.empty(picked.size, dtype=record)
        packets["first"] = 0x80  # RFC 3550 §5.1: version 2, no padding, extension or CSRC
        packets["second"] = self._payload_type[fast_rows]  # marker clear: the stream goes on
        sequence = self._sequence[fast_rows] + np.uint16(1)
        timestamp = self._timestamp[fast_rows] + np.uint32(samples)
        packets["sequence"] = sequence
        packets["timestamp"] = timestamp
        packets["ssrc"] = self._ssrc[fast_rows]
        packets["payload"] = codes[picked]
        data = packets.tobytes()
        length = record.itemsize
        done = bytearray(picked.size)
        endpoints = self._endpoints
        start = 0
        for position, row in enumerate(fast_rows.tolist()):
            sock = sockets[row]
            transport, remote = sock.transport, sock.remote
            if (
                transport is not None
                and remote is not None
                and sock.remote_allowed
                and endpoints[row].direction in _SENDS
            ):
                packet = data[start : start + length]
                transport.sendto(packet, remote)
                sock.tail = tails[row] = packet
                sock.frames_sent += 1
                sock.octets_sent += size
                done[position] = 1
            start += length
        went = np.frombuffer(done, dtype=np.bool_)
        self._sequence[fast_rows[went]] = sequence[went]
        self._timestamp[fast_rows[went]] = timestamp[went]
        built = int(np.count_nonzero(went))
        self.batched += built
        return sent + built

    def _adopt(self, row: int, sock: _RtpSocket, samples: int) -> None:
        """`send_frame` just sent this row's packet: the batch continues from it."""
        tail = sock.tail
        if tail is None or sock.tail_samples != samples or len(tail) < 12:
            self._tails[row] = _UNKNOWN
            return
        sequence, timestamp, ssrc = _SEQUENCE_TIMESTAMP_SSRC.unpack_from(tail)
        self._sequence[row] = sequence
        self._timestamp[row] = timestamp
        self._ssrc[row] = ssrc
        self._tails[row] = tail
