"""Stream connection caps and deadlines, with a hand-stepped clock."""

from __future__ import annotations

from softswitch.security.connections import ConnectionLimits, StreamActivity
from softswitch.security.guard import Refusal
from softswitch.security.settings import TcpConfig


def test_caps_per_source_and_in_all() -> None:
    limits = ConnectionLimits(TcpConfig(max_connections=5, max_connections_per_source=2))
    assert limits.open("a") is None and limits.open("a") is None
    assert "max_connections_per_source 2" in (limits.open("a") or "")
    assert [limits.open(h) for h in "bcd"] == [None, None, None]
    assert "max_connections 5" in (limits.open("e") or "")
    limits.close("a")
    assert limits.open("e") is None and limits.total == 5
    limits.close("zzz")  # an address never counted cannot drive the count below zero
    assert limits.from_source("a") == 1


def test_idle_connection_expires_after_idle_timeout() -> None:
    config = TcpConfig(idle_timeout_s=120.0)
    activity = StreamActivity(last_data=0.0)
    assert activity.expired(119.0, config) is None
    assert activity.expired(120.0, config) is Refusal.IDLE


def test_slowloris_a_byte_at_a_time_expires_after_message_timeout() -> None:
    config = TcpConfig(message_timeout_s=10.0, idle_timeout_s=120.0)
    activity = StreamActivity(last_data=0.0)
    now = 0.0
    pending = 0
    while activity.expired(now, config) is None:
        pending += 1
        activity.received(now, pending, completed=False)
        now += 1.0
        assert now < 20.0
    assert activity.expired(now, config) is Refusal.SLOW_MESSAGE
    assert now == 10.0  # ten seconds after its first byte


def test_a_busy_connection_whose_reads_split_messages_is_not_slow() -> None:
    config = TcpConfig(message_timeout_s=10.0)
    activity = StreamActivity(last_data=0.0)
    for second in range(60):
        # every read ends one message and starts the next one
        activity.received(float(second), 100, completed=True)
        assert activity.expired(float(second) + 0.5, config) is None
