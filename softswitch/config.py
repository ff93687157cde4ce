"""Typed configuration: one TOML file loaded once into frozen dataclasses.

Every mistake is reported as ``<file>:<key.path>: <problem>`` so the operator can go straight to
the line; the CLI prints the `ConfigError` and exits with status 2 before anything starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from softswitch.config_api import ApiConfig, parse_api
from softswitch.config_conference import ConferenceConfig, conference_summary, parse_conference
from softswitch.config_features import (
    IN_CALL_KEYS,
    PICKUP_KEYS,
    InCallFeatures,
    PickupCodes,
    parse_in_call,
    parse_pickup,
)
from softswitch.config_party import DtmfMode as DtmfMode
from softswitch.config_party import HoldMode as HoldMode
from softswitch.config_party import NatMode as NatMode
from softswitch.config_party import NoAnswerMode as NoAnswerMode
from softswitch.config_party import SrtpMode as SrtpMode
from softswitch.config_recording import RECORD_KEY, RecordingConfig, parse_recording
from softswitch.config_routes import DESTINATION_KINDS as DESTINATION_KINDS
from softswitch.config_routes import INTERNAL_CONTEXT as INTERNAL_CONTEXT
from softswitch.config_routes import Destination as Destination
from softswitch.config_routes import Route as Route
from softswitch.config_routes import parse_routes, unknown_context
from softswitch.config_supervision import SUPERVISOR_KEYS, SupervisorCodes, parse_supervisor_codes
from softswitch.config_table import MISSING as _MISSING
from softswitch.config_table import ConfigError as ConfigError  # re-exported
from softswitch.config_table import Table as _Table
from softswitch.security.settings import (
    CAPACITY_KEYS,
    SECURITY_KEYS,
    TCP_KEYS,
    TLS_KEYS,
    CapacityConfig,
    SecurityConfig,
    TcpConfig,
    TlsConfig,
    parse_capacity,
    parse_security,
    parse_tcp,
    parse_tls,
)
from softswitch.security.settings import (
    summary as guard_summary,
)

TRANSPORTS: Final = ("udp", "tcp", "tls")
DEFAULT_TRANSPORTS: Final = ("udp", "tcp")  # TLS needs a certificate: listed only when asked
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
_HOSTNAME_RE: Final = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_TRUNK_NAME_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_HEX_RE: Final = re.compile(r"[0-9a-fA-F]+")
_HASHES: Final = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True)
class SipConfig:
    host: str = "0.0.0.0"
    port: int = 5060
    transports: tuple[str, ...] = DEFAULT_TRANSPORTS
    realm: str = "softswitch"
    advertise_address: str = ""
    user_agent: str = "softswitch"

    @property
    def advertised_host(self) -> str:
        """The address for Via, Contact and SDP: a wildcard bind cannot be reached at itself."""
        if self.advertise_address:
            return self.advertise_address
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)


@dataclass(frozen=True)
class RtpConfig:
    host: str = "0.0.0.0"
    port_min: int = 16000
    port_max: int = 16999

    @property
    def rtp_ports(self) -> range:
        """Even RTP ports whose odd RTCP neighbour is also in the range (RFC 3550 §11)."""
        return range(self.port_min + self.port_min % 2, self.port_max, 2)


@dataclass(frozen=True)
class CallsConfig:
    ring_timeout_s: float = 30.0
    max_forwards: int = 70
    media_timeout_s: float = 120.0  # a party silent (no RTP, RTCP) this long is gone


@dataclass(frozen=True)
class RegistrarConfig:
    min_expires_s: int = 60
    max_expires_s: int = 3600
    default_expires_s: int = 600
    max_contacts_per_user: int = 5


@dataclass(frozen=True)
class DataConfig:
    dir: Path


@dataclass(frozen=True)
class MetricsConfig:
    host: str = "127.0.0.1"
    port: int = 9091

    @property
    def enabled(self) -> bool:
        return self.port != 0


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"


@dataclass(frozen=True)
class FeaturesConfig:
    """Numbers that phones (the internal context) reach without a route; "" turns one off."""

    echo_test: str = "9196"
    dtmf_test: str = "9197"
    in_call: InCallFeatures = field(default_factory=InCallFeatures)  # DTMF codes in a call
    supervisor: SupervisorCodes = field(default_factory=SupervisorCodes)  # *33/*34/*35
    pickup: PickupCodes = field(default_factory=PickupCodes)  # *8, ** + extension


@dataclass(frozen=True)
class Extension:
    """A phone that registers as `number`; credentials are kept out of repr (logs)."""

    number: str
    name: str = ""
    password: str | None = field(default=None, repr=False)
    ha1: str | None = field(default=None, repr=False)
    ha1_sha256: str | None = field(default=None, repr=False)
    context: str = INTERNAL_CONTEXT
    nat: NatMode = NatMode.AUTO
    dtmf: DtmfMode = DtmfMode.AUTO
    hold: HoldMode = HoldMode.MOH
    no_answer: NoAnswerMode = NoAnswerMode.HANGUP
    srtp: SrtpMode = SrtpMode.OFF
    pickup_group: str = ""  # *8 from a phone of the group answers a call ringing in it
    caller_id: str = ""  # the number trunks see on its outbound calls; "" = its number

    def ha1_for(self, algorithm: str, realm: str) -> str | None:
        """HA1 = H(user:realm:password) for `algorithm` (RFC 7616 §3.4.2), None if not configured.

        A configured ha1/ha1_sha256 was computed by the operator for the configured realm.
        """
        algorithm = algorithm.upper()
        if algorithm not in _HASHES:
            raise ValueError(f"unsupported digest algorithm {algorithm!r}")
        if self.password is not None:
            text = f"{self.number}:{realm}:{self.password}"
            return _HASHES[algorithm](text.encode()).hexdigest()
        return self.ha1 if algorithm == "MD5" else self.ha1_sha256


@dataclass(frozen=True, kw_only=True)
class Trunk:
    """A gateway or carrier: requests from host (and port, unless 0) belong to it."""

    name: str
    host: str
    port: int = 0
    transport: str = "udp"
    context: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    inbound_username: str | None = None
    inbound_password: str | None = field(default=None, repr=False)
    tls_verify: bool = True  # check the trunk's certificate and host name (off: a lab's own CA)
    dtmf: DtmfMode = DtmfMode.AUTO
    hold: HoldMode = HoldMode.MOH
    srtp: SrtpMode = SrtpMode.OFF


@dataclass(frozen=True)
class Section:
    """A table a layer above parses itself (config.py imports nothing of ours but its own
    helpers), with where it came from so that its errors are located like the rest."""

    data: dict[str, Any] = field(compare=False)
    source: str
    base_dir: Path


@dataclass(frozen=True, kw_only=True)
class Config:
    sip: SipConfig = SipConfig()
    rtp: RtpConfig = RtpConfig()
    calls: CallsConfig = CallsConfig()
    registrar: RegistrarConfig = RegistrarConfig()
    data: DataConfig
    metrics: MetricsConfig = MetricsConfig()
    log: LogConfig = LogConfig()
    security: SecurityConfig = field(default_factory=SecurityConfig)
    tcp: TcpConfig = field(default_factory=TcpConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    features: FeaturesConfig = FeaturesConfig()
    extensions: tuple[Extension, ...] = ()
    trunks: tuple[Trunk, ...] = ()
    routes: tuple[Route, ...] = ()
    api: ApiConfig = field(default_factory=ApiConfig)
    conference: ConferenceConfig = field(default_factory=ConferenceConfig)
    ivr: Section | None = None  # [ivr], parsed by softswitch/ivr/settings.py; None: no IVR
    recording: RecordingConfig = field(default_factory=RecordingConfig)  # config_recording.py
    source: str = ""  # the file it was read from, for errors found later (routes at start)


def _is_ip(value: object) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _is_host(value: object) -> bool:
    return isinstance(value, str) and (_is_ip(value) or bool(_HOSTNAME_RE.fullmatch(value)))


def _bind_host(table: _Table, name: str, default: str) -> str:
    value: str = table.get(
        name, default, lambda v: isinstance(v, str) and _is_ip(v), "an IP address"
    )
    return value


def load_config(path: Path) -> Config:
    """Read and validate the TOML file at `path`."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "", f"cannot read: not UTF-8 ({exc.reason})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", _toml_problem(str(exc), text)) from exc
    return parse_config(data, source, base_dir=path.parent)


def _toml_problem(message: str, text: str) -> str:
    match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message)
    if match:
        return f"line {match[2]}: {match[1]} (column {match[3]})"
    match = re.fullmatch(r"(.*) \(at end of document\)", message)
    if match:
        return f"line {text.count(chr(10)) + 1}: {match[1]} (at end of file)"
    return message


def parse_config(data: dict[str, Any], source: str, *, base_dir: Path | None = None) -> Config:
    """Validate already-decoded TOML; relative paths resolve against `base_dir` (default: the
    folder of `source`)."""
    root = _Table(
        data,
        "",
        source,
        (
            "sip",
            "rtp",
            "calls",
            "registrar",
            "data",
            "metrics",
            "log",
            "security",
            "tcp",
            "tls",
            "capacity",
            "features",
            "extensions",
            "trunks",
            "routes",
            # The call centre's sections: softswitch/acd/settings.py validates them (cli.py
            # loads both), since this leaf imports nothing of ours.
            "acd",
            "queues",
            "agents",
            "api",
            "users",
            "conference",
            "ivr",
            "recording",
            "voicemail",
        ),
    )
    sip = _parse_sip(root)
    extensions = _parse_extensions(root)
    trunks = _parse_trunks(root, sip)
    contexts = {INTERNAL_CONTEXT} | {trunk.context for trunk in trunks}
    for index, extension in enumerate(extensions):
        if extension.context not in contexts:
            raise ConfigError(
                source, f"extensions[{index}].context", unknown_context(extension.context)
            )
    features = _parse_features(root, extensions)
    base = base_dir if base_dir is not None else Path(source).parent
    security = parse_security(root.table("security", SECURITY_KEYS), base)
    tls = parse_tls(root.table("tls", TLS_KEYS), base, listening="tls" in sip.transports)
    routes = parse_routes(
        root,
        {extension.number for extension in extensions},
        {trunk.name: trunk.port for trunk in trunks},
        contexts,
        {features.echo_test: "echo_test", features.dtmf_test: "dtmf_test"},
    )
    conference = parse_conference(root, [ext.number for ext in extensions], features, routes)
    return Config(
        source=source,
        sip=sip,
        rtp=_parse_rtp(root),
        calls=_parse_calls(root),
        registrar=_parse_registrar(root),
        data=_parse_data(root, base),
        metrics=_parse_metrics(root),
        log=LogConfig(root.table("log", ("level",)).choice("level", "info", LOG_LEVELS)),
        security=security,
        tcp=parse_tcp(root.table("tcp", TCP_KEYS)),
        tls=tls,
        capacity=parse_capacity(root.table("capacity", CAPACITY_KEYS)),
        features=features,
        extensions=extensions,
        trunks=trunks,
        routes=routes,
        api=parse_api(root, {extension.number for extension in extensions}),
        conference=conference,
        ivr=_parse_ivr(root, base_dir or Path(source).parent),
        recording=parse_recording(root),
    )


