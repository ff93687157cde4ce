"""G.711 µ-law (PCMU) and A-law (PCMA) as lookup tables over whole batches of frames.

The tables are computed once from the companding rules of ITU-T G.711 (1988) §2 and Tables
1a/2a, in the integer form of the Sun Microsystems reference `g711.c` that libsox and CPython's
`audioop` also follow, so the output is bit-exact with both (tests compare all 65 536 inputs).
Encoding is one fancy-index of a 64 Ki-entry table by the sample's 16-bit pattern; decoding is
one index of a 256-entry table: no Python loop over samples or frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

import numpy as np
from numpy.typing import NDArray

from softswitch_codecs.codec import CodecInfo, StatelessStream
from softswitch_codecs.errors import CodecUsageError

# Segment end points of the 14-bit (µ-law) and 13-bit (A-law) magnitude, G.711 Tables 2a/1a.
_SEG_UEND: Final = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], np.int32)
_SEG_AEND: Final = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], np.int32)
_ULAW_BIAS: Final = 0x84  # G.711 §2.1: µ-law adds 33 (in 14-bit units) before segmenting
_ULAW_CLIP: Final = 8159  # largest 14-bit magnitude µ-law can code
_QUANT_MASK: Final = 0x0F
_SEG_SHIFT: Final = 4
_SIGN_BIT: Final = 0x80


def _every_int16() -> NDArray[np.int32]:
    """All 65 536 sample values, ordered by their unsigned 16-bit pattern (0, 1, …, -1)."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


# numpy scalars rather than Python ints keep numpy's stubs (and so mypy --strict) exact.
_I = np.int32


def _ulaw_encode_table() -> NDArray[np.uint8]:
    pcm = _every_int16() >> _I(2)  # 14-bit, arithmetic shift as in C
    mask = np.where(pcm < 0, _I(0x7F), _I(0xFF))
    magnitude = np.minimum(np.abs(pcm), _I(_ULAW_CLIP)) + _I(_ULAW_BIAS >> 2)
    seg = np.searchsorted(_SEG_UEND, magnitude, side="left").astype(np.int32)
    code = (seg << _I(_SEG_SHIFT)) | ((magnitude >> (seg + _I(1))) & _I(_QUANT_MASK))
    code = np.where(seg >= 8, _I(0x7F), code)
    return np.asarray(code ^ mask, dtype=np.uint8)


def _alaw_encode_table() -> NDArray[np.uint8]:
    pcm = _every_int16() >> _I(3)  # 13-bit
    mask = np.where(pcm >= 0, _I(0xD5), _I(0x55))
    magnitude = np.where(pcm >= 0, pcm, -pcm - _I(1))
    seg = np.searchsorted(_SEG_AEND, magnitude, side="left").astype(np.int32)
    shift = np.maximum(seg, _I(1))  # segments 0 and 1 share a step size
    code = (seg << _I(_SEG_SHIFT)) | ((magnitude >> shift) & _I(_QUANT_MASK))
    code = np.where(seg >= 8, _I(0x7F), code)
    return np.asarray(code ^ mask, dtype=np.uint8)


def _ulaw_decode_table() -> NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & _I(0xFF)
    t = (((u & _I(_QUANT_MASK)) << _I(3)) + _I(_ULAW_BIAS)) << ((u & _I(0x70)) >> _I(_SEG_SHIFT))
    linear = np.where((u & _I(_SIGN_BIT)) != 0, _I(_ULAW_BIAS) - t, t - _I(_ULAW_BIAS))
    return np.asarray(linear, dtype=np.int16)


def _alaw_decode_table() -> NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ _I(0x55)
    seg = (a & _I(0x70)) >> _I(_SEG_SHIFT)
    t = (a & _I(_QUANT_MASK)) << _I(4)
    t = np.where(seg == 0, t + _I(8), (t + _I(0x108)) << np.maximum(seg - _I(1), _I(0)))
    return np.asarray(np.where((a & _I(_SIGN_BIT)) != 0, t, -t), dtype=np.int16)


