"""The private network namespace really holds only loopback (so no test packet can leave)."""

from __future__ import annotations

import errno
import socket

import pytest

pytestmark = pytest.mark.integration


def test_no_route_off_loopback(network_isolation: str) -> None:
    if network_isolation != "private network namespace":
        pytest.skip(f"integration tests run in the {network_isolation}")
    # connect() on UDP only looks the route up: nothing is sent even where a route exists.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError) as refused:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1, RFC 5737
    assert refused.value.errno == errno.ENETUNREACH
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", 9))