def _parse_ivr(root: _Table, base_dir: Path) -> Section | None:
    if "ivr" not in root.data:
        return None
    value = root.get("ivr", {}, lambda v: isinstance(v, dict), "a table")
    return Section(value, root.source, base_dir)


def _parse_sip(root: _Table) -> SipConfig:
    t = root.table(
        "sip", ("host", "port", "transports", "realm", "advertise_address", "user_agent")
    )
    transports = t.strings("transports") if "transports" in t.data else list(DEFAULT_TRANSPORTS)
    if not transports or any(x not in TRANSPORTS for x in transports):
        raise t.error(
            "transports", f"expected a non-empty subset of [udp, tcp, tls], got {transports}"
        )
    if len(set(transports)) != len(transports):
        raise t.error("transports", f"duplicate transport in {transports}")
    advertise: str = t.get(
        "advertise_address",
        "",
        lambda v: v == "" or _is_host(v),
        "an IP address, a host name or empty",
    )
    return SipConfig(
        host=_bind_host(t, "host", "0.0.0.0"),
        port=t.integer("port", 5060, 1, 65535),
        transports=tuple(transports),
        realm=t.string("realm", "softswitch", empty=False),
        advertise_address=advertise,
        user_agent=t.string("user_agent", "softswitch"),
    )


def _parse_rtp(root: _Table) -> RtpConfig:
    t = root.table("rtp", ("host", "port_min", "port_max"))
    rtp = RtpConfig(
        host=_bind_host(t, "host", "0.0.0.0"),
        port_min=t.integer("port_min", 16000, 1, 65535),
        port_max=t.integer("port_max", 16999, 1, 65535),
    )
    problem = _port_range_problem(rtp.port_min, rtp.port_max)
    if problem:
        raise t.error(None, problem)
    return rtp


