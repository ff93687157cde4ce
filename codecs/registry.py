"""Codecs by SDP encoding name, so SDP and config pick a codec without an if-chain.

A registry maps a name to a factory that takes the engine's PCM rate: a codec that can work at
that rate natively does (G.722 at 8 kHz uses libg722's narrowband mode), the others give their
own rate and the transcoder resamples. The registry is an object handed to whoever needs it, not
module state: `default_registry()` builds a fresh one with everything this package ships.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from softswitch_codecs.codec import Codec
from softswitch_codecs.errors import CodecUsageError, UnknownCodecError
from softswitch_codecs.g711 import Pcma, Pcmu
from softswitch_codecs.g722 import G722Codec

CodecFactory = Callable[[int], Codec]


class CodecRegistry:
    """Codec factories by case-insensitive SDP encoding name (RFC 4566 §6: names are case-blind)."""

    def __init__(self) -> None:
        self._factories: dict[str, CodecFactory] = {}

    def register(self, name: str, factory: CodecFactory) -> None:
        key = name.upper()
        if key in self._factories:
            raise CodecUsageError(f"codec {name!r} is registered already")
        self._factories[key] = factory

    def create(self, name: str, engine_rate_hz: int) -> Codec:
        """A new codec for `name`, working at `engine_rate_hz` where it can."""
        try:
            factory = self._factories[name.upper()]
        except KeyError:
            raise UnknownCodecError(
                f"no codec {name!r}; known: {', '.join(sorted(self._factories))}"
            ) from None
        return factory(engine_rate_hz)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.upper() in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._factories))


def _g722(engine_rate_hz: int) -> Codec:
    return G722Codec(8000 if engine_rate_hz == 8000 else 16000)


def default_registry() -> CodecRegistry:
    """A registry of every codec in this package: PCMU, PCMA, G722."""
    registry = CodecRegistry()
    registry.register("PCMU", lambda _rate: Pcmu())
    registry.register("PCMA", lambda _rate: Pcma())
    registry.register("G722", _g722)
    return registry
