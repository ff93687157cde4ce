"""Inputs for the fast-path oracle tests: header values from the corpus, and generated name-addr
and Via values, each part usually in a common form and sometimes in one the fast path leaves."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.headers import canonical_name, split_list

DATA = Path(__file__).resolve().parent.parent / "data"
NAME_ADDR_HEADERS = frozenset({"From", "To", "Contact", "Route", "Record-Route", "Reply-To"})


def corpus_values(names: frozenset[str]) -> list[str]:
    """Every value of the named headers in tests/data, from valid and invalid messages alike."""
    values: list[str] = []
    for path in sorted([*DATA.glob("sip-torture/rfc*/*"), *DATA.glob("sip/*.raw")]):
        head = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        text = head.decode("utf-8", "replace").replace("\n ", " ").replace("\n\t", " ")
        for line in text.split("\n")[1:]:
            name, sep, value = line.partition(":")
            if sep and canonical_name(name.strip()) in names:
                try:
                    values.extend(split_list(value.strip()))
                except RemoteProtocolError:
                    values.append(value.strip())
    return values


# (common forms, other forms) for each part of a value
Part = tuple[list[str], list[str]]
_HOST: Part = (
    ["127.0.0.1", "192.0.2.255", "example.com", "a-b.c9.example.org.", "9.example.com"],
    ["256.0.0.1", "1.2.3", "ex-.com", "9.example.9", "host_x", "[2001:db8::1]", "[::g]", "::1", ""],
)
_PORT: Part = (["", ":5060", ":1", ":65535"], [":0", ":05060", ":65536", ":99999", ":", " : 5060"])
_HEADER_PARAMS: Part = (
    ["", ";tag=1000SIPpTag001", ";tag=a;q=0.5", ";expires", ";TAG=X", ";lr;+x.y=%z"],
    [";tag=a b", " ; tag = x", ';x="q;,"', ";received=::1", ";x=[::1]", ";", ";;", ";=x"],
)
_NOISE = [" ", "\t", ";", ",", "<", ">", '"', "\\", "%", ":", "@", "=", "?", "/", "é", "\x00"]


@st.composite
def _value(draw: st.DrawFn, parts: list[Part]) -> str:
    """Half the time every part in a common form, else one part in another form; then maybe a
    stray character anywhere."""
    other_at = draw(st.integers(-len(parts), len(parts) - 1))
    text = "".join(
        draw(st.sampled_from(other if i == other_at else common))
        for i, (common, other) in enumerate(parts)
    )
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_NOISE)) + text[at:]
    return text


_URI_PARTS: list[Part] = [
    (["sip:", "SIP:", "sips:"], ["tel:", "http:", "sip;", ""]),
    (["", "alice@", "8888@", "+1-(2)$&=/@"], ["a;b@", "a%20b@", "a%2@", "a:pw@", "a?b@"]),
    _HOST,
    _PORT,
]
URI_VALUES = _value(
    [
        *_URI_PARTS,
        (["", ";transport=udp", ";lr;x=[1]:2"], [";a=%41", ";a=%4g", ";=", ";a b", ";a>"]),
        ([""], ["?Subject=hi", "?x", ">"]),
    ]
)


def _name_addr(bracketed: bool) -> st.SearchStrategy[str]:
    return _value(
        [
            (["", "sipp ", "Alice  Smith\t", "caller", '"Bob" ', '"J \\"R\\"" ', '"é"'], ["a@b "])
            if bracketed
            else ([""], [""]),
            (["<"], [""]) if bracketed else ([""], ["<"]),
            *_URI_PARTS,
            (
                ["", ";transport=udp", ";lr;x=[1]:2"],
                [";a=%41", ";a=%4g", ";=", "?Subject=hi", ";a b"],
            )
            if bracketed
            else ([""], [";lr"]),
            ([">"], ["", "> "]) if bracketed else ([""], [">"]),
            _HEADER_PARAMS,
        ]
    )


NAME_ADDR_VALUES = st.booleans().flatmap(_name_addr)

_VIA_PARAMS: Part = (
    ["", ";branch=z9hG4bK-1-0", ";rport", ";rport=5060", ";received=127.0.0.2", ";ttl=255"],
    [";rport=0", ";rport=x", ";received=example.com", ";received", ";ttl=256", ';branch="q"'],
)
VIA_VALUES = _value(
    [
        (["SIP/2.0/UDP ", "SIP/2.0/tcp "], ["sip/2.0/UDP ", "SIP / 2.0 / UDP  ", "SIP/3.0/UDP "]),
        _HOST,
        _PORT,
        _VIA_PARAMS,
        _VIA_PARAMS,
        ([""], [";branch=a:b", ";branch", ";maddr=1.2.3.4", " ;lr", ";received=[::1]"]),
    ]
)