def _port_range_problem(port_min: int, port_max: int) -> str | None:
    if port_min > port_max:
        return f"port range {port_min}-{port_max} is empty"
    if not RtpConfig(port_min=port_min, port_max=port_max).rtp_ports:
        return f"port range {port_min}-{port_max} holds no even/odd (RTP/RTCP) port pair"
    return None


def _parse_calls(root: _Table) -> CallsConfig:
    t = root.table("calls", ("ring_timeout_s", "max_forwards", "media_timeout_s"))
    return CallsConfig(
        ring_timeout_s=t.seconds("ring_timeout_s", 30.0),
        max_forwards=t.integer("max_forwards", 70, 1, 255),
        media_timeout_s=t.seconds("media_timeout_s", 120.0, zero_means_never=True),
    )


def _parse_registrar(root: _Table) -> RegistrarConfig:
    t = root.table(
        "registrar",
        ("min_expires_s", "max_expires_s", "default_expires_s", "max_contacts_per_user"),
    )
    registrar = RegistrarConfig(
        min_expires_s=t.integer("min_expires_s", 60, 1),
        max_expires_s=t.integer("max_expires_s", 3600, 1),
        default_expires_s=t.integer("default_expires_s", 600, 1),
        max_contacts_per_user=t.integer("max_contacts_per_user", 5, 1),
    )
    low, high = registrar.min_expires_s, registrar.max_expires_s
    if low > high:
        raise t.error("min_expires_s", f"{low} is above max_expires_s {high}")
    if not low <= registrar.default_expires_s <= high:
        raise t.error(
            "default_expires_s",
            f"{registrar.default_expires_s} is outside min_expires_s-max_expires_s {low}-{high}",
        )
    return registrar


def _parse_data(root: _Table, base_dir: Path) -> DataConfig:
    t = root.table("data", ("dir",))
    return DataConfig(dir=_absolute(base_dir / t.string("dir", "data", empty=False)))


def _absolute(path: Path) -> Path:
    # abspath, not resolve(): keep symlinks the operator chose, and touch no file system.
    return Path(os.path.abspath(path))


def _parse_metrics(root: _Table) -> MetricsConfig:
    t = root.table("metrics", ("host", "port"))
    return MetricsConfig(
        host=_bind_host(t, "host", "127.0.0.1"), port=t.integer("port", 9091, 0, 65535)
    )


def _parse_features(root: _Table, extensions: tuple[Extension, ...]) -> FeaturesConfig:
    t = root.table(
        "features", ("echo_test", "dtmf_test", *IN_CALL_KEYS, *SUPERVISOR_KEYS, *PICKUP_KEYS)
    )
    numbers: dict[str, str] = {}
    for key, default in (("echo_test", "9196"), ("dtmf_test", "9197")):
        number: str = t.dial(key, default, empty=True)
        if number == "+":
            raise t.error(key, "expected dial digits or empty (off), got '+'")
        for index, extension in enumerate(extensions):
            if extension.number == number:
                raise t.error(key, f"{number} is also extensions[{index}]")
        if number and number in numbers.values():
            raise t.error(key, f"{number} is also features.echo_test")
        numbers[key] = number
    return FeaturesConfig(
        numbers["echo_test"],
        numbers["dtmf_test"],
        parse_in_call(t),
        parse_supervisor_codes(t),
        parse_pickup(t),
    )


def _hex(t: _Table, name: str, digits: int) -> str | None:
    value: str | None = t.get(
        name,
        None,
        lambda v: isinstance(v, str) and len(v) == digits and bool(_HEX_RE.fullmatch(v)),
        f"{digits} hex digits",
    )
    return value.lower() if value is not None else None