_Table = TypeVar("_Table", NDArray[np.uint8], NDArray[np.int16])


def _frozen(table: _Table) -> _Table:
    table.setflags(write=False)
    return table


ULAW_ENCODE: Final = _frozen(_ulaw_encode_table())
ALAW_ENCODE: Final = _frozen(_alaw_encode_table())
ULAW_DECODE: Final = _frozen(_ulaw_decode_table())
ALAW_DECODE: Final = _frozen(_alaw_decode_table())


def _check_pcm(pcm: NDArray[np.int16]) -> None:
    if pcm.dtype != np.int16:
        raise CodecUsageError(f"G.711 encodes int16 samples, got {pcm.dtype}")


def _check_codes(codes: NDArray[np.uint8]) -> None:
    if codes.dtype != np.uint8:
        raise CodecUsageError(f"G.711 decodes uint8 codes, got {codes.dtype}")


def ulaw_encode(pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
    """µ-law codes for int16 samples of any shape (`int16[legs, n]` → `uint8[legs, n]`)."""
    _check_pcm(pcm)
    return np.asarray(ULAW_ENCODE[pcm.view(np.uint16)], dtype=np.uint8)


def alaw_encode(pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
    """A-law codes for int16 samples of any shape."""
    _check_pcm(pcm)
    return np.asarray(ALAW_ENCODE[pcm.view(np.uint16)], dtype=np.uint8)


def ulaw_decode(codes: NDArray[np.uint8]) -> NDArray[np.int16]:
    """Linear samples for µ-law codes of any shape (`uint8[legs, bytes]` → `int16[legs, bytes]`)."""
    _check_codes(codes)
    return np.asarray(ULAW_DECODE[codes], dtype=np.int16)


def alaw_decode(codes: NDArray[np.uint8]) -> NDArray[np.int16]:
    """Linear samples for A-law codes of any shape."""
    _check_codes(codes)
    return np.asarray(ALAW_DECODE[codes], dtype=np.int16)


class _G711:
    """A G.711 law as a batch codec: stateless, so all its streams are one table lookup."""

    info: CodecInfo

    def __init__(
        self,
        encode_table: NDArray[np.uint8],
        decode_table: NDArray[np.int16],
    ) -> None:
        self._encode_table = encode_table
        self._decode_table = decode_table

    def new_stream(self) -> StatelessStream:
        return StatelessStream()

    def encode_many(self, streams: Sequence[object], pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
        _check_pcm(pcm)
        _check_rows(streams, pcm)
        return np.asarray(self._encode_table[pcm.view(np.uint16)], dtype=np.uint8)

    def decode_many(
        self, streams: Sequence[object], payload: NDArray[np.uint8]
    ) -> NDArray[np.int16]:
        _check_codes(payload)
        _check_rows(streams, payload)
        return np.asarray(self._decode_table[payload], dtype=np.int16)

    def payload_bytes(self, samples: int) -> int:
        return samples


def _check_rows(streams: Sequence[object], frames: NDArray[np.generic]) -> None:
    if frames.ndim != 2 or frames.shape[0] != len(streams):
        raise CodecUsageError(f"need one row per stream: {len(streams)} streams, {frames.shape}")


class Pcmu(_G711):
    """PCMU: G.711 µ-law, RTP payload type 0 (RFC 3551 §4.5.14)."""

    info = CodecInfo(name="PCMU", rtp_clock_hz=8000, pcm_rate_hz=8000, static_payload_type=0)

    def __init__(self) -> None:
        super().__init__(ULAW_ENCODE, ULAW_DECODE)


class Pcma(_G711):
    """PCMA: G.711 A-law, RTP payload type 8 (RFC 3551 §4.5.14)."""

    info = CodecInfo(name="PCMA", rtp_clock_hz=8000, pcm_rate_hz=8000, static_payload_type=8)

    def __init__(self) -> None:
        super().__init__(ALAW_ENCODE, ALAW_DECODE)
