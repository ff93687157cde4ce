"""RoutingPlan: which destination a dialled number reaches in each context, from a parsed config."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from softswitch.calls.routing import RouteTarget, RoutingPlan
from softswitch.cli import main
from softswitch.config import Config, parse_config

PLAN = RoutingPlan(
    parse_config(
        {
            "extensions": [
                {"number": "1001", "password": "demo-1001"},
                {"number": "1002", "password": "demo-1002"},
                {"number": "1003", "password": "demo-1003"},
            ],
            "trunks": [
                {"name": "gateway", "host": "127.0.0.1", "context": "from-gateway"},
                {"name": "carrier", "host": "192.0.2.50", "port": 5080},
            ],
            "routes": [
                {"context": "internal", "prefix": "9", "strip": 1, "destination": "trunk:carrier"},
                {
                    "context": "internal",
                    "prefix": "900",
                    "strip": 3,
                    "prepend": "+44",
                    "destination": "trunk:carrier",
                },
                {"context": "internal", "number": "90", "destination": "extension:1002"},
                {"context": "internal", "prefix": "1", "destination": "trunk:carrier"},
                {"context": "internal", "number": "1003", "destination": "extension:1001"},
                {"context": "from-gateway", "number": "7000", "destination": "extension:1001"},
                {"context": "from-gateway", "number": "9196", "destination": "echo"},
                {
                    "context": "from-gateway",
                    "prefix": "00",
                    "strip": 2,
                    "destination": "trunk:carrier",
                },
            ],
        },
        "test.toml",
    )
)


@pytest.mark.parametrize(
    ("context", "dialled", "expected"),
    [
        pytest.param("internal", "1002", RouteTarget("extension", "1002", "1002"), id="extension"),
        pytest.param(
            "internal", "1003", RouteTarget("extension", "1001", "1003"), id="exact-over-extension"
        ),
        pytest.param(
            "internal", "1999", RouteTarget("trunk", "carrier", "1999"), id="prefix-not-extension"
        ),
        pytest.param(
            "internal", "95551234", RouteTarget("trunk", "carrier", "5551234"), id="strip"
        ),
        pytest.param(
            "internal",
            "900207946",
            RouteTarget("trunk", "carrier", "+44207946"),
            id="longest-prefix-strip-prepend",
        ),
        pytest.param(
            "internal", "90", RouteTarget("extension", "1002", "90"), id="exact-over-prefix"
        ),
        pytest.param("from-gateway", "7000", RouteTarget("extension", "1001", "7000"), id="did"),
        pytest.param(
            "from-gateway",
            "0044207946",
            RouteTarget("trunk", "carrier", "44207946"),
            id="transit",
        ),
    ],
)
def test_dialled_number_reaches_its_destination(context, dialled, expected):
    assert PLAN.resolve(context, dialled) == expected


@pytest.mark.parametrize("context", ["internal", "from-gateway"])
def test_echo_test_number(context):
    """Phones reach features.echo_test (default 9196) with no route, ahead of the prefix 9 route;
    the gateway through its own route."""
    target = PLAN.resolve(context, "9196")

    assert target is not None
    assert (target.kind, target.number) == ("echo", "9196")


def _plan_with_echo_test(echo_test: str) -> RoutingPlan:
    return RoutingPlan(
        parse_config(
            {
                "features": {"echo_test": echo_test},
                "trunks": [{"name": "carrier", "host": "192.0.2.50", "port": 5080}],
                "routes": [
                    {"context": "internal", "prefix": "9", "destination": "trunk:carrier"},
                ],
            },
            "test.toml",
        )
    )


def test_echo_test_key_moves_the_echo_test():
    plan = _plan_with_echo_test("*43")

    assert plan.resolve("internal", "*43") == RouteTarget("echo", "*43", "*43")
    assert plan.resolve("internal", "9196") == RouteTarget("trunk", "carrier", "9196")
    assert plan.resolve("from-carrier", "*43") is None  # a trunk needs a route of its own


def test_echo_test_off():
    plan = _plan_with_echo_test("")

    assert plan.resolve("internal", "9196") == RouteTarget("trunk", "carrier", "9196")
    assert plan.resolve("internal", "") is None


@pytest.mark.parametrize(
    ("context", "dialled"),
    [
        pytest.param("internal", "5555", id="no-route"),
        pytest.param("internal", "", id="empty"),
        pytest.param("internal", "9", id="prefix-alone"),
        pytest.param("from-gateway", "1002", id="extension-not-implicit-from-a-trunk"),
        pytest.param("from-gateway", "00", id="trunk-prefix-alone"),
        pytest.param("from-carrier", "7000", id="route-of-another-context"),
        pytest.param("from-carrier", "1001", id="extension-in-a-context-without-routes"),
        pytest.param("no-such-context", "1001", id="unknown-context"),
    ],
)
def test_unroutable_number_is_none(context, dialled):
    assert PLAN.resolve(context, dialled) is None


def test_trunk_context_defaults_to_from_name():
    """A trunk without `context` is routed in from-<name>: here the carrier has no routes."""
    plan = RoutingPlan(
        parse_config(
            {
                "trunks": [{"name": "carrier", "host": "192.0.2.50", "port": 5080}],
                "routes": [
                    {"context": "from-carrier", "number": "7000", "destination": "echo"},
                ],
            },
            "test.toml",
        )
    )

    target = plan.resolve("from-carrier", "7000")

    assert target is not None and target.kind == "echo"
    assert plan.resolve("internal", "7000") is None


def test_a_route_may_prepend_a_lone_plus():
    plan = RoutingPlan(
        parse_config(
            {
                "trunks": [{"name": "carrier", "host": "192.0.2.50", "port": 5080}],
                "routes": [
                    {
                        "context": "internal",
                        "prefix": "00",
                        "strip": 2,
                        "prepend": "+",
                        "destination": "trunk:carrier",
                    }
                ],
            },
            "test.toml",
        )
    )

    assert plan.resolve("internal", "0044207946") == RouteTarget("trunk", "carrier", "+44207946")


def _number_plan(*routes: dict[str, object]) -> tuple[RoutingPlan, Config]:
    """A plan whose internal context has queue 600 and flow 500 wired in, as the call centre
    adds them, and `routes` beside the one extension."""
    config = parse_config(
        {
            "extensions": [{"number": "1001", "password": "demo-1001"}],
            "trunks": [{"name": "gateway", "host": "127.0.0.1", "context": "from-gateway"}],
            "routes": list(routes),
        },
        "test.toml",
    )
    wired = {"600": RouteTarget("queue", "600", "600"), "500": RouteTarget("ivr", "main", "500")}
    return RoutingPlan(config, wired), config


def test_a_gateway_did_reaches_the_ivr_and_a_queue_through_number_routes():
    plan, config = _number_plan(
        {"context": "from-gateway", "number": "0215550100", "destination": "number:500"},
        {"context": "from-gateway", "number": "0215550160", "destination": "number:600"},
        # a DID block: the last four digits are the internal number
        {"context": "from-gateway", "prefix": "021555", "strip": 6, "destination": "number"},
    )
    assert plan.resolve("from-gateway", "0215550100") == RouteTarget("ivr", "main", "500")
    assert plan.resolve("from-gateway", "0215550160") == RouteTarget("queue", "600", "600")
    assert plan.resolve("from-gateway", "0215551001") == RouteTarget("extension", "1001", "1001")
    assert plan.resolve("from-gateway", "0215559999") is None  # the block, but nobody there
    assert plan.dangling(config) == []


def test_number_routes_do_not_chain_and_a_typo_is_named():
    plan, config = _number_plan(
        {"context": "internal", "number": "77", "destination": "number:600"},
        {"context": "from-gateway", "number": "1", "destination": "number:77"},
        {"context": "from-gateway", "number": "2", "destination": "number:6000"},
    )
    assert plan.resolve("internal", "77") == RouteTarget("queue", "600", "600")
    assert plan.resolve("from-gateway", "1") is None  # a second hop: no loops, ever
    assert plan.dangling(config) == [
        (
            "routes[1].destination",
            "number 77 reaches nothing in the internal context (an extension, queue, IVR flow,"
            " conference room or feature code)",
        ),
        (
            "routes[2].destination",
            "number 6000 reaches nothing in the internal context (an extension, queue, IVR"
            " flow, conference room or feature code)",
        ),
    ]


def test_pickup_codes_reach_the_pickup_application() -> None:
    assert PLAN.resolve("internal", "*8") == RouteTarget("pickup", "", "*8")
    assert PLAN.resolve("internal", "**1002") == RouteTarget("pickup", "1002", "**1002")
    assert PLAN.resolve("internal", "**") is None
    assert PLAN.resolve("from-gateway", "*8") is None  # a trunk's caller picks nothing up


def test_check_config_names_a_number_route_that_reaches_nothing(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    good = tmp_path / "good.toml"
    good.write_text(example.read_text())
    result = CliRunner().invoke(main, ["check-config", str(good)])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.toml"
    bad.write_text(example.read_text().replace('"number:500"', '"number:5001"'))
    result = CliRunner().invoke(main, ["check-config", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:routes[4].destination: number 5001 reaches nothing" in result.output