def _parse_extensions(root: _Table) -> tuple[Extension, ...]:
    keys: tuple[str, ...] = ("number", "name", "password", "ha1", "ha1_sha256", "context")
    keys += ("nat", "dtmf", "hold", "srtp", RECORD_KEY)
    keys += ("no_answer",)
    keys += ("pickup_group", "caller_id")
    extensions: list[Extension] = []
    seen: dict[str, int] = {}
    for index, t in enumerate(root.tables("extensions", keys)):
        number: str = t.dial("number")
        if number in seen:
            raise t.error(
                "number", f"duplicate extension {number} (also extensions[{seen[number]}])"
            )
        seen[number] = index
        password: str | None = t.string("password", None, empty=False)
        ha1 = _hex(t, "ha1", 32)
        ha1_sha256 = _hex(t, "ha1_sha256", 64)
        if password is None and ha1 is None and ha1_sha256 is None:
            raise t.error(None, "needs a password, or ha1 and/or ha1_sha256")
        if password is not None and (ha1 is not None or ha1_sha256 is not None):
            raise t.error(None, "give either password or ha1/ha1_sha256, not both")
        extensions.append(
            Extension(
                number=number,
                name=t.string("name", ""),
                password=password,
                ha1=ha1,
                ha1_sha256=ha1_sha256,
                context=t.string("context", INTERNAL_CONTEXT, empty=False),
                nat=NatMode(t.choice("nat", "auto", tuple(NatMode))),
                dtmf=DtmfMode(t.choice("dtmf", "auto", tuple(DtmfMode))),
                hold=HoldMode(t.choice("hold", "moh", tuple(HoldMode))),
                no_answer=NoAnswerMode(t.choice("no_answer", "hangup", tuple(NoAnswerMode))),
                srtp=SrtpMode(t.choice("srtp", "off", tuple(SrtpMode))),
                pickup_group=t.string("pickup_group", ""),
                caller_id=t.string("caller_id", ""),
            )
        )
    return tuple(extensions)


def _parse_trunks(root: _Table, sip: SipConfig) -> tuple[Trunk, ...]:
    keys = (
        "name",
        "host",
        "port",
        "transport",
        "context",
        "username",
        "password",
        "inbound_username",
        "inbound_password",
        "tls_verify",
        "dtmf",
        "hold",
        "srtp",
        RECORD_KEY,
    )
    trunks: list[Trunk] = []
    names: dict[str, int] = {}
    addresses: dict[tuple[str, int], int] = {}
    for index, t in enumerate(root.tables("trunks", keys)):
        name: str = t.get(
            "name",
            _MISSING,
            lambda v: isinstance(v, str) and bool(_TRUNK_NAME_RE.fullmatch(v)),
            "a name of letters, digits, _ and -",
        )
        if name in names:
            raise t.error("name", f"duplicate trunk {name!r} (also trunks[{names[name]}])")
        names[name] = index
        host: str = t.get("host", _MISSING, _is_host, "an IP address or host name")
        port = t.integer("port", 0, 0, 65535)
        if (host, port) in addresses:
            other = addresses[(host, port)]
            raise t.error("port", f"same host and port as trunks[{other}]: {host}:{port}")
        addresses[(host, port)] = index
        transport = t.choice("transport", "udp", TRANSPORTS)
        if transport not in sip.transports:
            raise t.error(
                "transport", f"{transport!r} is not in sip.transports {list(sip.transports)}"
            )
        username, password = _credentials(t, "username", "password")
        inbound_username, inbound_password = _credentials(t, "inbound_username", "inbound_password")
        srtp = SrtpMode(t.choice("srtp", "off", tuple(SrtpMode)))
        if srtp is not SrtpMode.OFF and transport != "tls":
            raise t.error("srtp", 'SDES keys travel in the SDP: SRTP needs transport = "tls"')
        trunks.append(
            Trunk(
                name=name,
                host=host,
                port=port,
                transport=transport,
                context=t.string("context", f"from-{name}", empty=False),
                username=username,
                password=password,
                inbound_username=inbound_username,
                inbound_password=inbound_password,
                tls_verify=t.get(
                    "tls_verify", True, lambda v: isinstance(v, bool), "true or false"
                ),
                dtmf=DtmfMode(t.choice("dtmf", "auto", tuple(DtmfMode))),
                hold=HoldMode(t.choice("hold", "moh", tuple(HoldMode))),
                srtp=srtp,
            )
        )
    return tuple(trunks)


def _credentials(t: _Table, user_key: str, password_key: str) -> tuple[str | None, str | None]:
    username: str | None = t.string(user_key, None, empty=False)
    password: str | None = t.string(password_key, None, empty=False)
    if (username is None) != (password is None):
        missing = password_key if password is None else user_key
        raise t.error(missing, f"missing (required with {user_key} / {password_key})")
    return username, password


