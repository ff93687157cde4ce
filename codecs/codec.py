"""The interface every codec offers the tick engine: batches of frames, one state per stream.

A *stream* is one leg's codec state (both directions of one RTP session). G.711 has none, so its
streams are tokens and a whole batch is one table lookup; G.722 is ADPCM, so each leg needs its
own encoder and decoder history, and a batch walks the legs (never the samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class CodecInfo:
    """What SDP and the engine need to know about a codec."""

    name: str  # SDP encoding name, RFC 4566 §6 rtpmap (RFC 3551 §6 table 4)
    rtp_clock_hz: (
        int  # RTP timestamp rate; G.722 says 8000 although it samples 16 kHz (RFC 3551 §4.5.2)
    )
    pcm_rate_hz: int  # rate of the linear PCM the codec takes and gives back
    static_payload_type: int | None  # RFC 3551 table 4, None for dynamic payload types


class StatelessStream:
    """The stream of a codec without state: a token that keeps the batch API uniform."""

    __slots__ = ()


class Codec(Protocol):
    """A codec over `int16[streams, samples]` ⇄ `uint8[streams, bytes]`, rows in `streams` order."""

    @property
    def info(self) -> CodecInfo: ...

    def new_stream(self) -> object:
        """State for one more leg; keep it for the life of that leg's RTP session."""
        ...

    def encode_many(self, streams: Sequence[object], pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
        """Encode one frame per stream: row i of `pcm` goes through `streams[i]`."""
        ...

    def decode_many(
        self, streams: Sequence[object], payload: NDArray[np.uint8]
    ) -> NDArray[np.int16]:
        """Decode one frame per stream: row i of `payload` goes through `streams[i]`."""
        ...

    def payload_bytes(self, samples: int) -> int:
        """Bytes of payload that carry `samples` samples at `info.pcm_rate_hz`."""
        ...
