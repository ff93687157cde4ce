"""Who is at fault when an ACD request cannot be carried out.

AcdError                  base; `status_hint` is the HTTP status an API answers with
├── UnknownEntity         no such agent, queue or call (404)
└── InvalidRequest        the request is not allowed in the current state (409), e.g. an
                          answer from an agent that was never offered the call, or a
                          transition the agent state table does not allow
"""

from __future__ import annotations


class AcdError(Exception):
    """Base of every error raised by the ACD core."""

    status_hint = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)


class UnknownEntity(AcdError):
    """An agent, queue or call id the engine does not know."""

    status_hint = 404


class InvalidRequest(AcdError):
    """A request that the current state of an agent or caller does not allow."""

    status_hint = 409
