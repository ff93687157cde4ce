import hashlib
import ipaddress
import tomllib
from pathlib import Path
from typing import Any

import pytest

from softswitch.config import (
    ConfigError,
    Destination,
    HoldMode,
    NatMode,
    apply_overrides,
    load_config,
    parse_config,
    parse_port_range,
    summarize,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"

MINIMAL = """
[[extensions]]
number = "1001"
password = "secret"

[[extensions]]
number = "1002"
ha1 = "{ha1}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), "config.toml", base_dir=Path("/srv"))
    return str(info.value)


def example_data() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def test_example_config_loads_with_its_values() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.sip.port == 5060 and cfg.sip.transports == ("udp", "tcp")
    assert cfg.sip.advertised_host == "127.0.0.1"
    assert (cfg.rtp.port_min, cfg.rtp.port_max) == (16000, 19999)
    assert len(cfg.rtp.rtp_ports) == 2000 and cfg.rtp.rtp_ports[-1] == 19998
    assert cfg.calls.ring_timeout_s == 30.0 and cfg.calls.max_forwards == 70
    assert cfg.registrar.min_expires_s == 60 and cfg.registrar.max_contacts_per_user == 5
    assert cfg.data.dir == EXAMPLE.parent / "data"
    assert (cfg.metrics.host, cfg.metrics.port) == ("127.0.0.1", 9091)
    assert cfg.security.allowed_destinations == () and cfg.security.nonce_lifetime_s == 300.0
    assert cfg.features.echo_test == "9196"
    # 1001-1005 are the agents' phones, 1006 the supervisor's
    assert [e.number for e in cfg.extensions] == ["1001", "1002", "1003", "1004", "1005", "1006"]
    assert cfg.extensions[0].name == "Alice" and cfg.extensions[0].context == "internal"
    gateway, carrier = cfg.trunks
    assert (gateway.port, gateway.context, gateway.transport) == (0, "from-gateway", "udp")
    assert (carrier.port, carrier.context, carrier.username) == (5080, "from-carrier", None)
    prefix_route = cfg.routes[0]
    assert (prefix_route.prefix, prefix_route.strip, prefix_route.number) == ("9", 1, None)
    assert prefix_route.destination == Destination("trunk", "carrier")
    assert cfg.routes[1].destination == Destination("extension", "1001")
    assert (cfg.routes[2].context, cfg.routes[2].destination) == (
        "from-gateway",
        Destination("echo"),
    )


def test_empty_file_gets_documented_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    assert cfg.sip.host == "0.0.0.0" and cfg.sip.realm == "softswitch"
    assert cfg.registrar.default_expires_s == 600 and cfg.log.level == "info"
    assert cfg.data.dir == tmp_path / "data"
    assert cfg.extensions == cfg.trunks == cfg.routes == ()


def test_ha1_forms_and_password_hashing() -> None:
    ha1 = hashlib.md5(b"1002:softswitch:pw").hexdigest()
    cfg = parse_config(tomllib.loads(MINIMAL.format(ha1=ha1.upper())), "c.toml")
    alice, bob = cfg.extensions
    expected = hashlib.sha256(b"1001:office:secret").hexdigest()
    assert alice.ha1_for("SHA-256", "office") == expected
    assert alice.ha1_for("md5", "office") == hashlib.md5(b"1001:office:secret").hexdigest()
    assert bob.ha1_for("MD5", "softswitch") == ha1
    assert bob.ha1_for("SHA-256", "softswitch") is None
    assert "secret" not in repr(alice) and ha1 not in repr(bob)
    with pytest.raises(ValueError):
        alice.ha1_for("SHA-512-256", "office")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: cannot read: No such file or directory"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[sip]\nport = 5060\nrealm = "open\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 3: ") and message.endswith("(column 14)")


def test_unknown_keys() -> None:
    assert error_of("[sip]\nbogus = 1") == "config.toml:sip.bogus: unknown key"
    assert error_of("[bogus]") == "config.toml:bogus: unknown key"
    text = '[[extensions]]\nnumber = "1"\npassword = "p"\n[[extensions]]\nnumbr = "2"'
    assert error_of(text) == "config.toml:extensions[1].numbr: unknown key"


def test_wrong_types() -> None:
    assert (
        error_of('[sip]\nport = "abc"')
        == "config.toml:sip.port: expected an integer 1-65535, got 'abc'"
    )
    assert error_of("[sip]\nport = true") == (
        "config.toml:sip.port: expected an integer 1-65535, got True"
    )
    assert error_of("sip = 5") == "config.toml:sip: expected a table, got 5"
    assert error_of('[calls]\nring_timeout_s = "x"') == (
        "config.toml:calls.ring_timeout_s: expected a number of seconds > 0, got 'x'"
    )
    assert error_of('[log]\nlevel = "loud"') == (
        "config.toml:log.level: expected one of debug, info, warning, error, got 'loud'"
    )
    assert error_of('[sip]\ntransports = ["udp", "sctp"]') == (
        "config.toml:sip.transports: expected a non-empty subset of [udp, tcp, tls],"
        " got ['udp', 'sctp']"
    )
    assert error_of('[sip]\ntransports = ["udp", "tls"]') == (
        'config.toml:tls.certificate: missing (required when sip.transports has "tls")'
    )
    assert error_of('[rtp]\nhost = "example.com"') == (
        "config.toml:rtp.host: expected an IP address, got 'example.com'"
    )


def test_duplicate_extension() -> None:
    text = "".join(
        f'[[extensions]]\nnumber = "{n}"\npassword = "p"\n' for n in ("1002", "1001", "1002")
    )
    assert error_of(text) == (
        "config.toml:extensions[2].number: duplicate extension 1002 (also extensions[0])"
    )


def test_extension_credentials() -> None:
    assert error_of('[[extensions]]\nnumber = "1001"') == (
        "config.toml:extensions[0]: needs a password, or ha1 and/or ha1_sha256"
    )
    both = f'[[extensions]]\nnumber = "1001"\npassword = "p"\nha1 = "{"a" * 32}"'
    assert error_of(both) == (
        "config.toml:extensions[0]: give either password or ha1/ha1_sha256, not both"
    )
    short = '[[extensions]]\nnumber = "1001"\nha1_sha256 = "abc"'
    assert error_of(short) == (
        "config.toml:extensions[0].ha1_sha256: expected 64 hex digits, got 'abc'"
    )
    assert error_of('[[extensions]]\npassword = "p"') == (
        "config.toml:extensions[0].number: missing (required)"
    )


def test_extension_nat_mode() -> None:
    text = '[[extensions]]\nnumber = "1001"\npassword = "p"\n'
    assert parse_config(tomllib.loads(text), "c.toml").extensions[0].nat is NatMode.AUTO
    for mode in ("auto", "force", "never"):
        cfg = parse_config(tomllib.loads(text + f'nat = "{mode}"'), "c.toml")
        assert cfg.extensions[0].nat is NatMode(mode)
    assert error_of(text + 'nat = "yes"') == (
        "config.toml:extensions[0].nat: expected one of auto, force, never, got 'yes'"
    )
    assert error_of(text + "nat = true") == (
        "config.toml:extensions[0].nat: expected one of auto, force, never, got True"
    )


def test_hold_mode_of_extensions_and_trunks() -> None:
    text = '[[extensions]]\nnumber = "1001"\npassword = "p"\n'
    assert parse_config(tomllib.loads(text), "c.toml").extensions[0].hold is HoldMode.MOH
    cfg = parse_config(tomllib.loads(text + 'hold = "passthrough"'), "c.toml")
    assert cfg.extensions[0].hold is HoldMode.PASSTHROUGH
    assert error_of(text + 'hold = "music"') == (
        "config.toml:extensions[0].hold: expected one of moh, passthrough, got 'music'"
    )
    data = example_data()
    data["trunks"][0]["hold"] = "passthrough"
    trunks = parse_config(data, "config.toml").trunks
    assert [t.hold for t in trunks] == [HoldMode.PASSTHROUGH, HoldMode.MOH]


def test_port_ranges() -> None:
    assert error_of("[rtp]\nport_min = 17000\nport_max = 16000") == (
        "config.toml:rtp: port range 17000-16000 is empty"
    )
    assert error_of("[rtp]\nport_min = 16001\nport_max = 16002") == (
        "config.toml:rtp: port range 16001-16002 holds no even/odd (RTP/RTCP) port pair"
    )
    cfg = parse_config({"rtp": {"port_min": 16001, "port_max": 16003}}, "c.toml")
    assert list(cfg.rtp.rtp_ports) == [16002]


def test_bad_cidr() -> None:
    text = '[security]\nallowed_destinations = ["127.0.0.0/8", "x"]'
    assert error_of(text) == "config.toml:security.allowed_destinations[1]: not a CIDR: 'x'"
    cfg = parse_config({"security": {"allowed_destinations": ["127.0.0.0/8", "::1/128"]}}, "c.toml")
    assert ipaddress.ip_address("127.1.2.3") in cfg.security.allowed_destinations[0]


def route_error(**route: Any) -> str:
    data = example_data()
    data["routes"].append(route)
    with pytest.raises(ConfigError) as info:
        parse_config(data, "config.toml")
    return str(info.value)


def test_bad_destinations() -> None:
    assert route_error(context="internal", number="500", destination="queue:sales") == (
        "config.toml:routes[5].destination: unknown kind 'queue' in 'queue:sales'"
        " (allowed: conference, echo, dtmf_test, extension, trunk, number)"
    )
    assert route_error(context="internal", number="501", destination="number:5 0") == (
        "config.toml:routes[5].destination: 'number:' takes a dialled number, got 'number:5 0'"
    )
    assert route_error(context="internal", number="500", destination="extension:1999") == (
        "config.toml:routes[5].destination: no extension 1999"
    )
    assert route_error(context="internal", number="500", destination="trunk:nobody") == (
        "config.toml:routes[5].destination: no trunk 'nobody'"
    )
    assert route_error(context="internal", number="500", destination="echo:1") == (
        "config.toml:routes[5].destination: 'echo' takes no target, got 'echo:1'"
    )
    assert route_error(context="internal", number="500", destination="trunk:gateway") == (
        "config.toml:routes[5].destination: trunk 'gateway' has port 0 (inbound only): set its port"
    )


def test_route_rules() -> None:
    assert route_error(context="from-gateway", number="9196", destination="echo") == (
        "config.toml:routes[5].number: duplicate route for number 9196 in context from-gateway"
        " (also routes[2])"
    )
    assert route_error(context="lobby", number="1", destination="echo") == (
        "config.toml:routes[5].context: unknown context 'lobby'"
        " (use 'internal' or a trunk's context)"
    )
    assert route_error(context="internal", number="1", prefix="2", destination="echo") == (
        "config.toml:routes[5]: needs exactly one of number or prefix"
    )
    assert route_error(context="internal", prefix="0x", destination="echo") == (
        "config.toml:routes[5].prefix: expected dial digits (0-9, *, #, optional leading +),"
        " got '0x'"
    )


def test_echo_test_rules() -> None:
    # A route for the echo test's number in the internal context would leave one of them dead.
    assert route_error(context="internal", number="9196", destination="trunk:carrier") == (
        "config.toml:routes[5].number: 9196 is features.echo_test in context internal"
    )
    assert error_of('[features]\necho_test = "+"') == (
        "config.toml:features.echo_test: expected dial digits or empty (off), got '+'"
    )
    assert error_of('[features]\necho_test = "9x"') == (
        "config.toml:features.echo_test: expected dial digits (0-9, *, #, optional leading +),"
        " got '9x'"
    )
    assert error_of('[features]\necho_test = "1001"\n' + MINIMAL.format(ha1="0" * 32)) == (
        "config.toml:features.echo_test: 1001 is also extensions[0]"
    )
    data = example_data()
    data["features"]["echo_test"] = ""
    data["routes"].append({"context": "internal", "number": "9196", "destination": "echo"})
    assert parse_config(data, "config.toml").features.echo_test == ""  # off: the route is free


def test_trunk_rules() -> None:
    data = example_data()
    data["trunks"].append({"name": "carrier", "host": "10.0.0.1"})
    with pytest.raises(ConfigError) as info:
        parse_config(data, "config.toml")
    assert str(info.value) == (
        "config.toml:trunks[2].name: duplicate trunk 'carrier' (also trunks[1])"
    )
    data = example_data()
    data["sip"]["transports"] = ["udp"]
    data["trunks"].append({"name": "t", "host": "10.0.0.1", "transport": "tcp", "username": "u"})
    with pytest.raises(ConfigError) as info:
        parse_config(data, "config.toml")
    assert str(info.value) == (
        "config.toml:trunks[2].transport: 'tcp' is not in sip.transports ['udp']"
    )


def test_overrides(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    changed = apply_overrides(
        cfg,
        sip_host="127.0.0.1",
        sip_port=5070,
        rtp_ports=parse_port_range("20000-20099"),
        data_dir=tmp_path,
        metrics_port=0,
        log_level="debug",
    )
    assert (changed.sip.host, changed.sip.port, changed.sip.realm) == (
        "127.0.0.1",
        5070,
        "softswitch",
    )
    assert (changed.rtp.port_min, changed.rtp.port_max) == (20000, 20099)
    assert changed.data.dir == tmp_path and not changed.metrics.enabled
    assert changed.log.level == "debug" and changed.extensions == cfg.extensions
    with pytest.raises(ConfigError) as info:
        apply_overrides(cfg, rtp_ports=(17000, 16000))
    assert str(info.value) == "--rtp-ports: port range 17000-16000 is empty"
    with pytest.raises(ConfigError) as info:
        parse_port_range("abc")
    assert str(info.value) == "--rtp-ports: expected LOW-HIGH such as 16000-16999, got 'abc'"
    with pytest.raises(ConfigError) as info:
        apply_overrides(cfg, sip_port=70000)
    assert str(info.value) == "--sip-port: expected 1-65535, got 70000"


def test_summary_lists_listeners_and_routes() -> None:
    text = summarize(load_config(EXAMPLE))
    assert "udp+tcp on 0.0.0.0:5060" in text
    assert "ports 16000-19999" in text
    assert "6 extensions, 2 trunks, 5 routes" in text
    assert (
        "guard: 16 requests per 2 s per source, ban after 20 failed logins for 300 s;"
        " TCP/TLS 32 connections per source, 1024 in all; capacity any calls, any calls/s"
    ) in text.splitlines()
    assert "echo test: 9196 (internal; trunks reach it by routes)" in text.splitlines()
    assert "  from-gateway: 9196 -> echo" in text.splitlines()
    assert "  internal: prefix 9 -> trunk:carrier (strip 1)" in text.splitlines()
    assert "  from-gateway: 7000 -> extension:1001" in text.splitlines()
