"""Failed API logins and failed SIP digests count toward one ban of the source address."""

from __future__ import annotations

import http.client
import json

import pytest
import sip_client
from api_events import wait_api
from running_switch import Switch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ATTACKER = "127.0.0.2"


def _login(
    sw: Switch, password: str, source: str, username: str = "supervisor"
) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection(
        "127.0.0.1", sw.ports.api, timeout=5, source_address=(source, 0)
    )
    try:
        body = json.dumps({"username": username, "password": password})
        conn.request("POST", "/api/v1/tokens", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        conn.close()


@pytest.mark.parametrize("switch", [{"security": {"rate_limit_requests": 1000}}], indirect=True)
def test_api_and_sip_failures_from_one_source_ban_it_from_both(switch: Switch) -> None:
    wait_api(switch.ports.api)
    api_failures = [_login(switch, "guess", ATTACKER)[0] for _ in range(5)]
    assert api_failures == [401] * 5
    # 15 wrong SIP passwords make 20 failures from this address: the ban.
    sip_failures = [
        sip_client.register(switch.sip_port, "1001", "guess", ATTACKER) for _ in range(15)
    ]
    assert sip_failures == [403] * 15
    assert sip_client.register(switch.sip_port, "1001", "demo-1001", ATTACKER) is None
    status, retry_after = _login(switch, "demo-supervisor", ATTACKER)
    assert status == 429 and retry_after is not None and int(retry_after) > 250
    # Another address is served by both (another user: the API also limits per username).
    assert sip_client.register(switch.sip_port, "1001", "demo-1001") == 200
    assert _login(switch, "demo-admin", "127.0.0.1", "admin")[0] == 201
