"""`[api]` and `[[users]]`: the demo users load, mistakes are located, hashes are checked."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from softswitch.cli import main
from softswitch.config import ConfigError, apply_overrides, load_config, parse_config
from softswitch.config_api import Role
from softswitch.security.passwords import PasswordHash

VALID_HASH = "pbkdf2_sha256$1000$c2FsdHNhbHQ$E196ZhRPzw-wA84EjzHwJO1cv_MFJdO6C_sxmUeTYqY"
EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def test_the_demo_users() -> None:
    api = load_config(EXAMPLE).api
    assert (api.host, api.port) == ("127.0.0.1", 8088)
    by_name = {user.username: user for user in api.users}
    assert by_name["admin"].role is Role.ADMIN and by_name["admin"].password == "demo-admin"
    assert by_name["supervisor"].teams == ("sales",)
    for number in ("1001", "1002", "1003", "1004", "1005"):
        agent = by_name[number]
        assert (agent.role, agent.agent, agent.extension) == (Role.AGENT, number, number)
        assert agent.password == f"demo-{number}"
    assert "demo-admin" not in repr(by_name["admin"])


def test_no_api_section_means_off() -> None:
    data = _example()
    del data["api"], data["users"]
    config = parse_config(data, "x.toml")
    assert not config.api.enabled and config.api.users == ()
    assert apply_overrides(config, api_port=9000).api.port == 9000
    with pytest.raises(ConfigError, match="--api-port"):
        apply_overrides(config, api_port=70000)


@pytest.mark.parametrize(
    ("user", "where"),
    [
        (
            {"username": "x", "role": "agent", "password": "p", "extension": "1001"},
            "users[7].agent",
        ),
        (
            {"username": "x", "role": "agent", "password": "p", "agent": "9", "extension": "7"},
            "users[7].extension",
        ),
        ({"username": "x", "role": "admin"}, "users[7]"),
        (
            {"username": "x", "role": "admin", "password": "p", "password_hash": VALID_HASH},
            "users[7]",
        ),
        ({"username": "x", "role": "admin", "password_hash": "md5$x"}, "users[7].password_hash"),
        ({"username": "x", "role": "boss", "password": "p"}, "users[7].role"),
        ({"username": "admin", "role": "admin", "password": "p"}, "users[7].username"),
        (
            # a supervisor's phone (for *33..*35) must be an extension; an agent is refused one
            {"username": "x", "role": "supervisor", "password": "p", "extension": "4242"},
            "users[7].extension",
        ),
        (
            {"username": "x", "role": "supervisor", "password": "p", "agent": "1001"},
            "users[7].agent",
        ),
        (
            {
                "username": "x",
                "role": "agent",
                "password": "p",
                "agent": "1001",
                "extension": "1001",
            },
            "users[7].agent",
        ),
        ({"username": "x", "role": "admin", "password": "p", "color": "red"}, "users[7].color"),
    ],
)
def test_user_mistakes_are_located(user: dict[str, Any], where: str) -> None:
    data = _example()
    data["users"].append(user)
    with pytest.raises(ConfigError) as error:
        parse_config(data, "x.toml")
    assert error.value.key == where, str(error.value)


def test_hash_password_command_output_is_accepted_by_the_config() -> None:
    result = CliRunner().invoke(main, ["hash-password"], input="hunter2\n")
    assert result.exit_code == 0, result.output
    text = result.output.strip()
    assert text.startswith("scrypt$") and PasswordHash.parse(text).matches("hunter2")
    data = _example()
    data["users"].append({"username": "ops", "role": "admin", "password_hash": text})
    ops = parse_config(data, "x.toml").api.users[-1]
    assert ops.password is None and ops.password_hash is not None
    assert ops.password_hash.matches("hunter2")
