"""Fixtures for the call layer's pure cores: a clock stepped by hand, and SIP requests written as
the bytes a phone sends and parsed by `parse_message`, as the switch parses them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from softswitch.sip.message import Request, parse_message

T0 = 1_700_000_000.0  # an epoch time: the registrar keeps wall-clock expiry times


class SteppedClock:
    """Stands in for time.time: a test moves it with `advance`."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RequestFactory:
    """Writes a request from a phone at 10.0.0.5 (a private address, as behind NAT)."""

    def __init__(self) -> None:
        self._branches = itertools.count(1)

    def __call__(
        self,
        method: str = "REGISTER",
        *,
        to_user: str = "1001",
        from_user: str | None = None,
        uri: str | None = None,
        call_id: str = "reg-1@10.0.0.5",
        cseq: int = 1,
        contacts: Iterable[str] = (),
        expires: int | str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        branch: str | None = None,
        via: str = "SIP/2.0/UDP 10.0.0.5:5060",
    ) -> Request:
        domain = "pbx.test"
        if uri is None:
            uri = f"sip:{domain}" if method == "REGISTER" else f"sip:{to_user}@{domain}"
        branch = branch or f"z9hG4bK-test-{next(self._branches)}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: {via};rport;branch={branch}",
            "Max-Forwards: 70",
            f"From: <sip:{from_user or to_user}@{domain}>;tag=from-tag-1",
            f"To: <sip:{to_user}@{domain}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            *(f"Contact: {contact}" for contact in contacts),
            *([f"Expires: {expires}"] if expires is not None else []),
            *(f"{name}: {value}" for name, value in headers),
            "User-Agent: test-phone/1.0",
            "Content-Length: 0",
        ]
        message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
        assert isinstance(message, Request)
        return message


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def sip_request() -> RequestFactory:
    return RequestFactory()
