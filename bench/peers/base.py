"""What every system under test offers the scenarios: start on free loopback ports, report the
processes whose CPU and memory it costs, stop with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from bench.programs import Program

READY_DEADLINE_S = 20.0
STOP_DEADLINE_S = 10.0


class PeerError(RuntimeError):
    """A peer could not be started (its log file says why)."""


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port the kernel had free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(size: int) -> tuple[int, int]:
    """An even-aligned block of `size` UDP ports that are all free now (for RTP relays)."""
    for start in range(20000, 60000 - size, 2000):
        socks: list[socket.socket] = []
        try:
            for port in range(start, start + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return start, start + size - 1
    raise PeerError(f"no block of {size} free UDP ports on 127.0.0.1")


def sip_options_ping(port: int, deadline_s: float = READY_DEADLINE_S) -> int:
    """Send OPTIONS to 127.0.0.1:port until any SIP response comes back; returns its status."""
    stop = time.monotonic() + deadline_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
        s.settimeout(0.2)
        while time.monotonic() < stop:
            tag = uuid.uuid4().hex[:12]
            request = (
                f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{tag};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:bench@127.0.0.1:{local}>;tag={tag}\r\n"
                f"To: <sip:ping@127.0.0.1:{port}>\r\n"
                f"Call-ID: {tag}@bench\r\nCSeq: 1 OPTIONS\r\n"
                f"Contact: <sip:bench@127.0.0.1:{local}>\r\nContent-Length: 0\r\n\r\n"
            )
            s.sendto(request.encode(), ("127.0.0.1", port))
            try:
                data = s.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                continue
            if data.startswith(b"SIP/2.0 "):
                return int(data[8:11])
    raise PeerError(f"nothing answered SIP OPTIONS on 127.0.0.1:{port} within {deadline_s:.0f} s")


class Peer(ABC):
    """One system under test, run privately under workdir."""

    name: ClassVar[str]
    anchors_media: ClassVar[bool] = False
    # What it runs that `make setup` does not install; the bench checks these before starting.
    programs: ClassVar[tuple[Program, ...]] = ()

    def __init__(self, workdir: Path, uas_port: int) -> None:
        self.workdir = workdir
        self.uas_port = uas_port
        self.sip_port = free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    @abstractmethod
    def start(self) -> None:
        """Start and return once the peer answers SIP (raises PeerError otherwise)."""

    @staticmethod
    @abstractmethod
    def version() -> str:
        """Its version, or "not installed"; never raises."""

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def spawn(self, command: list[str], log_name: str, env: dict[str, str] | None = None) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / log_name).open("wb")
        self.processes.append(
            subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        )

    def check_alive(self) -> None:
        for p in self.processes:
            if p.poll() is not None:
                raise PeerError(
                    f"{self.name} exited with status {p.returncode}; see {self.workdir}"
                )

    def stop(self) -> None:
        """SIGTERM each process (last started first), then SIGKILL what outlives the deadline."""
        for p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.processes.clear()
