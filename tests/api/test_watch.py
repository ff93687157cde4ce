"""What a console watches besides calls: registration events in the token's scope, the
switch's warnings and security events (admin and supervisor only, with a history for a
console that connects late), and the trunks."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from api_harness import (
    REPO,
    T0,
    ApiHarness,
    ScriptedControl,
    SteppedClock,
    demo_api_config,
    with_api,
)

from softswitch.api.client import ApiClientError
from softswitch.api.events import RegistrationEvents
from softswitch.api.log_feed import MAX_MESSAGE_CHARS, LogFeed
from softswitch.api.server import ApiServer
from softswitch.calls.registrar import Binding
from softswitch.config import load_config
from softswitch.config_api import ApiConfig


def _binding(aor: str, expires_in_s: float = 600.0) -> Binding:
    return Binding(
        aor=aor,
        contact=f"sip:{aor}@127.0.0.1:5070",
        transport="UDP",
        source_host="127.0.0.1",
        source_port=5070,
        expires_at=T0 + expires_in_s,
        call_id="c1",
        cseq=1,
        user_agent="pjsua2 [test]",
    )


def test_registration_events_follow_the_scope_of_each_token() -> None:
    async def scenario(api: ApiHarness) -> None:
        supervisor = await (await api.client("supervisor")).events(["*"])
        admin = await (await api.client("admin")).events(["registration_saved"])
        agent_client = await api.client("1001")
        assert "registration_saved" not in (await agent_client.events(["*"])).event_names
        sink = RegistrationEvents(api.server.hub)
        sink.saved(_binding("1004"))  # support: not the supervisor's team
        sink.saved(_binding("1002"))
        sink.removed("1002", "sip:1002@127.0.0.1:5070")
        seen = await supervisor.next(timeout_s=2.0)
        assert seen is not None and seen.name == "registration_saved"
        assert seen.data == {
            "extension": "1002",
            "contact": "sip:1002@127.0.0.1:5070",
            "source": "UDP:127.0.0.1:5070",
            "user_agent": "pjsua2 [test]",
            "expires_at": "2023-11-14T22:23:20.000+00:00",
        }
        gone = await supervisor.next(timeout_s=2.0)
        assert gone is not None and gone.name == "registration_removed"
        assert gone.data == {"extension": "1002", "contact": "sip:1002@127.0.0.1:5070"}
        first = await admin.next(timeout_s=2.0)
        assert first is not None and first.data["extension"] == "1004"

    with_api(scenario)


def test_warnings_and_security_events_reach_admins_and_supervisors_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # as `log.level = "info"` runs the switch

    async def scenario(api: ApiHarness) -> None:
        logging.getLogger("softswitch.calls").warning("early %s", "warning")
        admin = await (await api.client("admin")).events(["log_record"])
        supervisor = await (await api.client("supervisor")).events(["*"])
        agent = await api.client("1001")
        stream = await agent.events([])
        await stream.subscribe("log_record")
        assert (await stream.reply(2.0))["code"] == 403
        with pytest.raises(ApiClientError) as refused:
            await agent.logs()
        assert refused.value.status == 403

        logging.getLogger("softswitch.calls").info("not shown: info of an ordinary log")
        logging.getLogger("softswitch.security").info("REGISTER from %s banned", "127.0.0.9")
        logging.getLogger("softswitch.media").error("x" * (MAX_MESSAGE_CHARS + 50))
        for stream_ in (admin, supervisor):
            ban = await stream_.next(timeout_s=2.0)
            assert ban is not None and ban.name == "log_record"
            assert ban.data["message"] == "REGISTER from 127.0.0.9 banned"
            assert (ban.data["level"], ban.data["security"]) == ("INFO", True)
            error = await stream_.next(timeout_s=2.0)
            assert error is not None and error.data["level"] == "ERROR"
            assert len(error.data["message"]) == MAX_MESSAGE_CHARS
        history = await (await api.client("supervisor")).logs()
        assert [r["message"][:13] for r in history] == [
            "early warning",
            "REGISTER from",
            "xxxxxxxxxxxxx",
        ]

    with_api(scenario)


def test_a_record_from_another_thread_is_published_on_the_loop() -> None:
    async def scenario(api: ApiHarness) -> None:
        admin = await (await api.client("admin")).events(["log_record"])
        worker = threading.Thread(
            target=lambda: logging.getLogger("softswitch.security").warning("from a thread")
        )
        worker.start()
        worker.join()
        event = await admin.next(timeout_s=2.0)
        assert event is not None and event.data["message"] == "from a thread"

    with_api(scenario)


def test_a_feed_detached_publishes_nothing() -> None:
    async def scenario(api: ApiHarness) -> None:
        feed = api.server.logs
        assert isinstance(feed, LogFeed)
        feed.detach()
        logging.getLogger("softswitch").warning("after detach")
        assert feed.records() == []

    with_api(scenario)


def test_trunks_list_their_address_and_authentication() -> None:
    config = load_config(REPO / "config.example.toml")

    async def main() -> None:
        control = ScriptedControl()
        api_config: ApiConfig = demo_api_config()
        server = ApiServer(api_config, control, trunks=config.trunks, clock=SteppedClock())
        await server.start()
        harness = ApiHarness(server, control, SteppedClock())
        try:
            admin = await harness.client("admin")
            trunks = {t["name"]: t for t in await admin.trunks()}
            assert set(trunks) == {t.name for t in config.trunks}
            assert trunks["carrier"]["address"] == "udp:127.0.0.1:5080"
            assert trunks["gateway"]["address"] == "udp:127.0.0.1"  # any source port
            assert not trunks["carrier"]["outbound_auth"] and not trunks["gateway"]["inbound_auth"]
            with pytest.raises(ApiClientError) as refused:
                await (await harness.client("supervisor")).trunks()
            assert refused.value.status == 403
        finally:
            await harness.close()

    asyncio.run(main())
