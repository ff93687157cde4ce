"""The switch under test as a subprocess: free ports, its config, readiness by OPTIONS, its CDR."""

from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from softswitch.call_record import Disposition, Side

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "config.example.toml"
SOFTSWITCH = Path(sys.executable).with_name("softswitch")
LOCAL = "127.0.0.1"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
RTP_PORTS = 400  # per switch: 200 RTP/RTCP pairs, room for the load tests' concurrency limit

# Values of cdr.hangup_side and cdr.disposition: text enums, equal to what the row holds.
HANGUP_CALLER = Side.CALLER
HANGUP_CALLEE = Side.CALLEE
HANGUP_SWITCH = Side.SWITCH
DISPOSITION_ANSWERED = Disposition.ANSWERED


# ---- ports --------------------------------------------------------------------------------------


# Ports free_port has handed out in this process: the kernel picks port 0 at random, so two
# calls for one switch (its SIP and metrics ports, say) could otherwise get the same number.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both with one number),
    never one this process handed out before."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOCAL, 0))
            port = int(udp.getsockname()[1])
            if port in _HANDED_OUT:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((LOCAL, port))
                except OSError:
                    continue
                _HANDED_OUT.add(port)
                return port
    raise RuntimeError("no port free for both UDP and TCP")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((LOCAL, port))
        except OSError:
            return False
        return True


# Port bands that cannot meet: the switch's RTP, SIPp's media, and the kernel's ephemeral ports
# (32768-60999) that `bind(0)` and pjsua2's SIP transports take; pjsua2's media starts at 4000.
SWITCH_RTP_BAND = (20000, 32000)
SIPP_MEDIA_BAND = (10000, 19000)


def free_rtp_range(
    size: int = RTP_PORTS, band: tuple[int, int] = SWITCH_RTP_BAND
) -> tuple[int, int]:
    """An even-based block of UDP ports inside `band` that are all free now."""
    for _ in range(50):
        low = random.randrange(band[0], band[1] - size, 2)
        if all(_udp_free(p) for p in range(low, low + size)):
            return low, low + size - 1
    raise RuntimeError("no free RTP port range")


def wait_port_bound(port: int, timeout_s: float, what: str) -> None:
    """Wait until some process holds UDP `port` (our own bind fails), so it can receive."""
    deadline = time.monotonic() + timeout_s
    while _udp_free(port):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not bind UDP {port} within {timeout_s} s")
        time.sleep(0.02)


# ---- configuration ------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(f"cannot write {value!r} as TOML")


