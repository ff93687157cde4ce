"""RFC 4475 and RFC 5118 torture messages sent over UDP to a running switch.

Each message must get the answer its class calls for (tests/data/sip-torture/README.md): a
request its specific error code or, when valid, an answer that shows it was processed rather than
refused as malformed; a response nothing at all. The switch must still answer afterwards.

"Nothing at all" is observed, not waited for: after the message, the same socket sends an
OPTIONS, and the switch handles a socket's datagrams in order, so a reply to the message would
arrive before the OPTIONS' 200.

Many of the messages reuse a branch (z9hG4bKkdjuw, z9hG4bKas3-111) or a Call-ID: sent to one
switch, the second would rightly be taken as a retransmission of the first's transaction. So the
corpus is sent in rounds, a fresh switch each, no two messages of a round sharing either.
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
import uuid
from pathlib import Path

import pytest
from running_switch import LOCAL, Switch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CORPUS = Path(__file__).resolve().parent.parent / "data" / "sip-torture"
REPLY_TIMEOUT_S = 5.0
# Codes that mean "refused as malformed" or "crashed": a valid message must never get one.
# (501 is the right answer to a well-formed request with a method nobody knows, RFC 3261 §8.2.1.)
REFUSALS = {400, 416, 500, 505, 513}

DROPPED = {
    "rfc4475/unreason.dat",
    "rfc4475/noreason.dat",
    "rfc4475/scalarlg.dat",
    "rfc4475/bigcode.dat",
    "rfc4475/bcast.dat",
}
EXACT = {
    **{
        f"rfc4475/{name}.dat": 400
        for name in [
            *("badinv01", "clerr", "ncl", "scalar02", "quotbal", "ltgtruri", "lwsruri"),
            *("lwsstart", "trws", "escruri", "baddate", "regbadct", "badaspec", "baddn"),
            *("mismatch01", "mismatch02", "insuf", "multi01", "mcl01"),
        ]
    },
    # RFC 4475 §3.1.2.16: 505 Version Not Supported (the README's class says 400, generically)
    "rfc4475/badvers.dat": 505,
    "rfc4475/unkscm.dat": 416,
    "rfc4475/novelsc.dat": 416,
    "rfc4475/bext01.dat": 420,
    "rfc4475/invut.dat": 415,
    "rfc4475/sdp01.dat": 406,
    "rfc4475/regaut01.dat": 401,
    "rfc5118/ipv6-bad": 400,
    "rfc5118/ipv6-bug-abnf-3-colons": 400,
}


def _corpus() -> dict[str, bytes]:
    files = {}
    for line in (CORPUS / "manifest.tsv").read_text().splitlines():
        _, path, digest = line.split("\t")
        data = (CORPUS / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{path} differs from manifest"
        files[path] = data
    return files


def _status(data: bytes) -> int | None:
    m = re.match(rb"SIP/2\.0 ([0-9]{3}) ", data)
    return int(m.group(1)) if m else None


def _header(data: bytes, name: bytes) -> bytes | None:
    m = re.search(rb"\r\n" + name + rb"[ \t]*:[ \t]*([^\r\n]*)", data, re.IGNORECASE)
    return m.group(1) if m else None


def _probe(sock: socket.socket, port: int) -> bytes:
    call_id = f"probe-{uuid.uuid4().hex}".encode()
    local = sock.getsockname()[1]
    sock.sendto(
        b"OPTIONS sip:%s:%d SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=p\r\nTo: <sip:%s:%d>\r\n"
        b"Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        % (
            LOCAL.encode(),
            port,
            LOCAL.encode(),
            local,
            uuid.uuid4().hex.encode(),
            LOCAL.encode(),
            LOCAL.encode(),
            port,
            call_id,
        ),
        (LOCAL, port),
    )
    return call_id


def _exchange(port: int, message: bytes, want_final: bool) -> tuple[list[bytes], bool]:
    """Send `message`; what came back for it, and whether its final or the probe's reply came."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCAL, 0))
        sock.sendto(message, (LOCAL, port))
        probe = None if want_final else _probe(sock, port)
        replies: list[bytes] = []
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65535)
            except TimeoutError:
                break
            if probe is not None and _header(data, b"Call-ID") == probe:
                return replies, True
            replies.append(data)
            status = _status(data)
            if want_final and status is not None and status >= 200:
                return replies, True
        return replies, False


def _verdict(path: str, replies: list[bytes], complete: bool) -> str | None:
    """None when the switch did what the class asks, else what it did instead."""
    if path in DROPPED:
        if not complete:
            return f"no answer to the OPTIONS probe within {REPLY_TIMEOUT_S} s"
        return None if not replies else f"answered a response: {replies[0][:40]!r}"
    finals = [r for r in replies if (_status(r) or 0) >= 200]
    if not finals:
        return f"no final response within {REPLY_TIMEOUT_S} s (got {len(replies)} provisional)"
    status = _status(finals[0])
    if path in EXACT:
        if status != EXACT[path]:
            return f"got {status}, want {EXACT[path]}"
        if status == 420 and _header(finals[0], b"Unsupported") is None:
            return "420 without Unsupported"
        if status == 415 and _header(finals[0], b"Accept") is None:
            return "415 without Accept"
        return None
    if status in REFUSALS:
        return f"valid message refused with {status}"
    return None


def _rounds(corpus: dict[str, bytes]) -> list[list[str]]:
    """Greedy split of the corpus so that no round holds two messages with a branch or Call-ID
    in common (RFC 3261 §17.2.3 and the RFC 2543 fallback would match them to one transaction)."""
    rounds: list[tuple[list[str], set[bytes]]] = []
    for path, data in corpus.items():
        keys = {k for k in (_header(data, b"Call-ID"), _header(data, b"i")) if k is not None}
        keys |= set(re.findall(rb";[ \t]*branch[ \t]*=[ \t]*([^;, \t\r\n]+)", data))
        for paths, used in rounds:
            if not keys & used:
                paths.append(path)
                used |= keys
                break
        else:
            rounds.append(([path], set(keys)))
    return [paths for paths, _ in rounds]


CORPUS_FILES = _corpus()
ROUNDS = _rounds(CORPUS_FILES)


def test_rounds_cover_the_corpus() -> None:
    assert sorted(p for r in ROUNDS for p in r) == sorted(CORPUS_FILES)
    assert len(CORPUS_FILES) == 61


@pytest.mark.parametrize("paths", ROUNDS, ids=[f"round{i}" for i in range(len(ROUNDS))])
def test_every_torture_message_gets_its_answer(switch: Switch, paths: list[str]) -> None:
    wrong = {}
    for path in paths:
        replies, complete = _exchange(
            switch.sip_port, CORPUS_FILES[path], want_final=path not in DROPPED
        )
        verdict = _verdict(path, replies, complete)
        if verdict is not None:
            wrong[path] = verdict
    switch.assert_running()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCAL, 0))
        sock.settimeout(REPLY_TIMEOUT_S)
        _probe(sock, switch.sip_port)
        assert _status(sock.recv(65535)) == 200, "the switch stopped answering"
    assert wrong == {}, "\n".join(f"{p}: {v}" for p, v in wrong.items())
