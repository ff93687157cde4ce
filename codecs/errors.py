"""What can go wrong in the codecs layer, and whose fault it is.

    CodecError
    ├── UnknownCodecError    (LookupError) a name no registry entry has: config or SDP asks for it
    ├── CodecUsageError      (ValueError)  our own code passed a wrong shape, rate or value
    └── MalformedPayloadError              bytes from the network that the format does not allow

`MalformedPayloadError` is the only error that input from a remote party may raise here;
hypothesis tests hold every parser to that.
"""

from __future__ import annotations


class CodecError(Exception):
    """Base of every error this package raises on purpose."""


class UnknownCodecError(CodecError, LookupError):
    """No codec is registered under that name."""


class CodecUsageError(CodecError, ValueError):
    """A caller inside the switch broke a documented precondition (shape, dtype, rate, range)."""


class MalformedPayloadError(CodecError):
    """A payload received from a remote party does not follow its format."""
