"""PjsuaPeer: runs tests/peers/pjsua_peer.py and talks to it in JSON lines, with deadlines."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PEER_SCRIPT = Path(__file__).with_name("pjsua_peer.py")

Event = dict[str, Any]

# How pjsua2 reports a confirmed call that the far end ended with a BYE (code 200); a call it ended
# itself reads "OK", one dropped by a transport or timer error carries that error's code.
BYE_RECEIVED = (200, "Normal call clearing")
Predicate = Callable[[Event], bool]


class PeerError(AssertionError):
    """The peer did not report what a test waited for in time; the message lists what it said."""


class PjsuaPeer:
    """One pjsua2 softphone process (at most 4 calls); its events are kept for `wait_for`."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        start_timeout_s: float = 10.0,
        tls_ca: Path | None = None,
        tls_server: tuple[Path, Path, int] | None = None,
    ) -> None:
        self.name = name
        self.log_path = workdir / f"pjsua-{name}.log"
        self._stderr = open(workdir / f"pjsua-{name}.stderr", "wb")  # noqa: SIM115 - closed in close()
        extra = ["--tls-ca", str(tls_ca)] if tls_ca is not None else []
        if tls_server is not None:  # (certificate, key, port): a carrier's TLS port
            cert, key, port = tls_server
            extra += ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-port", str(port)]
        self.proc = subprocess.Popen(
            [sys.executable, str(PEER_SCRIPT), "--log", str(self.log_path), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.events: list[Event] = []
        self._pending: queue.Queue[Event | None] = queue.Queue()
        self._matched: set[int] = set()
        # A reader thread turns the pipe into a queue so that waits can have deadlines.
        self._reader = threading.Thread(target=self._read, name=f"pjsua-{name}", daemon=True)
        self._reader.start()
        ready = self.wait_for(lambda e: e["event"] == "ready", start_timeout_s)
        self.udp_port: int = ready["udp_port"]
        self.tcp_port: int = ready["tcp_port"]
        self.tls_port: int = ready["tls_port"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self._pending.put(json.loads(line))
            except json.JSONDecodeError:
                self._pending.put({"event": "garbage", "line": line.decode(errors="replace")})
        self._pending.put(None)

    def send(self, cmd: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        self.proc.stdin.flush()

    def _drain(self, timeout_s: float) -> bool:
        """Move one pending event into `events`; False when the peer's output has ended."""
        try:
            event = self._pending.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return True
        if event is None:
            self._pending.put(None)
            return False
        self.events.append(event)
        if event["event"] == "error":
            raise PeerError(f"{self.name}: peer reported {event}")
        return True

    def wait_for(self, predicate: Predicate, timeout_s: float, what: str = "") -> Event:
        """The earliest not yet matched event that satisfies `predicate`, within the deadline.

        Each event matches one wait only, so a second `registered` needs a second registration;
        events that came earlier than expected (media before CONFIRMED) are still found.
        """
        deadline = time.monotonic() + timeout_s
        scanned = 0
        while True:
            for index in range(scanned, len(self.events)):
                if index not in self._matched and predicate(self.events[index]):
                    self._matched.add(index)
                    return self.events[index]
            scanned = len(self.events)
            remaining = deadline - time.monotonic()
            ended = remaining > 0 and not self._drain(min(remaining, 0.2))
            if remaining <= 0 or (ended and scanned == len(self.events)):
                raise PeerError(
                    f"{self.name}: no {what or 'matching event'} within {timeout_s} s"
                    f"{' (peer exited)' if ended else ''}; events so far: {self.events}; "
                    f"log: {self.log_path}"
                )

    def wait_event(self, name: str, timeout_s: float, **match: Any) -> Event:
        """Wait for an event by name whose fields equal `match`."""

        def predicate(e: Event) -> bool:
            return e["event"] == name and all(e.get(k) == v for k, v in match.items())

        return self.wait_for(predicate, timeout_s, what=f"{name} {match}")

    def wait_call_state(self, call: int, state: str, timeout_s: float) -> Event:
        return self.wait_event("call_state", timeout_s, call=call, state=state)

    def wait_bye(self, call: int, timeout_s: float) -> Event:
        """Wait for the call to end and check that the far end's BYE ended it."""
        event = self.wait_call_state(call, "DISCONNECTED", timeout_s)
        if (event["code"], event["reason"]) != BYE_RECEIVED:
            raise PeerError(
                f"{self.name}: call {call} ended without a BYE from the far end: {event}"
            )
        return event

    # ---- conveniences that mirror the peer's commands ----------------------------------------

    def register_result(
        self,
        port: int,
        user: str,
        password: str,
        transport: str = "udp",
        timeout_s: float = 10.0,
        *,
        srtp: str = "off",
    ) -> Event:
        """Register and return how it ended: the `registered` or the `reg_failed` event."""
        self.send(
            "register",
            server="127.0.0.1",
            port=port,
            user=user,
            password=password,
            transport=transport,
            srtp=srtp,
        )
        return self.wait_for(
            lambda e: e["event"] in ("registered", "reg_failed"), timeout_s, what="registration"
        )

    def listen(self, user: str, srtp: str = "off", timeout_s: float = 5.0) -> Event:
        """Take incoming calls on the TLS port without registering (a carrier's side)."""
        self.send("listen", user=user, srtp=srtp)
        return self.wait_event("listening", timeout_s)

    def register(
        self,
        port: int,
        user: str,
        password: str,
        transport: str = "udp",
        timeout_s: float = 10.0,
        *,
        srtp: str = "off",
    ) -> Event:
        """Register, failing the test unless the registrar accepted it (`srtp`: the account's
        SRTP use, off, optional or mandatory)."""
        event = self.register_result(port, user, password, transport, timeout_s, srtp=srtp)
        if event["event"] != "registered":
            raise PeerError(f"{self.name}: registration as {user} failed: {event}")
        return event

    def call(self, uri: str, timeout_s: float = 5.0) -> int:
        self.send("call", uri=uri)
        return int(self.wait_event("call_created", timeout_s, uri=uri)["call"])

    def play_and_record(self, call: int, tone: Path, heard: Path, seconds: float) -> None:
        """Play `tone` in a loop into the call and record `seconds` of what comes back to `heard`.

        Both start once the call's media is active; the `recorded` event says when it is done.
        """
        self.send("play", call=call, path=str(tone))
        self.send("record", call=call, path=str(heard), seconds=seconds)

    def wait_incoming(self, timeout_s: float) -> Event:
        return self.wait_event("incoming_call", timeout_s)

    def close(self, timeout_s: float = 5.0) -> int:
        """Ask the peer to quit, kill it past the deadline; returns its exit status."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.send("quit")
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self._stderr.close()
        return self.proc.returncode

    def __enter__(self) -> PjsuaPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def uri(user: str, port: int, transport: str = "udp") -> str:
    """A SIP URI for `user` at 127.0.0.1:`port`, naming TCP when asked."""
    suffix = ";transport=tcp" if transport == "tcp" else ""
    return f"sip:{user}@127.0.0.1:{port}{suffix}"
