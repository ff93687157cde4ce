import asyncio
import re

from prometheus_client import CONTENT_TYPE_LATEST

from softswitch.metrics import MAX_REQUEST_BYTES, SwitchMetrics, serve_metrics

DEADLINE_S = 10.0


async def http(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send one raw request and read until the server closes the connection."""
    async with asyncio.timeout(DEADLINE_S):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        data = await reader.read()
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert int(headers["Content-Length"]) == len(body)
    return status_line, headers, body


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from:\n{text}"
    return float(match[1])


def make_metrics() -> SwitchMetrics:
    metrics = SwitchMetrics()
    metrics.call_setup_seconds.observe(0.003)
    live: dict[str, int] = {"calls": 7, "rtp": 0}
    requests_in: dict[str, int] = {"INVITE": 2}
    metrics.bind_live(
        active_calls=lambda: live["calls"],
        registrations=lambda: 3,
        rtp_relayed=lambda: live["rtp"],
        rtp_lost=lambda: 2,
        sip_requests=lambda: (requests_in, {"FOO": 1, "BAR": 2, "BYE": 1}),
        sip_responses=lambda: ({}, {200: 1, 486: 2}),
        calls_by_disposition=lambda: {"answered": 1, "busy": 2},
    )
    # Read at scrape time, not at bind time:
    live["rtp"] = 12345
    requests_in["REGISTER"] = 5
    return metrics


def bind_idle(metrics: SwitchMetrics, active_calls: int) -> None:
    metrics.bind_live(
        active_calls=lambda: active_calls,
        registrations=lambda: 0,
        rtp_relayed=lambda: 0,
        rtp_lost=lambda: 0,
        sip_requests=lambda: ({}, {}),
        sip_responses=lambda: ({}, {}),
        calls_by_disposition=dict,
    )


def test_metrics_endpoint_serves_counters_and_live_values() -> None:
    async def scenario() -> None:
        server = await serve_metrics(make_metrics(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            status, headers, body = await http(
                port, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
            )
            assert status == "HTTP/1.1 200 OK"
            assert headers["Content-Type"] == CONTENT_TYPE_LATEST
            assert headers["Connection"] == "close"
            text = body.decode()
            expected = {
                'softswitch_sip_requests_total{direction="in",method="INVITE"}': 2,
                'softswitch_sip_requests_total{direction="in",method="REGISTER"}': 5,
                'softswitch_sip_requests_total{direction="out",method="other"}': 3,
                'softswitch_sip_requests_total{direction="out",method="BYE"}': 1,
                'softswitch_sip_responses_total{code="486",direction="out"}': 2,
                'softswitch_calls_total{disposition="answered"}': 1,
                'softswitch_calls_total{disposition="busy"}': 2,
            }
            assert {name: sample(text, name) for name in expected} == expected
            assert sample(text, 'softswitch_call_setup_seconds_bucket{le="0.001"}') == 0
            assert sample(text, 'softswitch_call_setup_seconds_bucket{le="0.005"}') == 1
            assert sample(text, "softswitch_calls_active") == 7
            assert sample(text, "softswitch_registrations") == 3
            assert sample(text, "softswitch_rtp_packets_relayed_total") == 12345
            assert sample(text, "softswitch_rtp_packets_lost_total") == 2

            status, _, _ = await http(port, b"GET / HTTP/1.1\r\n\r\n")
            assert status == "HTTP/1.1 404 Not Found"
            status, headers, _ = await http(port, b"POST /metrics HTTP/1.1\r\n\r\n")
            assert status == "HTTP/1.1 405 Method Not Allowed" and headers["Allow"] == "GET"
            status, _, _ = await http(port, b"garbage\r\n\r\n")
            assert status == "HTTP/1.1 400 Bad Request"
            huge = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * MAX_REQUEST_BYTES + b"\r\n\r\n"
            status, _, _ = await http(port, huge)
            assert status == "HTTP/1.1 431 Request Header Fields Too Large"
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_registries_are_separate_and_live_readers_replaceable() -> None:
    first, second = make_metrics(), SwitchMetrics()
    bind_idle(second, 1)
    bind_idle(second, 42)
    text = second.render().decode()
    assert sample(text, "softswitch_calls_active") == 42
    assert "softswitch_sip_requests_total{" not in text
    assert "softswitch_call_setup_seconds_count 0.0" in text
    assert sample(first.render().decode(), "softswitch_calls_active") == 7
