"""G.722 wideband (RFC 3551 §4.5.2) through sippy's libg722, one encoder/decoder state per leg.

Why libg722 (PyPI `G722`): G.722 is sub-band ADPCM, so every sample depends on the one before and
numpy cannot vectorise it; a Python loop per sample is out of the question, so the work must be
in C. Of what PyPI offers, `G722` is the maintained choice: the Bellcore/CMU/Steve Underwood code
(the lineage of spandsp, FreeSWITCH and Asterisk) packaged by the authors of sippy, bit-exact to
ITU-T G.722 at 48/56/64 kbit/s and checked against the ITU vectors in its own CI, public domain
and BSD, with wheels for CPython 3.11–3.13, one state per Python object, and no dependency (its
`G722-numpy` add-on only changes `decode()`'s return type; `np.frombuffer` over the `array('h')`
it returns otherwise costs no copy). The alternatives: PyAV (`av`) reaches FFmpeg's G.722 through
a 30+ MB wheel and a frame/packet object API built for files; `g722-1-mod` is G.722.1, another
codec. libg722 also has a narrowband mode (`G722(8000, …)`) that reads and writes 8 kHz PCM as the
lower sub-band alone, fully compatible with wideband peers: an 8 kHz engine uses that and needs no
resampler for G.722 legs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, cast

import G722
import numpy as np
from numpy.typing import NDArray

from softswitch_codecs.codec import CodecInfo
from softswitch_codecs.errors import CodecUsageError

BIT_RATE: Final = 64000  # RTP's G722 is mode 1, 64 kbit/s (RFC 3551 §4.5.2)
PCM_RATES_HZ: Final = (8000, 16000)


class _LibG722(Protocol):
    def encode(self, pcm: NDArray[np.int16]) -> bytes: ...
    def decode(self, payload: bytes) -> object: ...


class G722Stream:
    """One leg's G.722 state: libg722 keeps the encoder and the decoder history in one object."""

    __slots__ = ("_codec",)

    def __init__(self, pcm_rate_hz: int) -> None:
        self._codec = cast(_LibG722, G722.G722(pcm_rate_hz, BIT_RATE, use_numpy=False))

    def encode(self, pcm: NDArray[np.int16]) -> bytes:
        return self._codec.encode(np.ascontiguousarray(pcm))

    def decode(self, payload: bytes) -> NDArray[np.int16]:
        return np.frombuffer(cast(bytes, self._codec.decode(payload)), dtype=np.int16)


class G722Codec:
    """G.722 at 64 kbit/s; PCM at 16 kHz (wideband) or 8 kHz (libg722's narrowband mode)."""

    def __init__(self, pcm_rate_hz: int = 16000) -> None:
        if pcm_rate_hz not in PCM_RATES_HZ:
            raise CodecUsageError(
                f"G.722 PCM rate must be one of {PCM_RATES_HZ}, not {pcm_rate_hz}"
            )
        self._info = CodecInfo(
            name="G722", rtp_clock_hz=8000, pcm_rate_hz=pcm_rate_hz, static_payload_type=9
        )
        # 20 ms of 64 kbit/s is 160 bytes whatever the PCM rate: 2 samples a byte at 16 kHz.
        self._samples_per_byte = pcm_rate_hz // 8000

    @property
    def info(self) -> CodecInfo:
        return self._info

    def new_stream(self) -> G722Stream:
        return G722Stream(self._info.pcm_rate_hz)

    def payload_bytes(self, samples: int) -> int:
        return samples // self._samples_per_byte

    def encode_many(self, streams: Sequence[object], pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
        if pcm.dtype != np.int16 or pcm.ndim != 2 or pcm.shape[0] != len(streams):
            raise CodecUsageError(
                f"need int16[{len(streams)}, samples], got {pcm.dtype}{pcm.shape}"
            )
        if pcm.shape[1] % self._samples_per_byte:
            raise CodecUsageError(f"G.722 at 16 kHz encodes pairs of samples, got {pcm.shape[1]}")
        out = np.empty((len(streams), self.payload_bytes(pcm.shape[1])), dtype=np.uint8)
        for row, stream in enumerate(streams):
            out[row] = np.frombuffer(_g722(stream).encode(pcm[row]), dtype=np.uint8)
        return out

    def decode_many(
        self, streams: Sequence[object], payload: NDArray[np.uint8]
    ) -> NDArray[np.int16]:
        if payload.dtype != np.uint8 or payload.ndim != 2 or payload.shape[0] != len(streams):
            raise CodecUsageError(
                f"need uint8[{len(streams)}, bytes], got {payload.dtype}{payload.shape}"
            )
        out = np.empty((len(streams), payload.shape[1] * self._samples_per_byte), dtype=np.int16)
        for row, stream in enumerate(streams):
            out[row] = _g722(stream).decode(payload[row].tobytes())
        return out


def _g722(stream: object) -> G722Stream:
    if not isinstance(stream, G722Stream):
        raise CodecUsageError(f"a G.722 batch needs G722Stream states, got {type(stream).__name__}")
    return stream
