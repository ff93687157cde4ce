"""Per-party settings of extensions and trunks (`nat`, `dtmf`, `hold`): what each value means.

Kept out of config.py so that module stays about parsing; config.py re-exports them.
"""

from __future__ import annotations

from enum import StrEnum


class NatMode(StrEnum):
    """Where requests to an extension's phones go (calls/nat.py decides)."""

    AUTO = "auto"  # the Contact, unless NAT is detected: then where the REGISTER came from
    FORCE = "force"  # always where the REGISTER came from
    NEVER = "never"  # always the Contact


class HoldMode(StrEnum):
    """What the switch does when this party holds its call (a re-INVITE sendonly/inactive).

    MOH: answer the re-INVITE itself and play music on hold to the other party.
    PASSTHROUGH: carry the re-INVITE to the other party, as a proxy would.
    """

    MOH = "moh"
    PASSTHROUGH = "passthrough"


class NoAnswerMode(StrEnum):
    """What the caller gets when an extension's phones ring out (the ring timeout, or every
    phone answered 408/480)."""

    HANGUP = "hangup"  # 480 to the caller
    VOICEMAIL = "voicemail"  # the caller leaves a message in the extension's box


class DtmfMode(StrEnum):
    """How the switch listens for a party's digits (SIP INFO is always read).

    AUTO: RFC 4733 when the SDP agreed telephone-event, else in-band tones in the audio.
    """

    AUTO = "auto"
    RFC4733 = "rfc4733"
    INBAND = "inband"
    INFO = "info"  # only SIP INFO: nothing is looked for in the media


__all__ = ["DtmfMode", "HoldMode", "NatMode"]
