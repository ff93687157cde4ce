"""The event hub's fan-out: one write per socket per loop turn, a slow socket that delays no
one and is dropped with its events counted, an expired token, and frames of every size."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import Callable

import pytest
from api_harness import ApiHarness, with_api
from hypothesis import given
from hypothesis import strategies as st

from softswitch.api.auth import Principal
from softswitch.api.hub import DELAY_BUCKETS_S, Ending, EventHub, Subscriber, text_frame
from softswitch.api.permissions import Scope, Teams
from softswitch.config_api import Role
from softswitch.metrics import SwitchMetrics

ADMIN = Principal("admin", Role.ADMIN, None, None, frozenset())


class FakeSink:
    """A transport: what was written, one entry per write, and how much it still holds."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.unsent = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def is_closing(self) -> bool:
        return self.closing

    def events(self) -> list[dict[str, object]]:
        return [json.loads(payload) for payload in frames(b"".join(self.writes))]


def frames(data: bytes) -> list[bytes]:
    """Unmasked text frames (RFC 6455 §5.2) back into their payloads."""
    out = []
    while data:
        first, second = data[0], data[1]
        assert first == 0x81 and not second & 0x80  # FIN, text, unmasked
        size, at = second & 0x7F, 2
        if size == 126:
            (size,), at = struct.unpack("!H", data[2:4]), 4
        elif size == 127:
            (size,), at = struct.unpack("!Q", data[2:10]), 10
        out.append(data[at : at + size])
        data = data[at + size :]
    return out


def run(test: Callable[[EventHub], object]) -> None:
    async def main() -> None:
        hub = EventHub(Scope(Teams(())), lambda: 1000.0, high_water_bytes=1000)
        result = test(hub)
        if asyncio.iscoroutine(result):
            await result
        hub.close()

    asyncio.run(main())


def attached(hub: EventHub, maxsize: int = 8, valid: bool = True) -> tuple[Subscriber, FakeSink]:
    subscriber = hub.subscribe(ADMIN, ["call_created"], maxsize)
    sink = FakeSink()
    subscriber.attach(sink, lambda: valid)
    hub.attached(subscriber)
    return subscriber, sink


async def turn() -> None:
    """Let the hub's callback of this turn run (call_soon: one sleep(0) suffices)."""
    await asyncio.sleep(0)


def test_the_events_of_one_turn_go_to_each_socket_in_one_write_in_order() -> None:
    async def scenario(hub: EventHub) -> None:
        (_, first), (_, second) = attached(hub), attached(hub)
        for call_id in range(3):
            hub.publish("call_created", {"call_id": call_id}, None)
        assert first.writes == []  # publish never writes: the turn's callback does
        await turn()
        for sink in (first, second):
            assert len(sink.writes) == 1
            assert [e["data"] for e in sink.events()] == [{"call_id": n} for n in range(3)]
        assert first.writes[0] == second.writes[0]  # the same bytes for every socket
        assert hub.delivered == 6 and hub.write_delay.count == 6

    run(scenario)


def test_a_slow_socket_delays_nobody_catches_up_then_overflows_and_is_counted() -> None:
    async def scenario(hub: EventHub) -> None:
        slow, slow_sink = attached(hub, maxsize=4)
        _, fast_sink = attached(hub, maxsize=4)
        slow_sink.unsent = 5000  # its transport still holds more than the high water mark
        hub.publish("call_created", {"call_id": 1}, None)
        await turn()
        assert [e["data"] for e in fast_sink.events()] == [{"call_id": 1}]
        assert slow_sink.writes == [] and slow.queued == 1
        slow_sink.unsent = 0  # drained: the retry (RETRY_S later) sends what waited
        await asyncio.wait_for(_until(lambda: bool(slow_sink.writes)), 1.0)
        assert [e["data"] for e in slow_sink.events()] == [{"call_id": 1}]
        slow_sink.unsent = 5000
        for call_id in range(2, 8):  # 4 wait, the 5th overflows: dropped, never the fast one
            hub.publish("call_created", {"call_id": call_id}, None)
            await _until(lambda n=call_id: len(fast_sink.events()) == n)
        assert slow.ending is Ending.TOO_SLOW and await slow.ended() is Ending.TOO_SLOW
        assert (hub.dropped_subscribers, hub.dropped_events, hub.subscribers) == (1, 5, 1)
        assert [e["data"]["call_id"] for e in fast_sink.events()] == list(range(1, 8))

    run(scenario)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


