"""`softswitch check-install`: every library the switch loads at run time, made to do real work.

The frozen `dist/softswitch` carries its own interpreter, extension modules and shared libraries
(libsndfile, libsqlite3, libuv inside uvloop); a missing one would only show when the first call
needs it. Each check here uses its library the way the switch does and reports the version found,
so a user learns on the target machine, in a second, that the build is whole. The checks are keyed
by distribution name: a test holds them equal to the project's declared dependencies, and the
PyInstaller spec bundles each distribution's metadata from this same table.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Final


@dataclass(frozen=True)
class CheckResult:
    """One library: its distribution, the version found, and what it did (or why it failed)."""

    distribution: str
    version: str
    ok: bool
    detail: str


def _uvloop() -> str:
    import uvloop

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    loop = uvloop.new_event_loop()
    try:
        result = loop.run_until_complete(answer())
    finally:
        loop.close()
    if result != 42:
        raise RuntimeError(f"a task on the loop returned {result}")
    return "event loop ran a task"


def _numpy() -> str:
    import numpy as np

    frame = np.arange(-80, 80, dtype=np.int16)  # one 20 ms frame at 8 kHz: int16[160]
    energy = int(np.square(frame.astype(np.int64)).sum())
    if energy != 341_360:
        raise RuntimeError(f"sum of squares of a test frame is {energy}")
    return "summed a 160-sample frame"


def _soundfile() -> str:
    import numpy as np
    import soundfile

    tone = (np.sin(np.arange(800) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, tone, 8000, format="WAV", subtype="PCM_16")
    buffer.seek(0)
    back, rate = soundfile.read(buffer, dtype="int16")
    if rate != 8000 or not np.array_equal(back, tone):
        raise RuntimeError("a WAV read back differs from what was written")
    return f"libsndfile {soundfile.__libsndfile_version__}: wrote and read a WAV"


def _webrtcvad() -> str:
    import webrtcvad

    vad = webrtcvad.Vad(2)
    if vad.is_speech(bytes(320), 8000):  # 20 ms of digital silence at 8 kHz
        raise RuntimeError("silence was classified as speech")
    return "classified a silent frame"


def _g722() -> str:
    import G722
    import numpy as np

    tone = (np.sin(np.arange(320) * 2 * np.pi * 1000 / 16000) * 8000).astype(np.int16)
    codec = G722.G722(16000, 64000, use_numpy=False)
    payload = codec.encode(tone)
    back = np.frombuffer(codec.decode(payload), dtype=np.int16)
    if len(payload) != 160 or back.size != 320:
        raise RuntimeError(f"20 ms gave {len(payload)} bytes and {back.size} samples back")
    return "coded 20 ms of wideband audio"


def _soxr() -> str:
    import numpy as np
    import soxr

    tone = np.sin(np.arange(22050) * 2 * np.pi * 440 / 22050)
    out = soxr.resample(tone, 22050, 8000, quality="VHQ")
    if out.size != 8000:
        raise RuntimeError(f"one second at 22050 Hz became {out.size} samples at 8000 Hz")
    return "resampled a second of audio"


def _aiosqlite() -> str:
    import aiosqlite

    async def query() -> str:
        async with aiosqlite.connect(":memory:") as conn:
            rows = list(await conn.execute_fetchall("SELECT sqlite_version()"))
        return str(rows[0][0])

    version = asyncio.run(query())
    if version != sqlite3.sqlite_version:
        raise RuntimeError(f"SQLite {version} through aiosqlite, {sqlite3.sqlite_version} direct")
    return f"SQLite {version}: queried a database"


def _click() -> str:
    import click

    @click.command()
    @click.option("--port", type=int)
    def probe(port: int) -> int:
        return port

    result = probe.main(["--port", "5060"], standalone_mode=False)
    if result != 5060:
        raise RuntimeError(f"--port 5060 was parsed as {result!r}")
    return "parsed a command line"


def _rich() -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="check")
    table.add_column("Extension")
    table.add_row("1001 Zoë 東京")  # wide characters: rich loads its Unicode tables for widths
    out = io.StringIO()
    Console(file=out, width=60, color_system=None).print(table)
    if "1001 Zoë 東京" not in out.getvalue():
        raise RuntimeError("a rendered table lost its cell")
    return "rendered a table"


def _textual() -> str:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class Probe(App[str]):
        def compose(self) -> ComposeResult:
            yield DataTable()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("Extension", "State")
            table.add_row("1001 Zoë", "answered")

    async def drive() -> str:
        app = Probe()
        async with app.run_test(size=(40, 6)) as pilot:
            await pilot.pause()
            table = app.query_one(DataTable)
            return str(table.get_row_at(0)[0])

    cell = asyncio.run(drive())
    if cell != "1001 Zoë":
        raise RuntimeError(f"a table row read back as {cell!r}")
    return "drove a table headless"


def _prometheus_client() -> str:
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client.exposition import generate_latest

    registry = CollectorRegistry()
    Counter("check_total", "a check", registry=registry).inc()
    if b"check_total 1.0" not in generate_latest(registry):
        raise RuntimeError("a counter is missing from the exposition")
    return "exposed a counter"


def _aiohttp() -> str:
    from aiohttp import ClientSession, WSMsgType, web
    from aiohttp.test_utils import TestServer

    async def handshake() -> str:
        async def socket(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_str("ready")
            await ws.close()
            return ws

        app = web.Application()
        app.router.add_get("/ws", socket)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        try:
            async with ClientSession() as session, session.ws_connect(server.make_url("/ws")) as ws:
                message = await ws.receive()
        finally:
            await server.close()
        if message.type is not WSMsgType.TEXT:
            raise RuntimeError(f"the WebSocket gave {message.type.name}, not text")
        return str(message.data)

    received = asyncio.run(handshake())
    if received != "ready":
        raise RuntimeError(f"a WebSocket on loopback said {received!r}")
    return "served and read a WebSocket on loopback"


def _cryptography() -> str:
    import ssl
    import tempfile
    from pathlib import Path

    from softswitch.certificates import self_signed

    with tempfile.TemporaryDirectory() as folder:
        cert, key = self_signed(Path(folder))
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(str(cert), str(key))
    return "made a self-signed certificate that ssl loads"


def _pylibsrtp() -> str:
    import secrets

    from softswitch.media.srtp import SrtpContext
    from softswitch.sip.sdes import AES_CM_128_HMAC_SHA1_80

    key = secrets.token_bytes(30)
    context = SrtpContext(AES_CM_128_HMAC_SHA1_80, key, key)
    packet = bytes([0x80, 0, 0, 1]) + bytes(8) + bytes(160)  # RTP v2, PCMU, seq 1
    protected = context.protect(packet)
    if len(protected) != len(packet) + 10 or context.unprotect(protected) != packet:
        raise RuntimeError("an SRTP packet did not round-trip")
    return "protected and unprotected an SRTP packet"


def _migrations() -> str:
    from softswitch.store.database import migrations

    return f"{len(migrations())} schema migrations found"


# Distribution name (as in pyproject.toml's dependencies) -> a check that uses it.
CHECKS: Final[Mapping[str, Callable[[], str]]] = {
    "uvloop": _uvloop,
    "numpy": _numpy,
    "soundfile": _soundfile,
    "webrtcvad-wheels": _webrtcvad,
    "aiosqlite": _aiosqlite,
    "click": _click,
    "rich": _rich,
    "textual": _textual,
    "prometheus-client": _prometheus_client,
    "aiohttp": _aiohttp,
    "G722": _g722,
    "soxr": _soxr,
    "cryptography": _cryptography,
    "pylibsrtp": _pylibsrtp,
}
# The package's own data files, found the way the running switch finds them.
OWN_DATA: Final = "softswitch"


def run_checks() -> list[CheckResult]:
    """Run every check; a failing library is reported, never raised, so all are seen at once."""
    results: list[CheckResult] = []
    for distribution, check in [*CHECKS.items(), (OWN_DATA, _migrations)]:
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            version = "unknown"
        try:
            results.append(CheckResult(distribution, version, True, check()))
        except Exception as exc:
            # One line per library: numpy's ImportError is a page of advice ending in the cause.
            lines = [line for line in str(exc).splitlines() if line.strip()]
            failure = f"{type(exc).__name__}: {lines[-1].strip() if lines else ''}"
            results.append(CheckResult(distribution, version, False, failure))
    return results
