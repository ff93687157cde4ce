"""The API as a client sees it: tokens, 401/403 for every route and role, scope, the login
rate limit, and the OpenAPI document against the routes served."""

from __future__ import annotations

import logging
import re

import pytest
from api_harness import PASSWORDS, ApiHarness, with_api

from softswitch.api.client import ApiClientError
from softswitch.api.permissions import granted
from softswitch.api.routes import Route
from softswitch.api.server import build_app
from softswitch.api.table import ALL_ROUTES as ROUTES
from softswitch.config_api import Role

ROLE_USERS = {Role.ADMIN: "admin", Role.SUPERVISOR: "supervisor", Role.AGENT: "1001"}
# What each role is refused by ACL alone, written out rather than derived from the grants.
FORBIDDEN_BY_ROLE = {
    Role.AGENT: {
        "list_registrations",
        "list_trunks",
        "list_logs",
        "list_queues",
        "read_queue",
        "read_queue_statistics",
        "move_caller",
        "caller_to_head",
        "supervise_agent",
        "supervise_call",
        "intercept_call",
        "list_supervisions",
        "change_supervision",
        "stop_supervision",
    },
    Role.SUPERVISOR: {"list_trunks"},
    Role.ADMIN: set(),
}
GUARDED = [route for route in ROUTES if route.acl is not None and not route.websocket]


def _path(route: Route) -> str:
    # Call 1 is 1001 -> 1002: in every demo role's scope; leg 1 is its caller.
    # Agent 1001 and queue 600 (which 1001 serves) are in every demo role's scope too.
    path = route.path.replace("{call_id}", "1").replace("{leg_id}", "1")
    path = path.replace("{supervision_id}", "1")  # made by the test when the route needs it
    return path.replace("{agent_number}", "1001").replace("{queue}", "600")


def test_token_flow() -> None:
    async def scenario(api: ApiHarness) -> None:
        status, body, _ = await api.raw(
            "POST", "/api/v1/tokens", json={"username": "admin", "password": "demo-admin"}
        )
        assert status == 201
        assert body["role"] == "admin" and len(body["token"]) >= 40
        assert body["expires_at"] == "2023-11-14T23:13:20.000+00:00"  # T0 + 3600 s
        bearer = {"Authorization": f"Bearer {body['token']}"}
        status, me, _ = await api.raw("GET", "/api/v1/users/me", headers=bearer)
        assert (status, me["username"], me["role"]) == (200, "admin", "admin")

        api.clock.advance(3599)
        assert (await api.raw("GET", "/api/v1/users/me", headers=bearer))[0] == 200
        api.clock.advance(1)
        status, error, headers = await api.raw("GET", "/api/v1/users/me", headers=bearer)
        assert (status, headers["WWW-Authenticate"]) == (401, "Bearer"), error

        client = await api.client("1003")
        assert (await client.me()).extension == "1003"
        token = client.token
        await client.logout()
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await api.raw("GET", "/api/v1/users/me", headers=bearer))[0] == 401

    with_api(scenario)


@pytest.mark.parametrize(
    "body",
    [
        {"username": "admin", "password": "wrong"},
        {"username": "nobody", "password": "demo-admin"},
    ],
)
def test_bad_credentials_are_401(body: dict[str, str]) -> None:
    async def scenario(api: ApiHarness) -> None:
        status, error, _ = await api.raw("POST", "/api/v1/tokens", json=body)
        assert (status, error["error"]) == (401, "bad username or password")

    with_api(scenario)


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b'{"username": 1, "password": "x"}', b'{"username": "a"}']
)
def test_malformed_login_is_400(raw: bytes) -> None:
    async def scenario(api: ApiHarness) -> None:
        status, _, _ = await api.raw("POST", "/api/v1/tokens", data=raw)
        assert status == 400

    with_api(scenario)


@pytest.mark.parametrize("route", GUARDED, ids=lambda r: r.operation_id)
def test_every_guarded_route_wants_a_valid_token(route: Route) -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "1001", "1002")
        for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic x"}):
            status, body, _ = await api.raw(route.method, _path(route), headers=headers)
            assert status == 401, (headers, body)
        assert api.control.commands == []

    with_api(scenario)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("route", GUARDED, ids=lambda r: r.operation_id)
def test_roles_against_the_permission_table(route: Route, role: Role) -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "1001", "1002")
        if route.operation_id == "resume_leg":
            api.control.hold(1, 1)
            api.control.commands.clear()
        if route.path.startswith("/api/v1/agents/") and route.operation_id != "login_agent":
            api.centre.control.login("1001")  # so that logoff, pause, ready can be done
        if "/callers/" in route.path:  # call 1 waits in 600; 601 is staffed (paused 1004)
            api.centre.control.login("1004")
            api.centre.control.pause("1004", "meeting")
            api.centre.apply(api.centre.engine.enqueue("1", "600", api.clock.now))
        client = await api.client(ROLE_USERS[role])
        headers = {"Authorization": f"Bearer {client.token}"}
        kwargs: dict[str, object] = {"headers": headers}
        if route.body is not None:
            kwargs["json"] = {
                "PauseRequest": {"reason": "lunch"},
                "MoveRequest": {"queue": "601"},
                "TransferRequest": {"leg_id": 2, "target": "1003"},
                "ConferenceRequest": {"target": "1003"},
                "OriginateRequest": {"from": "1001", "to": "1002"},
                "SuperviseRequest": {"mode": "listen", "extension": "1006"},
                "SupervisionModeRequest": {"mode": "barge"},
                "AnswerRequest": {"extension": "1001"},
                "InterceptRequest": {"extension": "1006"},
            }[route.body]
        if route.operation_id == "answer_call":
            api.control.ringing.add((1, "1001"))
        if "/supervisions/" in route.path:
            api.control.supervise("1001", "1006", "listen")  # supervision 1
            api.control.commands.clear()
        status, body, _ = await api.raw(route.method, _path(route), **kwargs)
        if route.operation_id in FORBIDDEN_BY_ROLE[role]:
            assert status == 403, body
            assert not granted(role, route.acl or "")
            assert api.control.commands == []
        elif route.operation_id == "end_wrap_up":
            assert status == 409, body  # allowed, but 1001 is ready, not in wrap-up
        else:
            assert status in (200, 201, 202, 204), body

    with_api(scenario)


def test_agent_reaches_only_its_own_calls() -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "1001", "1002")
        api.control.add(2, "1003", "1004")
        api.control.add(3, "+4420", "1001")
        agent = await api.client("1001")
        assert [c.call_id for c in await agent.calls()] == [1, 3]
        with pytest.raises(ApiClientError) as refused:
            await agent.hang_up(2)
        assert refused.value.status == 403
        with pytest.raises(ApiClientError) as refused:
            await agent.hold(2, 1)
        assert refused.value.status == 403
        assert api.control.commands == []
        await agent.hang_up(3)
        assert api.control.commands == [("hang_up", 3, None)]

    with_api(scenario)


def test_supervisor_reaches_the_calls_of_its_teams_agents() -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "1002", "1003")  # sales and sales
        api.control.add(2, "1004", "1005")  # support and support
        api.control.add(3, "1005", "1001")  # support calls sales
        supervisor = await api.client("supervisor")  # leads "sales"
        assert [c.call_id for c in await supervisor.calls()] == [1, 3]
        with pytest.raises(ApiClientError) as refused:
            await supervisor.hang_up(2)
        assert refused.value.status == 403
        await supervisor.hold(1, 2)
        assert (await supervisor.call(1)).legs[1].held
        await supervisor.resume(1, 2)
        await supervisor.hang_up(3)
        admin = await api.client("admin")
        assert [c.call_id for c in await admin.calls()] == [1, 2]
        await admin.hang_up(2)
        assert api.control.commands == [
            ("hold", 1, 2),
            ("resume", 1, 2),
            ("hang_up", 3, None),
            ("hang_up", 2, None),
        ]

    with_api(scenario)


def test_transfer_routes_check_the_body_and_the_scope() -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "1001", "1002")
        api.control.add(2, "1003", "1004")
        agent = await api.client("1001")
        await agent.transfer(1, 1, "1003")
        await agent.transfer(1, 1, "1003", attended=True)
        await agent.complete_transfer(1)
        await agent.cancel_transfer(1)
        await agent.conference(1, "1003")
        await agent.conference(1, "1003", leg_id=1)
        for command in (
            agent.transfer(2, 1, "1001"),
            agent.complete_transfer(2),
            agent.conference(2, "1001"),
        ):
            with pytest.raises(ApiClientError) as refused:
                await command
            assert refused.value.status == 403
        headers = {"Authorization": f"Bearer {agent.token}"}
        for body in (
            {"leg_id": "1", "target": "1003"},
            {"leg_id": True, "target": "1003"},
            {"leg_id": 0, "target": "1003"},
            {"leg_id": 1, "target": ""},
            {"leg_id": 1, "target": "1" * 65},
            {"leg_id": 1, "target": "1003", "attended": "yes"},
            [1, "1003"],
        ):
            status, _, _ = await api.raw(
                "POST", "/api/v1/calls/1/transfer", json=body, headers=headers
            )
            assert status == 400, body
        assert api.control.commands == [
            ("transfer", 1, 1),
            ("attended_transfer", 1, 1),
            ("transfer_complete", 1, None),
            ("transfer_cancel", 1, None),
            ("three_way", 1, None),
            ("three_way", 1, 1),
        ]

    with_api(scenario)


def test_originate_checks_the_body_and_the_extension_scope() -> None:
    async def scenario(api: ApiHarness) -> None:
        agent = await api.client("1001")
        assert await agent.originate("1001", "1002") == 1
        for command, status in (
            (agent.originate("1004", "1002"), 403),  # not its extension
            (agent.originate("1001", "5999"), 404),
        ):
            with pytest.raises(ApiClientError) as refused:
                await command
            assert refused.value.status == status
        supervisor = await api.client("supervisor")
        assert await supervisor.originate("1002", "912345", "+15550100600") == 2
        headers = {"Authorization": f"Bearer {agent.token}"}
        for body in (
            {"to": "1002"},
            {"from": "1001", "to": ""},
            {"from": 1001, "to": "1002"},
            {"from": "1001", "to": "1002", "caller_id": 5},
        ):
            status, _, _ = await api.raw("POST", "/api/v1/calls", json=body, headers=headers)
            assert status == 400, body
        assert api.control.commands == [("originate", 1, None), ("originate", 2, None)]

    with_api(scenario)


def test_control_refusals_become_404_and_409() -> None:
    async def scenario(api: ApiHarness) -> None:
        api.control.add(1, "1001", "1002")
        admin = await api.client("admin")
        for command, status in (
            (admin.hang_up(99), 404),
            (admin.hold(1, 7), 404),
            (admin.resume(1, 1), 409),  # not held
        ):
            with pytest.raises(ApiClientError) as refused:
                await command
            assert refused.value.status == status
        status, _, _ = await api.raw("GET", "/api/v1/calls/99999999999999999999")
        assert status == 401  # the token check comes first, whatever the path
        status, body, _ = await api.raw("GET", "/api/v1/nothing")
        assert (status, body["status"]) == (404, 404)

    with_api(scenario)


def test_failed_logins_are_limited_per_source_and_per_username(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(api: ApiHarness) -> None:
        attacker = await api.client(source="127.0.0.2")
        for _ in range(5):
            with pytest.raises(ApiClientError) as refused:
                await attacker.login("admin", "guess")
            assert refused.value.status == 401
        # Blocked now, even with the right password, for that user and from that source.
        for username in ("admin", "1002"):
            status, body, headers = await _login(api, "127.0.0.2", username)
            assert status == 429, body
            assert 1 <= int(headers["Retry-After"]) <= 60
        status, _, _ = await _login(api, "127.0.0.3", "admin")
        assert status == 429  # per username, from any source
        assert (await _login(api, "127.0.0.3", "1002"))[0] == 201  # others still log in
        api.clock.advance(60)
        assert (await _login(api, "127.0.0.2", "admin"))[0] == 201

    with caplog.at_level(logging.WARNING, logger="softswitch.security"):
        with_api(scenario)
    lines = [r.getMessage() for r in caplog.records if r.name == "softswitch.security"]
    assert "API login failed (bad credentials) for user 'admin' from 127.0.0.2" in lines
    assert sum("too many failures" in line for line in lines) == 3


async def _login(api: ApiHarness, source: str, username: str) -> tuple[int, object, object]:
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(
            api.base_url + "/api/v1/tokens",
            json={"username": username, "password": PASSWORDS[username]},
        ) as response,
    ):
        return response.status, await response.json(), response.headers


def test_openapi_documents_exactly_the_routes_served() -> None:
    async def scenario(api: ApiHarness) -> None:
        client = await api.client()
        document = await client.openapi()
        documented = {
            (method.upper(), path)
            for path, operations in document["paths"].items()
            for method in operations
        }
        app = build_app(api.server.services)
        served = {
            (route.method, route.resource.canonical.replace(r":\d{1,20}", ""))
            for route in app.router.routes()
            if route.resource is not None and route.method != "HEAD"
        }
        assert documented == served
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                statuses = set(operation["responses"])
                if operation["security"]:
                    assert {"401", "403"} <= statuses, (method, path)
                    assert re.fullmatch(r"[a-z]+(\.([a-z_]+|\{[a-z_]+\}))+", operation["x-acl"])
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path":
                        assert "{" + parameter["name"] + "}" in path
        schemas = document["components"]["schemas"]
        refs = _refs(document)
        assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)
        assert document["openapi"].startswith("3.")

    with_api(scenario)


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()
