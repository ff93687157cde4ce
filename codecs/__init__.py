"""Audio codecs in numpy, batched over many frames (imported as softswitch_codecs).

G.711 µ-law/A-law as lookup tables, G.722 through libg722, 8 ⇄ 16 kHz resampling, the RFC 4733
telephone-event payload, a registry by SDP encoding name and the per-tick transcoder. Nothing here
does I/O or reads a clock.
"""

from softswitch_codecs.codec import Codec, CodecInfo
from softswitch_codecs.errors import (
    CodecError,
    CodecUsageError,
    MalformedPayloadError,
    UnknownCodecError,
)
from softswitch_codecs.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from softswitch_codecs.registry import CodecRegistry, default_registry
from softswitch_codecs.resample import ResampleStream, resample_many, resample_offline
from softswitch_codecs.telephone_event import TelephoneEvent, event_for_digit
from softswitch_codecs.transcode import Transcoder

__all__ = [
    "Codec",
    "CodecError",
    "CodecInfo",
    "CodecRegistry",
    "CodecUsageError",
    "MalformedPayloadError",
    "ResampleStream",
    "TelephoneEvent",
    "Transcoder",
    "UnknownCodecError",
    "alaw_decode",
    "alaw_encode",
    "default_registry",
    "event_for_digit",
    "resample_many",
    "resample_offline",
    "ulaw_decode",
    "ulaw_encode",
]
