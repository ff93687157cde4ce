"""The security log: one line per failed authentication, ban, lifted ban and refusal.

Lines go to the `softswitch.security` logger (the main log) and, with `security.log_file`, to a
file of their own in a fixed format that `contrib/fail2ban/softswitch.conf` reads:

    2025-01-31 12:00:00,123 softswitch-security: auth-failed src=192.0.2.7 failures=3 ...
    2025-01-31 12:00:05,001 softswitch-security: ban src=192.0.2.7 reason=auth-failures ...

Every field after the word is `key=value` (a value with spaces is double-quoted, quotes and
backslashes in it escaped); `src` is always the first field, so a filter can anchor on it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Final

from softswitch.security.guard import (
    AuthenticationFailed,
    BanLifted,
    SecurityEvent,
    SourceBanned,
)

LOGGER_NAME: Final = "softswitch.security"
FILE_FORMAT: Final = "%(asctime)s softswitch-security: %(message)s"
_PLAIN: Final = re.compile(r"[A-Za-z0-9._:/@+-]+")


def field(key: str, value: object) -> str:
    """`key=value`, quoted when the value holds anything but plain characters (peer text)."""
    text = str(value)
    if _PLAIN.fullmatch(text):
        return f"{key}={text}"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in escaped)
    return f'{key}="{escaped[:200]}"'


def describe(event: SecurityEvent) -> str:
    if isinstance(event, AuthenticationFailed):
        return f"auth-failed {field('src', event.source)} failures={event.failures} {event.detail}"
    if isinstance(event, SourceBanned):
        return (
            f"ban {field('src', event.source)} reason={event.reason} failures={event.failures}"
            f" duration_s={round(event.until - event.at)}"
        )
    if isinstance(event, BanLifted):
        return f"unban {field('src', event.source)}"
    detail = f" {field('detail', event.detail)}" if event.detail else ""
    return f"refused {field('src', event.source)} reason={event.reason} count={event.count}{detail}"


def write(events: list[SecurityEvent], logger: logging.Logger) -> None:
    for event in events:
        level = logging.INFO if isinstance(event, BanLifted) else logging.WARNING
        logger.log(level, "%s", describe(event))


def open_log_file(path: Path) -> logging.Handler:
    """Add a file of security lines; the caller removes the handler at shutdown."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler
