"""softswitch/sip/uri.py: SIP/SIPS/tel URIs, hosts and IPv6 references, name-addr values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sip.fast_path_cases import NAME_ADDR_HEADERS, NAME_ADDR_VALUES, URI_VALUES, corpus_values

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.uri import (
    NameAddr,
    SipUri,
    TelUri,
    check_ip_address,
    host_without_brackets,
    is_simple_sip_uri,
    is_token,
    parse_generic_params,
    parse_host,
    parse_uri,
    uri_user,
)


def _rejects(parse: object, text: str, status: int = 400) -> RemoteProtocolError:
    assert callable(parse)
    with pytest.raises(RemoteProtocolError) as info:
        parse(text)
    assert info.value.status_hint == status
    return info.value


# --- SIP URIs ------------------------------------------------------------------------------------
def test_sip_uri_parts() -> None:
    uri = SipUri.parse(
        "sips:alice:secret@Example.COM:5061;Transport=TLS;lr;maddr=10.0.0.1?Subject=hi"
    )
    assert (uri.scheme, uri.user, uri.password) == ("sips", "alice", "secret")
    assert (uri.host, uri.port) == ("Example.COM", 5061)
    assert uri.params == {"transport": "TLS", "lr": None, "maddr": "10.0.0.1"}
    assert uri.transport == "tls"
    assert uri.headers == "Subject=hi"


def test_scheme_is_case_insensitive() -> None:
    assert SipUri.parse("SIP:bob@example.com").scheme == "sip"


def test_user_part_may_hold_semicolons_and_question_marks() -> None:
    # the first '@' ends the userinfo (RFC 4475 §3.1.1.9)
    uri = SipUri.parse("sip:user;par=u%40example.net?x@example.com;p=1")
    assert uri.user == "user;par=u%40example.net?x"
    assert uri.host == "example.com"
    assert uri.params == {"p": "1"}
    assert uri.headers is None


def test_escapes() -> None:
    uri = SipUri.parse("sip:I%20have%20spaces@example.net")
    assert uri.user_unescaped == "I have spaces"
    assert uri_user(uri) == "I have spaces"
    assert "bad escape" in str(_rejects(SipUri.parse, "sip:a%2@example.net"))
    assert "bad escape" in str(_rejects(SipUri.parse, "sip:a%G1@example.net"))
    assert "bad escape" in str(_rejects(SipUri.parse, "sip:a@example.net;p=%zz"))


@pytest.mark.parametrize(
    "text",
    [
        "sip:a b@example.com",  # whitespace
        "sip:<a>@example.com",
        "sip:@example.com",  # empty user
        "sip:a@",  # no host
        "sip:a@example.com;",  # a parameter needs a name
        "sip:a@example.com;p=",  # and a value after '='
        "sip:a@example.com?novalue",  # a URI header is name=value
        "sip:a@exa mple.com",
        "sip:a@example.com:",
        "sip:a@example.com:0",
        "sip:a@example.com:65536",
        "sip:a@example.com:123456",
        "sip:a@999.1.1.1",
        "sip:a@-bad.example.com",
        "sip:a@under_score.example.com",
        "sip:a@1.2.3",  # not an address, and a name's last label starts with a letter
        "sip:a@[2001:db8::1",
        "sip:a@[2001:db8:::1]",
        "sip:a@[fe80::1%25eth0]",  # no zone identifiers in RFC 3261
        "sip:a@[2001:db8::1]x",
        "sip:a@2001:db8::1",  # IPv6 needs brackets (RFC 5118 §4.1)
        "sip:a@b@example.com",
        "sip:a@é.example.com",
    ],
)
def test_bad_sip_uris(text: str) -> None:
    _rejects(SipUri.parse, text)


def test_unknown_scheme_is_416() -> None:
    _rejects(SipUri.parse, "http://example.com/", 416)
    _rejects(parse_uri, "nobodyknowsthisscheme:totallyopaquecontent", 416)
    _rejects(parse_uri, "<sip:a@example.com>")


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "[2001:db8::10]", None),
        ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),
        ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),  # RFC 5118 §4.2
        ("sip:u@[::ffff:192.0.2.10]:19823", "[::ffff:192.0.2.10]", 19823),
        ("sip:u@192.0.2.255", "192.0.2.255", None),
        ("sip:u@host.example.com.", "host.example.com.", None),
        ("sip:u@localhost:5060", "localhost", 5060),
        ("sip:u@9to5.example.com", "9to5.example.com", None),
    ],
)
def test_hosts(text: str, host: str, port: int | None) -> None:
    uri = SipUri.parse(text)
    assert (uri.host, uri.port) == (host, port)


def test_parse_host_and_brackets() -> None:
    assert parse_host("[::1]:5060") == ("[::1]", 5060)
    assert parse_host("example.com") == ("example.com", None)
    assert host_without_brackets("[::1]") == "::1"
    assert host_without_brackets("127.0.0.1") == "127.0.0.1"
    assert "without []" in str(_rejects(parse_host, "2001:db8::1"))


def test_serialize_round_trip() -> None:
    text = "sip:alice:pw@[2001:db8::1]:5060;transport=tcp;lr?Subject=x&Priority=urgent"
    assert SipUri.parse(text).serialize() == text
    assert str(SipUri.parse("sip:example.com")) == "sip:example.com"


_USER_CHARS = "abcXYZ019-_.!~*'()&=+$,;?/"
_PARAM_CHARS = "abcXYZ019-_.!~*'()[]/:&+$"


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | st.text(_USER_CHARS, min_size=1, max_size=12),
    password=st.none() | st.text("abcXYZ019-_.!~*'()&=+$,", max_size=8),
    host=st.sampled_from(["example.com", "a-b.c9.example.org", "192.0.2.1", "[2001:db8::1]"]),
    port=st.none() | st.integers(1, 65535),
    params=st.dictionaries(
        st.text("abcdefgh-", min_size=1, max_size=6),
        st.none() | st.text(_PARAM_CHARS, min_size=1, max_size=8),
        max_size=3,
    ),
    headers=st.none() | st.just("Subject=hi&X=%20y"),
)
def test_generated_uris_round_trip(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: dict[str, str | None],
    headers: str | None,
) -> None:
    if user is None:
        password = None
    uri = SipUri(scheme, user, host, port, password, params, headers)
    text = uri.serialize()
    assert SipUri.parse(text) == uri
    assert SipUri.parse(text).serialize() == text


# --- tel URIs ------------------------------------------------------------------------------------
def test_tel_uri() -> None:
    uri = TelUri.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert uri.number == "+1-201-555-0123"
    assert uri.params == {"phone-context": "example.com"}
    assert uri_user(uri) == "+12015550123"
    assert uri.serialize() == "tel:+1-201-555-0123;phone-context=example.com"
    assert isinstance(parse_uri("TEL:911"), TelUri)
    _rejects(TelUri.parse, "tel:")
    _rejects(TelUri.parse, "tel:12 34")


# --- name-addr -----------------------------------------------------------------------------------
def test_quoted_display_name_with_escapes() -> None:
    value = NameAddr.parse('"J Rosenberg \\\\\\"" <sip:jdrosen@example.com> ;  tag = 98asjd8')
    assert value.display_name == '"J Rosenberg \\\\\\""'
    assert value.uri == "sip:jdrosen@example.com"
    assert value.tag == "98asjd8"
    assert value.bracketed


def test_token_display_name_with_and_without_space() -> None:
    assert NameAddr.parse("Alice Smith <sip:a@example.com>").display_name == "Alice Smith"
    assert NameAddr.parse("caller<sip:caller@example.com>;tag=323").display_name == "caller"


def test_addr_spec_parameters_belong_to_the_header() -> None:
    value = NameAddr.parse("sip:+19725552222@gw1.example.net;unknownparam;tag=x")
    assert value.uri == "sip:+19725552222@gw1.example.net"
    assert value.params == {"unknownparam": None, "tag": "x"}
    assert not value.bracketed
    assert value.serialize() == "<sip:+19725552222@gw1.example.net>;unknownparam;tag=x"


def test_bracketed_uri_keeps_its_own_parameters() -> None:
    value = NameAddr.parse("<sip:a@example.com;transport=tcp>;expires=60")
    assert value.sip_uri().params == {"transport": "tcp"}
    assert value.params == {"expires": "60"}


def test_quoted_parameter_values_keep_delimiters() -> None:
    value = NameAddr.parse('<sip:a@example.com>;+sip.instance="<urn:uuid:1;2,3>";q=0.5')
    assert value.params == {"+sip.instance": '"<urn:uuid:1;2,3>"', "q": "0.5"}
    spec = NameAddr.parse('sip:a@example.com;+sip.instance="<urn:uuid:1>"')
    assert spec.uri == "sip:a@example.com"


def test_other_schemes_are_kept_as_text() -> None:
    assert NameAddr.parse("isbn:2983792873").uri == "isbn:2983792873"
    assert NameAddr.parse("<http://www.example.com>;tag=1").uri == "http://www.example.com"
    _rejects(lambda t: NameAddr.parse(t, any_scheme=False), "<http://www.example.com>", 416)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', "quoted display name"),
        ("Bell, Alexander <sip:a.g.bell@example.com>", "bad display name"),
        ('"Watson, Thomas" < sip:t.watson@example.org >', "whitespace inside"),
        ("<sip:a@example.com", "unterminated"),
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E", "needs <>"),
        ('"name" sip:a@example.com', "without <URI>"),
        ("<sip:a@example.com> junk", "bad header parameter"),
        ("<sip:a@example.com>;;", "bad header parameter"),
        ("<sip:a@example.com>;tag=", "bad header parameter"),
        ('<sip:a@example.com>;p="unterminated', "bad header parameter"),
        ("<>", "bad URI"),
        ("<no scheme>", "whitespace inside"),
        ('"bare\x01control" <sip:a@example.com>', "quoted display name"),
    ],
)
def test_bad_name_addr(text: str, reason: str) -> None:
    assert reason in str(_rejects(NameAddr.parse, text))


def test_name_addr_serialize() -> None:
    value = NameAddr.parse('"Bob" <sips:bob@example.com>;tag=a1')
    assert value.serialize() == '"Bob" <sips:bob@example.com>;tag=a1'
    assert str(NameAddr("sip:x@example.com")) == "<sip:x@example.com>"


# --- header parameters and tokens ----------------------------------------------------------------
def test_generic_params() -> None:
    assert parse_generic_params("") == {}
    assert parse_generic_params(" ; A = B ;flag;maddr=[2001:db8::1];received=2001:db8::9") == {
        "a": "B",
        "flag": None,
        "maddr": "[2001:db8::1]",
        "received": "2001:db8::9",
    }
    assert parse_generic_params(';n="quoted ; value, with \\" escapes"') == {
        "n": '"quoted ; value, with \\" escapes"'
    }
    _rejects(parse_generic_params, ";a=b c")
    _rejects(parse_generic_params, "a=b")


def test_is_token() -> None:
    assert is_token("z9hG4bK-.!%*_+`'~")
    assert not is_token("")
    assert not is_token("a b")
    assert not is_token("a:b")


# --- the name-addr fast path against the full grammar -----------------------------------------
def _same_as_full(text: str) -> None:
    """`parse` (fast path first) and `parse_full` agree: same value and order, or same error."""
    try:
        expected = NameAddr.parse_full(text)
    except RemoteProtocolError as exc:
        with pytest.raises(RemoteProtocolError) as info:
            NameAddr.parse(text)
        assert (str(info.value), info.value.status_hint) == (str(exc), exc.status_hint)
        return
    value = NameAddr.parse(text)
    assert value == expected
    assert list(value.params.items()) == list(expected.params.items())


@pytest.mark.parametrize("text", corpus_values(NAME_ADDR_HEADERS))
def test_fast_name_addr_agrees_on_the_corpus(text: str) -> None:
    _same_as_full(text)


@settings(max_examples=1000, deadline=None)
@given(NAME_ADDR_VALUES)
def test_fast_name_addr_agrees_on_generated_values(text: str) -> None:
    _same_as_full(text)


@pytest.mark.parametrize(
    "text",
    [
        "sipp <sip:sipp@127.0.0.1:5060>;tag=1000SIPpTag001",
        '"Alice Smith" <sips:alice@example.com;transport=tls>;tag=a;q=0.5',
        "<sip:uas@127.0.0.1:5080>",
        "sip:sipp@127.0.0.1:5060",
        "sip:+15551234@gw.example.net;expires=60",
    ],
)
def test_common_name_addrs_skip_the_full_grammar(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = NameAddr.parse_full(text)
    monkeypatch.setattr(NameAddr, "parse_full", None)
    assert NameAddr.parse(text) == expected


@settings(max_examples=500, deadline=None)
@given(URI_VALUES)
def test_simple_sip_uris_are_valid_and_headerless(text: str) -> None:
    if is_simple_sip_uri(text):
        uri = parse_uri(text)
        assert isinstance(uri, SipUri) and uri.headers is None


@pytest.mark.parametrize(
    "text", ["sip:8888@127.0.0.1:5070", "sips:pbx.example.com;transport=tls", "sip:a@b.c;lr"]
)
def test_common_request_uris_are_simple(text: str) -> None:
    assert is_simple_sip_uri(text)
    assert not is_simple_sip_uri(text + "?Subject=x")


# --- cases that `make mutants` found untested ------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "sip:a%20b%G1@example.net",  # a good escape first must not hide a bad one after it
        "sip:a%20%G1@example.net",  # nor when they touch
        "sip:a%20b%G1c%20@example.net",  # nor when another good one follows
        "sip:a%XX@example.net",
    ],
)
def test_every_escape_is_checked(text: str) -> None:
    assert "bad escape" in str(_rejects(SipUri.parse, text))


def test_lower_case_escapes_are_valid() -> None:
    assert SipUri.parse("sip:a%2fb%2F@example.net").user_unescaped == "a/b/"


def test_parse_host_splits_the_port() -> None:
    # parse_host reads Via sent-by: a hostname or address with a port must be split, not refused
    assert parse_host("example.com:5060") == ("example.com", 5060)
    assert parse_host("192.0.2.1:5070") == ("192.0.2.1", 5070)
    assert parse_host("[2001:db8::1]") == ("[2001:db8::1]", None)


@pytest.mark.parametrize("port", ["0", "65536", "012345", "", "5o60", "٥٠٦٠"])
def test_parse_host_rejects_bad_ports(port: str) -> None:
    assert "bad port" in str(_rejects(parse_host, f"example.com:{port}"))


def test_parse_host_accepts_the_port_range_ends() -> None:
    assert parse_host("example.com:1") == ("example.com", 1)
    assert parse_host("example.com:65535") == ("example.com", 65535)
    assert parse_host("example.com:05060") == ("example.com", 5060)


def test_check_ip_address() -> None:
    check_ip_address("[1::]")  # bracketed: the brackets alone are stripped, nothing more
    check_ip_address("[::1]")
    check_ip_address("1::")
    check_ip_address("192.0.2.1")
    for text in ["[1::", "1::]", "[::1x", "192.0.2", "[192.0.2.1]", "example.com"]:
        _rejects(check_ip_address, text)


def test_tel_uri_parameters() -> None:
    uri = TelUri.parse("tel:+1-201-555-0123;isub=1411;phone-context=example.com;flag")
    assert uri.params == {"isub": "1411", "phone-context": "example.com", "flag": None}
    assert uri.serialize() == "tel:+1-201-555-0123;isub=1411;phone-context=example.com;flag"
    assert "bad escape" in str(_rejects(TelUri.parse, "tel:911;isub=%G1"))
    assert "bad URI parameter" in str(_rejects(TelUri.parse, "tel:911;a=b=c"))
    assert "bad URI parameter" in str(_rejects(TelUri.parse, "tel:911;a b"))


def test_uri_user_without_user_part_is_empty() -> None:
    assert uri_user(SipUri.parse("sip:example.com")) == ""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # _sip_uri_error names the part that broke the grammar; the status stays 400 for sips
        ("sips:a b@example.com", "bad user part"),
        ("sip:a:p w@example.com", "bad password"),
        ("sip:a@example.com?novalue", "bad URI headers"),
        ("sip:a@example.com;p=1?novalue", "bad URI headers"),
        ("sip:a;x@example.com?novalue", "bad URI headers"),
        ("sip:a@exa mple.com;p=1", "bad host"),
        ("sip:a@example.com:0", "bad port"),
        ("sip:a@example.com:99999;p=1", "bad port"),
        ("sip:a@example.com;p=1;=", "bad URI parameter"),
        ("sip:a@example.com?x=1;p=2 ", "bad URI headers"),
        ("sip:a:b:c@example.com;?", "bad password"),
        ("sip:a@b@example.com", "bad host"),
        ("sip:@example.com", "bad user part"),
        ("sip a@example.com", "not a URI"),
    ],
)
def test_bad_sip_uri_names_the_part(text: str, reason: str) -> None:
    assert reason in str(_rejects(SipUri.parse, text))


def test_name_addr_validates_sip_and_tel_uris_by_their_own_grammar() -> None:
    # the generic absolute-URI grammar would take these; the sip and tel grammars must not
    for text in ["<sip:a@example.com:0>", "<SIP:a@example.com:0>", "<sips:a@example.com:0>"]:
        assert "bad port" in str(_rejects(NameAddr.parse, text))
    assert "bad tel number" in str(_rejects(NameAddr.parse, "<tel:@1>"))
    assert "bad tel number" in str(_rejects(NameAddr.parse, "<TEL:@1>"))
    _rejects(lambda t: NameAddr.parse(t, any_scheme=False), "<sip:a@example.com:0>")


def test_name_addr_whitespace_is_only_space_and_tab() -> None:
    # LWS is SP / HTAB (RFC 3261 §25.1): other whitespace is not stripped as if it were
    for text in ["\x0b<sip:a@example.com>", '"Bob"\x0b<sip:a@example.com>']:
        _rejects(NameAddr.parse, text)
        _rejects(NameAddr.parse_full, text)
    _rejects(NameAddr.parse_full, "sip:a@example.com\x0b;tag=1")
    _rejects(NameAddr.parse, "<sip:a@example.com>X")
    _rejects(NameAddr.parse_full, '"Bob"X<sip:a@example.com>')


def test_name_addr_keeps_what_borders_the_whitespace() -> None:
    assert NameAddr.parse("Xena <sip:a@example.com>;p=1").display_name == "Xena"
    assert NameAddr.parse_full(" Xena\t<sip:a@example.com> ").display_name == "Xena"
    assert NameAddr.parse_full('"Bob" \t<sip:a@example.com>').display_name == '"Bob"'
    spec = NameAddr.parse_full("sip:a@example.comX ;tag=1")
    assert (spec.uri, spec.tag) == ("sip:a@example.comX", "1")


def test_addr_spec_with_comma_needs_brackets() -> None:
    # a bare comma would split a Contact list (RFC 3261 §20.10)
    assert "needs <>" in str(_rejects(NameAddr.parse_full, "sip:a,b@example.com"))
    assert NameAddr.parse("<sip:a,b@example.com>").uri == "sip:a,b@example.com"