def dump_toml(data: dict[str, Any]) -> str:
    """Enough TOML for a config: top-level tables of scalars and arrays of such tables."""
    lines: list[str] = []
    for name, table in data.items():
        tables = table if isinstance(table, list) else [table]
        for t in tables:
            lines.append(f"[[{name}]]" if isinstance(table, list) else f"[{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in t.items())
            lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class SwitchPorts:
    sip: int
    rtp: tuple[int, int]
    metrics: int
    carrier: int
    api: int = 0  # the CTI API's port; 0 = off

    @property
    def api_url(self) -> str:
        return f"http://{LOCAL}:{self.api}"


def switch_config(
    ports: SwitchPorts,
    data_dir: Path,
    overrides: dict[str, dict[str, Any]] | None = None,
    extensions: dict[str, dict[str, Any]] | None = None,
    trunks: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The example configuration with this test's ports, data dir and loopback-only security;
    `extensions` updates extensions by number ({"1001": {"nat": "force"}}), `trunks` trunks by
    name ({"carrier": {"transport": "tls"}})."""
    cfg: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text())
    cfg["sip"].update(host=LOCAL, port=ports.sip, advertise_address=LOCAL)
    cfg["rtp"].update(host=LOCAL, port_min=ports.rtp[0], port_max=ports.rtp[1])
    cfg["data"]["dir"] = str(data_dir)
    cfg["metrics"].update(host=LOCAL, port=ports.metrics)
    cfg["api"].update(host=LOCAL, port=ports.api)
    cfg["log"]["level"] = "debug"
    cfg["security"]["allowed_destinations"] = ["127.0.0.0/8", "::1/128"]
    carrier = next(t for t in cfg["trunks"] if t["name"] == "carrier")
    carrier.update(host=LOCAL, port=ports.carrier)
    for section, values in (overrides or {}).items():
        cfg.setdefault(section, {}).update(values)
    for number, values in (extensions or {}).items():
        next(e for e in cfg["extensions"] if e["number"] == number).update(values)
    for name, values in (trunks or {}).items():
        next(t for t in cfg["trunks"] if t["name"] == name).update(values)
    return cfg


# ---- SIP OPTIONS probe ------------------------------------------------------------------------


def options_status(port: int, timeout_s: float = 0.5) -> int | None:
    """Send one OPTIONS over UDP and return the response's status code, None when silent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCAL, 0))
        s.settimeout(timeout_s)
        local_port = s.getsockname()[1]
        branch = "z9hG4bK" + uuid.uuid4().hex
        request = (
            f"OPTIONS sip:{LOCAL}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCAL}:{local_port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{LOCAL}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{LOCAL}:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}@{LOCAL}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        s.sendto(request.encode(), (LOCAL, port))
        try:
            data = s.recv(65535)
        except (TimeoutError, ConnectionRefusedError):
            return None
    match = re.match(rb"SIP/2\.0 (\d{3}) ", data)
    return int(match.group(1)) if match else None


# ---- the switch ---------------------------------------------------------------------------------


@dataclass
class Switch:
    """A running `softswitch run --headless` on loopback, with what tests need to reach it."""

    proc: subprocess.Popen[bytes]
    ports: SwitchPorts
    config_path: Path
    data_dir: Path
    log_path: Path
    stopped_rc: int | None = field(default=None)
    ready_after_s: float = field(default=0.0)  # from exec to the first 200 to OPTIONS

    @property
    def sip_port(self) -> int:
        return self.ports.sip

    @property
    def db_path(self) -> Path:
        return self.data_dir / "softswitch.db"

    def uri(self, user: str, transport: str = "udp") -> str:
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return f"sip:{user}@{LOCAL}:{self.sip_port}{suffix}"

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def assert_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"switch exited with {self.proc.returncode}; log tail:\n{self.log_tail()}"
            )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait; the contract is a clean exit 0 within 5 s."""
        if self.stopped_rc is not None:
            return self.stopped_rc
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.stopped_rc = -9
                raise AssertionError(
                    f"switch still running {timeout_s} s after SIGTERM; log tail:\n"
                    f"{self.log_tail()}"
                ) from None
        self.stopped_rc = self.proc.returncode
        return self.stopped_rc

    def cdr(self, where: str = "1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return query_cdr(self.db_path, where, params)

    def wait_cdr(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout_s: float,
        where: str = "1",
        params: tuple[Any, ...] = (),
    ) -> list[dict[str, Any]]:
        """Poll the CDR table until `predicate(rows)` holds; the rows seen last are in the error."""
        deadline = time.monotonic() + timeout_s
        rows: list[dict[str, Any]] = []
        while True:
            with contextlib.suppress(sqlite3.OperationalError):
                rows = self.cdr(where, params)
                if predicate(rows):
                    return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"CDR condition not met within {timeout_s} s; rows: {rows}")
            time.sleep(0.05)

    def closed_cdrs(
        self,
        count: int = 1,
        timeout_s: float = 5.0,
        where: str = "1",
        params: tuple[Any, ...] = (),
    ) -> list[dict[str, Any]]:
        """Wait until exactly `count` records (matching `where`) exist and the switch has closed
        every one: what a test checks once its calls are over."""

        def all_closed(rows: list[dict[str, Any]]) -> bool:
            return len(rows) == count and all(row["end_ts"] is not None for row in rows)

        return self.wait_cdr(all_closed, timeout_s, where, params)

    def closed_cdr(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """The one record of a one-call test, once closed."""
        return self.closed_cdrs(1, timeout_s)[0]


def query_cdr(
    db_path: Path, where: str = "1", params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """Rows of the `cdr` table through a read-only connection (the switch owns the writes)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2.0)
    try:
        conn.row_factory = sqlite3.Row
        cursor = conn.execute(f"SELECT * FROM cdr WHERE {where} ORDER BY start_ts", params)
        return [dict(row) for row in cursor]
    finally:
        conn.close()


def start_switch(
    tmp_path: Path,
    carrier_port: int,
    overrides: dict[str, dict[str, Any]] | None = None,
    extensions: dict[str, dict[str, Any]] | None = None,
    trunks: dict[str, dict[str, Any]] | None = None,
    *,
    program: Path = SOFTSWITCH,
    env: Mapping[str, str] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Switch:
    """Start `program run --headless` in `tmp_path` (environment `env`, default inherited) and
    return once it answers OPTIONS with 200."""
    ports = SwitchPorts(
        sip=free_port(),
        rtp=free_rtp_range(),
        metrics=free_port(),
        carrier=carrier_port,
        api=free_port(),
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    config_path = tmp_path / "softswitch.toml"
    cfg = switch_config(ports, data_dir, overrides, extensions, trunks)
    if edit is not None:
        edit(cfg)  # what overrides cannot say: lists of tables such as [[queues]]
    config_path.write_text(dump_toml(cfg))
    log_path = tmp_path / "softswitch.log"
    launched = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(program), "run", "--config", str(config_path), "--headless"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    switch = Switch(proc, ports, config_path, data_dir, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    status = None
    while status != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise AssertionError(
                f"switch did not answer OPTIONS with 200 within {START_TIMEOUT_S} s "
                f"(last status {status}, exit {proc.returncode}); log tail:\n{switch.log_tail()}"
            )
        status = options_status(ports.sip, timeout_s=0.1)
    switch.ready_after_s = time.monotonic() - launched
    return switch
