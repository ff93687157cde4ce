"""The RTP port allocator: even ports, RTCP room above, no double hand-out, exhaustion."""

from __future__ import annotations

import pytest

from softswitch.media.ports import PortAllocator, PortsExhausted


def test_hands_out_even_ports_with_rtcp_room() -> None:
    ports = PortAllocator(10001, 10008)  # odd low bound: starts at 10002; 10008 has no 10009
    got = [ports.allocate() for _ in range(ports.capacity)]
    assert got == [10002, 10004, 10006]
    assert ports.in_use == 3
    with pytest.raises(PortsExhausted) as info:
        ports.allocate()
    assert info.value.status_hint == 503


def test_released_port_comes_back_last() -> None:
    ports = PortAllocator(20000, 20005)
    first = ports.allocate()
    ports.release(first)
    assert ports.allocate() != first
    assert ports.allocate() != first
    assert ports.allocate() == first


def test_never_hands_out_a_port_in_use() -> None:
    ports = PortAllocator(30000, 30099)
    held = {ports.allocate() for _ in range(20)}
    for port in list(held)[:10]:
        ports.release(port)
        held.remove(port)
    while True:
        try:
            port = ports.allocate()
        except PortsExhausted:
            break
        assert port not in held
        held.add(port)
    assert len(held) == ports.capacity == 50


def test_release_of_unallocated_port_is_refused() -> None:
    ports = PortAllocator(40000, 40010)
    with pytest.raises(ValueError):
        ports.release(40000)
    port = ports.allocate()
    ports.release(port)
    with pytest.raises(ValueError):
        ports.release(port)


@pytest.mark.parametrize("low, high", [(5000, 5000), (5001, 5002), (0, 10), (6000, 5000)])
def test_range_without_a_pair_is_refused(low: int, high: int) -> None:
    with pytest.raises(ValueError):
        PortAllocator(low, high)