class CostlySink(FakeSink):
    """A transport whose write takes time, as a system call does."""

    def write(self, data: bytes) -> None:
        time.sleep(0.002)  # the cost a flush must leave room after, not a wait for anything
        super().write(data)


def test_flushes_are_spaced_by_their_own_length_and_share_one_write_meanwhile() -> None:
    async def scenario(hub: EventHub) -> None:
        subscriber = hub.subscribe(ADMIN, ["call_created"], 8)
        sink = CostlySink()
        subscriber.attach(sink, lambda: True)
        hub.attached(subscriber)
        loop = asyncio.get_running_loop()
        hub.publish("call_created", {"call_id": 1}, None)
        await turn()  # idle: written in the next turn
        first_done = loop.time()
        assert len(sink.writes) == 1
        hub.publish("call_created", {"call_id": 2}, None)
        hub.publish("call_created", {"call_id": 3}, None)
        await turn()
        assert len(sink.writes) == 1  # within a flush's length of the last: they wait
        await asyncio.wait_for(_until(lambda: len(sink.writes) == 2), 1.0)
        assert loop.time() - first_done >= 0.002
        assert [e["data"]["call_id"] for e in sink.events()] == [1, 2, 3]  # 3 events, 2 writes

    run(scenario)


def test_an_expired_token_ends_the_subscription_before_anything_is_written() -> None:
    async def scenario(hub: EventHub) -> None:
        subscriber, sink = attached(hub, valid=False)
        hub.publish("call_created", {"call_id": 1}, None)
        await turn()
        assert sink.writes == [] and subscriber.ending is Ending.TOKEN_EXPIRED

    run(scenario)


def test_events_queued_before_the_socket_is_ready_go_out_once_it_is() -> None:
    async def scenario(hub: EventHub) -> None:
        subscriber = hub.subscribe(ADMIN, ["call_created"], 8)
        hub.publish("call_created", {"call_id": 1}, None)
        await turn()
        sink = FakeSink()
        subscriber.attach(sink, lambda: True)
        hub.attached(subscriber)
        await asyncio.wait_for(_until(lambda: bool(sink.writes)), 1.0)
        assert [e["data"] for e in sink.events()] == [{"call_id": 1}]

    run(scenario)


@given(st.binary(max_size=70_000))
def test_text_frames_carry_any_payload_length(payload: bytes) -> None:
    assert frames(text_frame(payload)) == [payload]


@pytest.mark.parametrize("size", [10, 125, 126, 65_535, 65_536, 200_000])
def test_a_real_client_reads_frames_of_each_length_class(size: int) -> None:
    async def scenario(api: ApiHarness) -> None:
        stream = await (await api.client("admin")).events(["log_record"])
        api.server.hub.publish("log_record", {"message": "x" * size}, None)
        event = await stream.next(timeout_s=2.0)
        assert event is not None and event.data == {"message": "x" * size}

    with_api(scenario)


def test_the_fan_out_figures_are_served_on_metrics() -> None:
    async def scenario(hub: EventHub) -> None:
        metrics = SwitchMetrics()
        metrics.bind_api_events(hub, DELAY_BUCKETS_S)
        _, sink = attached(hub)
        slow, slow_sink = attached(hub, maxsize=1)
        slow_sink.unsent = 5000
        hub.publish("call_created", {"call_id": 1}, None)
        hub.publish("call_created", {"call_id": 2}, None)  # overflows the slow one
        await turn()
        text = metrics.render().decode()
        lines = set(text.splitlines())
        assert "softswitch_api_event_subscribers 1.0" in lines
        assert "softswitch_api_events_published_total 2.0" in lines
        assert "softswitch_api_events_delivered_total 2.0" in lines
        assert "softswitch_api_events_dropped_total 2.0" in lines
        assert "softswitch_api_event_subscribers_dropped_total 1.0" in lines
        # the hub's clock stands still: both deliveries in the first bucket, one flush
        assert 'softswitch_api_event_write_delay_seconds_bucket{le="0.0005"} 2.0' in lines
        assert 'softswitch_api_event_write_delay_seconds_bucket{le="+Inf"} 2.0' in lines
        assert "softswitch_api_event_flush_seconds_count 1.0" in lines
        assert "softswitch_api_event_flush_wait_seconds_count 1.0" in lines
        assert slow.ending is Ending.TOO_SLOW and len(sink.writes) == 1

    run(scenario)
