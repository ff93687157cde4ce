"""In-call feature codes of `[features]`: the DTMF sequences a party in a bridged call presses
to transfer or end it, with Asterisk's features.conf defaults (`#1` blind transfer, `*2`
attended transfer, `*0` disconnect), and `*3` three-way (Asterisk's atxferthreeway). Kept out
of `config.py` (one concern per module); a mistake is a located `ConfigError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from softswitch.config_table import Table

IN_CALL_KEYS: Final = (
    "blind_transfer",
    "attended_transfer",
    "disconnect",
    "three_way",
    "feature_digit_timeout_s",
    "transfer_digit_timeout_s",
)
_CODE_RE: Final = re.compile(r"[0-9*#]{1,4}")


@dataclass(frozen=True)
class InCallFeatures:
    """Each code is "" when off. Timeouts as Asterisk's featuredigittimeout (between the digits
    of a code) and transferdigittimeout (while the transfer number is dialled)."""

    blind_transfer: str = "#1"
    attended_transfer: str = "*2"
    disconnect: str = "*0"
    three_way: str = "*3"  # + number: consult, and all three talk once it answers
    feature_digit_timeout_s: float = 1.0
    transfer_digit_timeout_s: float = 3.0

    @property
    def codes(self) -> dict[str, str]:
        """Code -> feature name, for the codes that are on."""
        named = {
            "blind_transfer": self.blind_transfer,
            "attended_transfer": self.attended_transfer,
            "disconnect": self.disconnect,
            "three_way": self.three_way,
        }
        return {code: name for name, code in named.items() if code}


PICKUP_KEYS: Final = ("pickup", "directed_pickup")


@dataclass(frozen=True)
class PickupCodes:
    """Dialled codes (Asterisk's features.conf pickupexten `*8`, and `**` + extension as
    FreePBX's directed pickup); "" turns one off."""

    pickup: str = "*8"  # a call ringing in the dialler's pickup group
    directed_pickup: str = "**"  # + extension: the call ringing that phone


def parse_pickup(t: Table) -> PickupCodes:
    codes: dict[str, str] = {}
    for key, default in (("pickup", "*8"), ("directed_pickup", "**")):
        code: str = t.string(key, default)
        if code and _CODE_RE.fullmatch(code) is None:
            raise t.error(key, f"expected 1-4 of 0-9, * and # (or empty: off), got {code!r}")
        if code and code[0] not in "*#":
            raise t.error(key, f"{code!r} must start with * or # (digits alone are numbers)")
        codes[key] = code
    if codes["pickup"] and codes["directed_pickup"].startswith(codes["pickup"]):
        raise t.error("directed_pickup", "must not start with features.pickup")
    return PickupCodes(codes["pickup"], codes["directed_pickup"])


def parse_in_call(t: Table) -> InCallFeatures:
    defaults = InCallFeatures()
    codes: dict[str, str] = {}
    for key in ("blind_transfer", "attended_transfer", "disconnect", "three_way"):
        code: str = t.string(key, getattr(defaults, key))
        if code and _CODE_RE.fullmatch(code) is None:
            raise t.error(key, f"expected 1-4 of 0-9, * and # (or empty: off), got {code!r}")
        if code and code[0] not in "*#":
            raise t.error(key, f"{code!r} must start with * or # (digits alone reach the peer)")
        for other, seen in codes.items():
            if code and (seen.startswith(code) or code.startswith(seen)):
                raise t.error(key, f"{code!r} overlaps features.{other} {seen!r}")
        if code:
            codes[key] = code
    return InCallFeatures(
        blind_transfer=codes.get("blind_transfer", ""),
        attended_transfer=codes.get("attended_transfer", ""),
        disconnect=codes.get("disconnect", ""),
        three_way=codes.get("three_way", ""),
        feature_digit_timeout_s=t.seconds("feature_digit_timeout_s", 1.0),
        transfer_digit_timeout_s=t.seconds("transfer_digit_timeout_s", 3.0),
    )
