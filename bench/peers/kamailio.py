"""Kamailio as a transaction-stateful proxy, alone or with rtpengine anchoring the media."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import ClassVar

from bench.peers.base import (
    READY_DEADLINE_S,
    Peer,
    PeerError,
    free_port,
    free_port_range,
    sip_options_ping,
)
from bench.peers.rtpengine import Rtpengine
from bench.programs import KAMAILIO, NOT_INSTALLED, RTPENGINE, Program

CONFIG = Path(__file__).parent / "kamailio.cfg"
# Debian builds Kamailio with the debugging q_malloc allocator as its default; measured here it
# triples the CPU per call (0.9 ms against 0.27-0.31 ms). "fm" is the allocator Kamailio
# recommends for production, so the reference is the proxy as it would be deployed.
MEMORY_ARGS = ["-m", "256", "-M", "16", "-x", "fm", "-X", "fm"]
RTPENGINE_PORTS = 8000


class Kamailio(Peer):
    name = "kamailio"
    programs: ClassVar[tuple[Program, ...]] = (KAMAILIO,)

    def kamailio_defines(self) -> list[str]:
        return ["-A", f"SIP_PORT={self.sip_port}", "-A", f'UAS_URI="sip:127.0.0.1:{self.uas_port}"']

    def start(self) -> None:
        command = [
            KAMAILIO.command, "-f", str(CONFIG), "-DD", "-E", *MEMORY_ARGS,
            "-w", str(self.workdir), "-Y", str(self.workdir), *self.kamailio_defines(),
        ]  # fmt: skip
        self.spawn(command, "kamailio.log")
        sip_options_ping(self.sip_port)
        self.check_alive()

    @staticmethod
    def version() -> str:
        return KAMAILIO.version(["-v"], r"version: kamailio (\S+)")


class KamailioRtpengine(Kamailio):
    """Kamailio with the rtpengine module; rtpengine-daemon forwards RTP in userspace."""

    name = "kamailio-rtpengine"
    anchors_media = True
    programs = (KAMAILIO, RTPENGINE)

    def __init__(self, workdir: Path, uas_port: int) -> None:
        super().__init__(workdir, uas_port)
        self.ng_port = free_port()

    def kamailio_defines(self) -> list[str]:
        return [
            *super().kamailio_defines(),
            "-A", "WITH_RTPENGINE",
            "-A", f'RTPENGINE_NG="udp:127.0.0.1:{self.ng_port}"',
        ]  # fmt: skip

    def start(self) -> None:
        low, high = free_port_range(RTPENGINE_PORTS)
        command = [
            RTPENGINE.command, "--config-file=none", "--foreground", "--table=-1",
            "--interface=127.0.0.1", f"--listen-ng=127.0.0.1:{self.ng_port}",
            f"--port-min={low}", f"--port-max={high}", "--log-stderr", "--log-level=4",
            f"--pidfile={self.workdir / 'rtpengine.pid'}",
        ]  # fmt: skip
        self.spawn(command, "rtpengine.log")
        self._wait_for_rtpengine()
        super().start()

    def _wait_for_rtpengine(self) -> None:
        """Ping rtpengine over its ng protocol (bencode over UDP) until it answers pong."""
        stop = time.monotonic() + READY_DEADLINE_S
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            while time.monotonic() < stop:
                self.check_alive()
                s.sendto(b"bench d7:command4:pinge", ("127.0.0.1", self.ng_port))
                try:
                    if b"pong" in s.recv(1024):
                        return
                except (TimeoutError, ConnectionRefusedError):
                    continue
        raise PeerError(f"rtpengine did not answer ping within {READY_DEADLINE_S:.0f} s")

    @staticmethod
    def version() -> str:
        kamailio, rtpengine = Kamailio.version(), Rtpengine.version()
        if kamailio == rtpengine == NOT_INSTALLED:
            return NOT_INSTALLED
        return f"kamailio {kamailio}, rtpengine {rtpengine}"
