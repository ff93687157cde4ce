"""Every leg's codec work of one 20 ms tick, so that legs whose codecs differ can hear each other.

The engine works on linear PCM at one rate (8 or 16 kHz) for all legs. Each tick it hands the
transcoder the payloads of the legs it needs to hear and gets `int16[legs, samples]` back, and
hands it the PCM each leg should hear and gets one payload per leg back. Rows are grouped by
codec, so all PCMU legs are one table lookup however many there are; a leg whose codec works at
another rate gets its own resampler state. A PCMU phone bridged to a PCMA trunk is
`encode([trunk, phone], decode([phone, trunk], payloads))`.

Payloads come from the network: one whose length does not fit its codec's frame is counted in
`malformed_frames` and heard as silence, never raised, so one bad peer cannot stop a tick.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from softswitch_codecs.codec import Codec, CodecInfo
from softswitch_codecs.errors import CodecUsageError
from softswitch_codecs.registry import CodecRegistry
from softswitch_codecs.resample import RATES_HZ, ResampleStream, resample_many

FRAME_MS: Final = 20  # RFC 3551 §4.2: the default packetisation, and the engine's tick

LegKey = TypeVar("LegKey", bound=Hashable)


@dataclass(slots=True)
class _LegCodec:
    codec: Codec
    stream: object
    # Present when the codec's PCM rate differs from the engine's.
    to_engine: ResampleStream | None
    from_engine: ResampleStream | None
    malformed_frames: int = 0


@dataclass(slots=True)
class _Group:
    codec: Codec
    rows: list[int] = field(default_factory=list)
    legs: list[_LegCodec] = field(default_factory=list)
    row_array: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


class Transcoder(Generic[LegKey]):
    """Codec state of every leg in the tick path, keyed by whatever the engine names legs with."""

    def __init__(self, registry: CodecRegistry, engine_rate_hz: int = 8000) -> None:
        if engine_rate_hz not in RATES_HZ:
            raise CodecUsageError(f"engine rate must be one of {RATES_HZ}, not {engine_rate_hz}")
        self._registry = registry
        self.engine_rate_hz = engine_rate_hz
        self.samples_per_frame = engine_rate_hz * FRAME_MS // 1000
        self._legs: dict[LegKey, _LegCodec] = {}
        # The last batch's grouping: the engine passes the same legs tick after tick, so the
        # per-leg Python of `_groups` runs only when the batch or a leg's codec changed.
        self._grouped: tuple[tuple[LegKey, ...], list[_Group]] | None = None
        self._codecs: dict[str, Codec] = {}  # one codec object per name; streams hold the state

    def attach(self, leg: LegKey, codec_name: str) -> CodecInfo:
        """Give `leg` fresh codec state (raises `UnknownCodecError` for an unregistered name)."""
        key = codec_name.upper()
        codec = self._codecs.get(key)
        if codec is None:
            codec = self._codecs[key] = self._registry.create(codec_name, self.engine_rate_hz)
        rate = codec.info.pcm_rate_hz
        same = rate == self.engine_rate_hz
        self._grouped = None
        self._legs[leg] = _LegCodec(
            codec=codec,
            stream=codec.new_stream(),
            to_engine=None if same else ResampleStream(rate, self.engine_rate_hz),
            from_engine=None if same else ResampleStream(self.engine_rate_hz, rate),
        )
        return codec.info

    def detach(self, leg: LegKey) -> None:
        self._legs.pop(leg, None)
        self._grouped = None

    def __contains__(self, leg: object) -> bool:
        return leg in self._legs

    def codec_of(self, leg: LegKey) -> CodecInfo:
        return self._leg(leg).codec.info

    def malformed_frames(self, leg: LegKey) -> int:
        """Payloads from this leg that did not fit a frame and were heard as silence."""
        return self._leg(leg).malformed_frames

    def decode(self, legs: Sequence[LegKey], payloads: Sequence[bytes | None]) -> NDArray[np.int16]:
        """PCM at the engine rate, `int16[len(legs), samples_per_frame]`; None is a silent frame."""
        if len(legs) != len(payloads):
            raise CodecUsageError(f"{len(legs)} legs but {len(payloads)} payloads")
        out = np.zeros((len(legs), self.samples_per_frame), dtype=np.int16)
        for group in self._groups(legs):
            size = group.codec.payload_bytes(self._native_samples(group.codec))
            heard: list[int] = []  # indices into the group of the rows with a usable payload
            for index, (row, leg) in enumerate(zip(group.rows, group.legs, strict=True)):
                payload = payloads[row]
                if payload is None:
                    continue
                if len(payload) != size:
                    leg.malformed_frames += 1
                    continue
                heard.append(index)
            pcm = np.zeros((len(group.rows), self._native_samples(group.codec)), dtype=np.int16)
            if heard:
                joined = b"".join(payloads[group.rows[i]] or b"" for i in heard)
                codes = np.frombuffer(joined, dtype=np.uint8).reshape(len(heard), size)
                pcm[heard] = group.codec.decode_many([group.legs[i].stream for i in heard], codes)
            # Silent rows go through the resampler too, so its history stays continuous.
            resamplers = [leg.to_engine for leg in group.legs if leg.to_engine is not None]
            if resamplers:
                pcm = resample_many(resamplers, pcm)
            out[group.rows] = pcm
        return out

    def decode_rows(
        self, legs: Sequence[LegKey], codes: NDArray[np.uint8], present: NDArray[np.bool_]
    ) -> NDArray[np.int16]:
        """`decode` for the engine's batched tick: row i of `codes` (uint8[legs, bytes]) is leg
        i's payload when `present[i]`; a row whose codec's frame is not that long is silence
        and counted in `malformed_frames`, as in `decode`."""
        if codes.ndim != 2 or len(codes) != len(legs) or present.shape != (len(legs),):
            raise CodecUsageError(f"{len(legs)} legs but codes {codes.shape}, {present.shape}")
        out = np.zeros((len(legs), self.samples_per_frame), dtype=np.int16)
        for group in self._groups(legs):
            native = self._native_samples(group.codec)
            rows = group.row_array
            heard = np.flatnonzero(present[rows])
            if group.codec.payload_bytes(native) != codes.shape[1]:
                for index in heard.tolist():
                    group.legs[index].malformed_frames += 1
                heard = heard[:0]
            pcm = np.zeros((rows.size, native), dtype=np.int16)
            if heard.size:
                streams = [group.legs[i].stream for i in heard.tolist()]
                pcm[heard] = group.codec.decode_many(streams, codes[rows[heard]])
            resamplers = [leg.to_engine for leg in group.legs if leg.to_engine is not None]
            if resamplers:
                pcm = resample_many(resamplers, pcm)
            out[rows] = pcm
        return out

    def encode_rows(self, legs: Sequence[LegKey], pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
        """`encode` as one uint8[legs, bytes] array, for the engine's batched send; raises
        `CodecUsageError` when the legs' codecs make payloads of different lengths."""
        if pcm.dtype != np.int16 or pcm.shape != (len(legs), self.samples_per_frame):
            raise CodecUsageError(
                f"need int16[{len(legs)}, {self.samples_per_frame}], got {pcm.dtype}{pcm.shape}"
            )
        groups = self._groups(legs)
        sizes = {g.codec.payload_bytes(self._native_samples(g.codec)) for g in groups}
        if len(sizes) > 1:
            raise CodecUsageError(f"payloads of {sorted(sizes)} bytes cannot share one array")
        out = np.zeros((len(legs), sizes.pop() if sizes else 0), dtype=np.uint8)
        for group in groups:
            frames = pcm if len(groups) == 1 else pcm[group.row_array]
            resamplers = [s.from_engine for s in group.legs if s.from_engine is not None]
            if resamplers:
                frames = resample_many(resamplers, frames)
            codes = group.codec.encode_many([s.stream for s in group.legs], frames)
            if len(groups) == 1:
                return np.ascontiguousarray(codes, dtype=np.uint8)
            out[group.row_array] = codes
        return out

    def encode(self, legs: Sequence[LegKey], pcm: NDArray[np.int16]) -> list[bytes]:
        """One payload per leg from `int16[len(legs), samples_per_frame]` at the engine rate."""
        if pcm.dtype != np.int16 or pcm.shape != (len(legs), self.samples_per_frame):
            raise CodecUsageError(
                f"need int16[{len(legs)}, {self.samples_per_frame}], got {pcm.dtype}{pcm.shape}"
            )
        out: list[bytes] = [b""] * len(legs)
        for group in self._groups(legs):
            frames = pcm[group.rows]
            resamplers = [s.from_engine for s in group.legs if s.from_engine is not None]
            if resamplers:
                frames = resample_many(resamplers, frames)
            codes = group.codec.encode_many([s.stream for s in group.legs], frames)
            for row, payload in zip(group.rows, codes, strict=True):
                out[row] = payload.tobytes()
        return out

    def _leg(self, leg: LegKey) -> _LegCodec:
        try:
            return self._legs[leg]
        except KeyError:
            raise CodecUsageError(f"leg {leg!r} has no codec attached") from None

    def _groups(self, legs: Sequence[LegKey]) -> list[_Group]:
        batch = tuple(legs)
        grouped = self._grouped
        if grouped is not None and grouped[0] == batch:
            return grouped[1]
        found = self._group(batch)
        self._grouped = (batch, found)
        return found

    def _group(self, legs: Sequence[LegKey]) -> list[_Group]:
        groups: dict[int, _Group] = {}  # by id() of the codec object the legs share
        seen: set[LegKey] = set()
        for row, key in enumerate(legs):
            if key in seen:
                raise CodecUsageError(f"leg {key!r} twice in one batch: its codec state would fork")
            seen.add(key)
            leg = self._leg(key)
            group = groups.setdefault(id(leg.codec), _Group(leg.codec))
            group.rows.append(row)
            group.legs.append(leg)
        for group in groups.values():
            group.row_array = np.array(group.rows, dtype=np.intp)
        return list(groups.values())

    def _native_samples(self, codec: Codec) -> int:
        return codec.info.pcm_rate_hz * FRAME_MS // 1000
