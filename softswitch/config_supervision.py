"""Supervisor codes of `[features]`: `*33` + extension listens to the call that extension is
on, `*34` + extension whispers to its agent, `*35` + extension barges in (Asterisk's ChanSpy
and its `d` option: while supervising, the digits 4, 5 and 6 switch between listen, whisper and
barge); `*36` + extension intercepts (the supervisor's phone takes the call over). Kept out of
`config.py` (one concern per module); a mistake is a located ConfigError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from softswitch.config_table import Table

SUPERVISOR_KEYS: Final = (
    "supervise_listen",
    "supervise_whisper",
    "supervise_barge",
    "supervise_intercept",
    "supervise_listen_digit",
    "supervise_whisper_digit",
    "supervise_barge_digit",
)
_CODE_RE: Final = re.compile(r"[*#][0-9*#]{1,3}")
_DIGIT_RE: Final = re.compile(r"[0-9*#]")


@dataclass(frozen=True)
class SupervisorCodes:
    """The dialled prefixes (each followed by the extension; "" turns one off) and the digits
    that switch modes while supervising."""

    listen: str = "*33"
    whisper: str = "*34"
    barge: str = "*35"
    intercept: str = "*36"  # takes the extension's call over (calls/intercept.py)
    listen_digit: str = "4"
    whisper_digit: str = "5"
    barge_digit: str = "6"

    @property
    def prefixes(self) -> dict[str, str]:
        """Dialled prefix -> mode name, for the codes that are on."""
        named = {"listen": self.listen, "whisper": self.whisper, "barge": self.barge}
        return {code: mode for mode, code in named.items() if code}

    @property
    def digits(self) -> dict[str, str]:
        """Digit pressed while supervising -> mode name."""
        return {
            self.listen_digit: "listen",
            self.whisper_digit: "whisper",
            self.barge_digit: "barge",
        }


def parse_supervisor_codes(t: Table) -> SupervisorCodes:
    defaults = SupervisorCodes()
    codes: dict[str, str] = {}
    for mode in ("listen", "whisper", "barge", "intercept"):
        key = f"supervise_{mode}"
        code: str = t.string(key, getattr(defaults, mode))
        if code and _CODE_RE.fullmatch(code) is None:
            raise t.error(key, f"expected * or # then 1-3 of 0-9, * and # (or empty), got {code!r}")
        for other, seen in codes.items():
            if code and (seen.startswith(code) or code.startswith(seen)):
                raise t.error(key, f"{code!r} overlaps features.supervise_{other} {seen!r}")
        if code:
            codes[mode] = code
    digits: dict[str, str] = {}
    for mode in ("listen", "whisper", "barge"):
        key = f"supervise_{mode}_digit"
        digit: str = t.string(key, getattr(defaults, f"{mode}_digit"), empty=False)
        if _DIGIT_RE.fullmatch(digit) is None:
            raise t.error(key, f"expected one of 0-9, * and #, got {digit!r}")
        if digit in digits.values():
            raise t.error(key, f"{digit!r} is also another supervise_*_digit")
        digits[mode] = digit
    return SupervisorCodes(
        listen=codes.get("listen", ""),
        whisper=codes.get("whisper", ""),
        barge=codes.get("barge", ""),
        intercept=codes.get("intercept", ""),
        listen_digit=digits["listen"],
        whisper_digit=digits["whisper"],
        barge_digit=digits["barge"],
    )
