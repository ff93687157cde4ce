"""Who is at fault when SIP goes wrong.

SipError
├── RemoteProtocolError   the peer sent something we cannot accept; status_hint is the
│                         SIP response to send back (400, 416, 420, 483, 505, 513, ...)
└── LocalProtocolError    our own code asked for something the protocol does not allow
"""

from __future__ import annotations


class SipError(Exception):
    """Base of every SIP error raised by the sans-IO core."""


class RemoteProtocolError(SipError):
    """Bad input from the network. `status_hint` is the response to send to a request."""

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class LocalProtocolError(SipError):
    """A bug on our side: the caller used the core in a way the protocol forbids."""