def parse_port_range(text: str) -> tuple[int, int]:
    """Parse a CLI port range such as ``16000-16999``."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", text)
    if not match:
        raise ConfigError("", "--rtp-ports", f"expected LOW-HIGH such as 16000-16999, got {text!r}")
    low, high = int(match[1]), int(match[2])
    for port in (low, high):
        if not 1 <= port <= 65535:
            raise ConfigError("", "--rtp-ports", f"port {port} is outside 1-65535")
    problem = _port_range_problem(low, high)
    if problem:
        raise ConfigError("", "--rtp-ports", problem)
    return low, high


def apply_overrides(
    cfg: Config,
    *,
    sip_host: str | None = None,
    sip_port: int | None = None,
    rtp_ports: tuple[int, int] | None = None,
    data_dir: Path | None = None,
    metrics_port: int | None = None,
    log_level: str | None = None,
    api_port: int | None = None,
) -> Config:
    """Apply command-line overrides, validated like the file; errors name the option."""

    def check(ok: bool, option: str, problem: str) -> None:
        if not ok:
            raise ConfigError("", option, problem)

    sip, rtp, data, metrics, log = cfg.sip, cfg.rtp, cfg.data, cfg.metrics, cfg.log
    if sip_host is not None:
        check(_is_ip(sip_host), "--sip-host", f"expected an IP address, got {sip_host!r}")
        sip = dataclasses.replace(sip, host=sip_host)
    if sip_port is not None:
        check(1 <= sip_port <= 65535, "--sip-port", f"expected 1-65535, got {sip_port}")
        sip = dataclasses.replace(sip, port=sip_port)
    if rtp_ports is not None:
        low, high = rtp_ports
        check(
            1 <= low <= 65535 and 1 <= high <= 65535,
            "--rtp-ports",
            f"ports must be 1-65535, got {low}-{high}",
        )
        problem = _port_range_problem(low, high)
        check(problem is None, "--rtp-ports", problem or "")
        rtp = dataclasses.replace(rtp, port_min=low, port_max=high)
    if data_dir is not None:
        data = DataConfig(dir=_absolute(data_dir))
    if metrics_port is not None:
        check(0 <= metrics_port <= 65535, "--metrics-port", f"expected 0-65535, got {metrics_port}")
        metrics = dataclasses.replace(metrics, port=metrics_port)
    if log_level is not None:
        check(
            log_level in LOG_LEVELS,
            "--log-level",
            f"expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}",
        )
        log = LogConfig(level=log_level)
    api = cfg.api
    if api_port is not None:
        check(0 <= api_port <= 65535, "--api-port", f"expected 0-65535, got {api_port}")
        api = dataclasses.replace(api, port=api_port)
    return dataclasses.replace(cfg, sip=sip, rtp=rtp, data=data, metrics=metrics, log=log, api=api)


def summarize(cfg: Config) -> str:
    """A few lines for `softswitch check-config`: what the switch would listen on and route."""
    sip, rtp = cfg.sip, cfg.rtp
    metrics = (
        f"http://{_hostport(cfg.metrics.host, cfg.metrics.port)}/metrics"
        if cfg.metrics.enabled
        else "off"
    )
    allowed = ", ".join(str(n) for n in cfg.security.allowed_destinations) or "anywhere"
    lines = [
        f"SIP: {'+'.join(sip.transports)} on {_hostport(sip.host, sip.port)}"
        f" (advertised as {sip.advertised_host}), realm {sip.realm!r}",
        f"RTP: {rtp.host} ports {rtp.port_min}-{rtp.port_max} ({len(rtp.rtp_ports)} port pairs)",
        f"metrics: {metrics}",
        f"API: {_api_summary(cfg.api)}",
        cfg.recording.summary(),
        f"data: {cfg.data.dir}",
        f"log level: {cfg.log.level}",
        f"sends to: {allowed}",
        guard_summary(cfg.security, cfg.tcp, cfg.capacity),
        f"echo test: {cfg.features.echo_test or 'off'} (internal; trunks reach it by routes)",
        conference_summary(cfg.conference),
        f"{len(cfg.extensions)} extensions, {len(cfg.trunks)} trunks, {len(cfg.routes)} routes",
    ]
    for route in cfg.routes:
        match = route.number if route.number is not None else f"prefix {route.prefix}"
        edits = [f"strip {route.strip}"] if route.strip else []
        edits += [f"prepend {route.prepend}"] if route.prepend else []
        suffix = f" ({', '.join(edits)})" if edits else ""
        lines.append(f"  {route.context}: {match} -> {route.destination}{suffix}")
    return "\n".join(lines)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _api_summary(api: ApiConfig) -> str:
    if not api.enabled:
        return "off"
    roles = ", ".join(
        f"{sum(1 for user in api.users if user.role == role)} {role}"
        for role in ("admin", "supervisor", "agent")
    )
    return f"http://{_hostport(api.host, api.port)}/api/v1 (users: {roles})"
