import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.sip.digest import (
    NONCE_RANDOM_BYTES,
    AuthOutcome,
    AuthResult,
    Challenge,
    DigestAuthenticator,
    build_authorization,
    compute_ha1,
    parse_challenge,
    parse_credentials,
)
from softswitch.sip.errors import RemoteProtocolError

REALM = "pbx.example.com"
SECRET = b"0123456789abcdef-test-secret"
USERS = {"1001": "s3cret", "alice": "Circle of Life"}
URI = "sip:pbx.example.com"
T0 = 1_000_000.0


def lookup(username: str, algorithm: str) -> str | None:
    password = USERS.get(username)
    return None if password is None else compute_ha1(username, REALM, password, algorithm)


def rand(i: int) -> bytes:
    return i.to_bytes(NONCE_RANDOM_BYTES, "big")


def challenge_for(auth: DigestAuthenticator, algorithm: str, now: float, i: int = 1) -> Challenge:
    for value in auth.challenge_headers(now, rand(i)):
        challenge = parse_challenge(value)
        if challenge.algorithm == algorithm:
            return challenge
    raise AssertionError(f"no {algorithm} challenge")


def answer(
    challenge: Challenge,
    *,
    username: str = "1001",
    password: str = "s3cret",
    nc: int = 1,
    method: str = "REGISTER",
) -> str:
    return build_authorization(
        challenge,
        method=method,
        uri=URI,
        username=username,
        password=password,
        cnonce="c0ffee",
        nc=nc,
    )


def check(
    auth: DigestAuthenticator,
    header: str,
    now: float,
    method: str = "REGISTER",
    lookup_ha1: Callable[[str, str], str | None] = lookup,
) -> AuthResult:
    return auth.verify(method=method, header_value=header, lookup_ha1=lookup_ha1, now=now)


# --- RFC worked examples (client side and the hashing) ---


def test_rfc2617_section_3_5_example() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge.algorithm == "MD5"
    assert challenge.qop == ("auth", "auth-int")
    header = build_authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
        nc=1,
    )
    creds = parse_credentials(header)
    assert creds.response == "6629fae49393a05397450978507c4ef1"
    assert (creds.qop, creds.nc, creds.cnonce) == ("auth", 1, "0a4f113b")
    assert creds.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert "nc=00000001" in header


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_section_3_9_1_example(algorithm: str, response: str) -> None:
    challenge = parse_challenge(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    header = build_authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc=1,
    )
    assert parse_credentials(header).response == response
    assert f"algorithm={algorithm}" in header


def test_rfc2069_challenge_without_qop_is_answered_without_nc() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n"')
    header = build_authorization(
        challenge, method="INVITE", uri="sip:x@r", username="u", password="p", cnonce="c", nc=1
    )
    creds = parse_credentials(header)

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    assert creds.response == md5(f"{md5('u:r:p')}:n:{md5('INVITE:sip:x@r')}")
    assert (creds.qop, creds.nc, creds.cnonce) == (None, None, None)


def test_compute_ha1_rejects_unknown_algorithm() -> None:
    with pytest.raises(ValueError):
        compute_ha1("u", "r", "p", "SHA-512-256")


# --- challenges ---


def test_challenges_follow_the_configured_order() -> None:
    """Old clients answer only the first challenge (baresip 1.0): the operator picks the order."""
    auth = DigestAuthenticator(REALM, SECRET, algorithms=("MD5", "SHA-256"))
    challenges = [parse_challenge(v) for v in auth.challenge_headers(T0, rand(7))]
    assert [c.algorithm for c in challenges] == ["MD5", "SHA-256"]


def test_challenges_default_to_sha256_first_with_shared_nonce_and_stale_flag() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    values = auth.challenge_headers(T0, rand(7))
    challenges = [parse_challenge(v) for v in values]
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert all(c.realm == REALM and c.qop == ("auth",) and not c.stale for c in challenges)
    assert challenges[0].nonce == challenges[1].nonce
    assert challenges[0].opaque == challenges[1].opaque is not None
    assert values[0].startswith(f'Digest realm="{REALM}", nonce="')
    assert values[0].endswith('algorithm=SHA-256, qop="auth"')
    stale = auth.challenge_headers(T0, rand(7), stale=True)
    assert all(v.endswith(", stale=true") and parse_challenge(v).stale for v in stale)
    assert auth.challenge_headers(T0, rand(8))[0] != values[0]


def test_only_configured_algorithms_are_offered() -> None:
    auth = DigestAuthenticator(REALM, SECRET, algorithms=("SHA-256",))
    assert [parse_challenge(v).algorithm for v in auth.challenge_headers(T0, rand(1))] == [
        "SHA-256"
    ]
    md5 = parse_challenge(auth.challenge_headers(T0, rand(1))[0].replace("SHA-256", "MD5"))
    result = check(auth, answer(md5), T0)
    assert result.outcome is AuthOutcome.FAILED
    assert "algorithm" in result.reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short"},
        {"algorithms": ()},
        {"algorithms": ("SHA-512",)},
        {"max_tracked_nonces": 0},
    ],
)
def test_constructor_rejects_bad_configuration(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"realm": REALM, "secret": SECRET, **kwargs}
    with pytest.raises(ValueError):
        DigestAuthenticator(**args)  # type: ignore[arg-type]


def test_challenge_requires_exact_random_length() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    with pytest.raises(ValueError):
        auth.challenge_headers(T0, b"\0" * 8)


# --- verification ---


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_round_trip_ok(algorithm: str) -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    header = answer(challenge_for(auth, algorithm, T0))
    assert check(auth, header, T0 + 1) == AuthResult(AuthOutcome.OK, "1001", "ok")


def test_proxy_authorization_for_invite_round_trip() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    outcomes = []
    for i, method in enumerate(["INVITE", "BYE"]):
        header = answer(
            challenge_for(auth, "SHA-256", T0, i=i),
            username="alice",
            password="Circle of Life",
            method="INVITE",
        )
        outcomes.append(check(auth, header, T0, method=method).outcome)
    # The method is part of HA2: an INVITE's answer does not authorise a BYE.
    assert outcomes == [AuthOutcome.OK, AuthOutcome.FAILED]


def test_wrong_password_fails() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    result = check(auth, answer(challenge_for(auth, "SHA-256", T0), password="guess"), T0)
    assert result == AuthResult(AuthOutcome.FAILED, "1001", "wrong response")


def test_unknown_user_fails_with_the_same_hashing_work(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    hashed: list[str] = []
    real_new = hashlib.new

    def counting_new(name: str, data: bytes = b"") -> "hashlib._Hash":
        hashed.append(name)
        return real_new(name, data)

    # lookup() below hashes too; give it precomputed HA1s so only verify's work is counted.
    ha1 = {("1001", "SHA-256"): compute_ha1("1001", REALM, "s3cret", "SHA-256")}

    def precomputed(username: str, algorithm: str) -> str | None:
        return ha1.get((username, algorithm))

    unknown = answer(challenge_for(auth, "SHA-256", T0, i=1), username="mallory")
    known = answer(challenge_for(auth, "SHA-256", T0, i=2), password="guess")
    monkeypatch.setattr(hashlib, "new", counting_new)
    result = check(auth, unknown, T0, lookup_ha1=precomputed)
    unknown_work = list(hashed)
    hashed.clear()
    assert check(auth, known, T0, lookup_ha1=precomputed).outcome is AuthOutcome.FAILED
    assert result == AuthResult(AuthOutcome.FAILED, "mallory", "unknown user")
    assert unknown_work == hashed == ["sha256", "sha256"]


def test_challenge_does_not_depend_on_the_user() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    # The re-challenge after an unknown user and after a known user's wrong password is the
    # same call with the same inputs: nothing about the user can leak into it.
    before = auth.challenge_headers(T0, rand(3))
    check(auth, answer(challenge_for(auth, "MD5", T0), username="mallory"), T0)
    check(auth, answer(challenge_for(auth, "MD5", T0, i=2), password="x"), T0)
    assert auth.challenge_headers(T0, rand(3)) == before


def test_expired_nonce_is_stale_only_with_the_right_password() -> None:
    auth = DigestAuthenticator(REALM, SECRET, nonce_lifetime_s=300)
    challenge = challenge_for(auth, "SHA-256", T0)
    assert check(auth, answer(challenge), T0 + 300).outcome is AuthOutcome.OK
    late = T0 + 300.5
    stale = check(auth, answer(challenge, nc=2), late)
    assert stale == AuthResult(AuthOutcome.STALE, "1001", "nonce expired")
    assert check(auth, answer(challenge, nc=3, password="x"), late).outcome is AuthOutcome.FAILED
    # A fresh nonce works again at once.
    assert check(auth, answer(challenge_for(auth, "SHA-256", late)), late).outcome is (
        AuthOutcome.OK
    )


def _swap_char(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("index", [0, 5, 20, -1])
def test_foreign_nonce_with_the_right_digest_is_stale(index: int) -> None:
    """RFC 2617 §3.2.1: e.g. a nonce from before a restart; the phone retries, no user prompt."""
    auth = DigestAuthenticator(REALM, SECRET)
    challenge = challenge_for(auth, "SHA-256", T0)
    forged = Challenge(
        challenge.realm,
        _swap_char(challenge.nonce, index),
        challenge.algorithm,
        challenge.qop,
        challenge.opaque,
        stale=False,
    )
    result = check(auth, answer(forged), T0)
    assert result == AuthResult(AuthOutcome.STALE, "1001", "nonce not issued by us")


@pytest.mark.parametrize("index", [0, 5, 20, -1])
def test_tampered_nonce_with_a_wrong_password_fails(index: int) -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    challenge = challenge_for(auth, "SHA-256", T0)
    forged = Challenge(
        challenge.realm,
        _swap_char(challenge.nonce, index),
        challenge.algorithm,
        challenge.qop,
        challenge.opaque,
        stale=False,
    )
    result = check(auth, answer(forged, password="guess"), T0)
    assert result == AuthResult(AuthOutcome.FAILED, "1001", "wrong response")


@pytest.mark.parametrize(
    "other",
    [
        DigestAuthenticator(REALM, b"another-secret-of-16+bytes"),
        DigestAuthenticator("other.example.com", SECRET),
    ],
)
def test_nonce_from_another_secret_or_realm_fails(other: DigestAuthenticator) -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    theirs = challenge_for(other, "SHA-256", T0)
    ours = challenge_for(auth, "SHA-256", T0)
    forged = Challenge(REALM, theirs.nonce, "SHA-256", ("auth",), ours.opaque, stale=False)
    assert check(auth, answer(forged), T0).reason == "nonce not issued by us"


def test_nonce_count_replay() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    challenge = challenge_for(auth, "SHA-256", T0)
    assert check(auth, answer(challenge, nc=1), T0).outcome is AuthOutcome.OK
    assert check(auth, answer(challenge, nc=1), T0).outcome is AuthOutcome.REPLAY
    assert check(auth, answer(challenge, nc=2), T0).outcome is AuthOutcome.OK
    assert check(auth, answer(challenge, nc=5), T0).outcome is AuthOutcome.OK  # gaps are fine
    replay = check(auth, answer(challenge, nc=4), T0)
    assert replay == AuthResult(AuthOutcome.REPLAY, "1001", "nc 4 not above 5")
    # A failed attempt does not advance the count.
    assert check(auth, answer(challenge, nc=9, password="x"), T0).outcome is AuthOutcome.FAILED
    assert check(auth, answer(challenge, nc=6), T0).outcome is AuthOutcome.OK


def test_nonce_table_is_bounded_and_evicted_nonces_cannot_be_replayed() -> None:
    auth = DigestAuthenticator(REALM, SECRET, nonce_lifetime_s=300, max_tracked_nonces=3)
    challenges = [challenge_for(auth, "MD5", T0 + i, i=i) for i in range(5)]
    for challenge in challenges:
        assert check(auth, answer(challenge), T0 + 10).outcome is AuthOutcome.OK
        assert auth.tracked_nonces <= 3
    assert auth.tracked_nonces == 3
    # The two oldest were evicted: their nc history is gone, so they are stale, never fresh.
    for challenge in challenges[:2]:
        result = check(auth, answer(challenge, nc=1), T0 + 10)
        assert result.outcome is AuthOutcome.STALE
    assert check(auth, answer(challenges[4], nc=1), T0 + 10).outcome is AuthOutcome.REPLAY
    assert check(auth, answer(challenges[4], nc=2), T0 + 10).outcome is AuthOutcome.OK
    # Once they expire, entries go without waiting for the table to fill.
    later = T0 + 400
    assert check(auth, answer(challenge_for(auth, "MD5", later, i=9)), later).outcome is (
        AuthOutcome.OK
    )
    assert auth.tracked_nonces == 1


def test_credentials_for_another_realm() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    other = DigestAuthenticator("carrier.example.net", SECRET)
    result = check(auth, answer(challenge_for(other, "MD5", T0)), T0)
    assert result.outcome is AuthOutcome.WRONG_REALM
    assert result.username == "1001"


def test_opaque_must_match_when_sent_and_may_be_omitted() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    c = challenge_for(auth, "SHA-256", T0)
    wrong = Challenge(c.realm, c.nonce, c.algorithm, c.qop, "not-ours", stale=False)
    assert check(auth, answer(wrong), T0).reason == "opaque does not match"
    omitted = Challenge(c.realm, c.nonce, c.algorithm, c.qop, None, stale=False)
    assert check(auth, answer(omitted), T0).outcome is AuthOutcome.OK


def test_answer_without_qop_is_refused() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    c = challenge_for(auth, "MD5", T0)
    rfc2069 = Challenge(c.realm, c.nonce, c.algorithm, (), c.opaque, stale=False)
    result = check(auth, answer(rfc2069), T0)
    assert result.outcome is AuthOutcome.FAILED
    assert "qop" in result.reason


@pytest.mark.parametrize(
    ("header", "outcome"),
    [
        ("", AuthOutcome.MALFORMED),
        ('Basic realm="x"', AuthOutcome.MALFORMED),
        ('Digest username="1001", realm="pbx.example.com"', AuthOutcome.MALFORMED),
        (
            'Digest username="1001", realm="pbx.example.com", nonce="n", uri="", '
            'response="00", qop=auth, nc=00000001, cnonce="c"',
            AuthOutcome.FAILED,
        ),
        (
            'Digest username="1001", realm="pbx.example.com", nonce="n", uri="sip:x", '
            'response="00", qop=auth-int, nc=00000001, cnonce="c"',
            AuthOutcome.FAILED,
        ),
    ],
)
def test_bad_credentials_are_reported_not_raised(header: str, outcome: AuthOutcome) -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    assert check(auth, header, T0).outcome is outcome


# --- parsing ---


def test_parse_credentials_quoting_case_and_spacing() -> None:
    creds = parse_credentials(
        ' digest  UserName = "a\\"b\\\\c" ,, Realm="r", nonce="n,o", uri="sip:x@y;transport=tcp",'
        "response=ABCDEF, algorithm=sha-256, QOP=auth, nc=0000000A, cnonce=xyz ,  "
    )
    assert creds.username == 'a"b\\c'
    assert creds.nonce == "n,o"
    assert creds.uri == "sip:x@y;transport=tcp"
    assert creds.response == "abcdef"
    assert creds.algorithm == "SHA-256"
    assert (creds.qop, creds.nc, creds.cnonce, creds.opaque) == ("auth", 10, "xyz", None)


def test_build_authorization_escapes_quotes() -> None:
    challenge = Challenge('we "quote"', "n", "MD5", ("auth",), None, stale=False)
    header = build_authorization(
        challenge, method="REGISTER", uri="sip:r", username='x"y\\', password="p", cnonce="c", nc=1
    )
    creds = parse_credentials(header)
    assert (creds.username, creds.realm) == ('x"y\\', 'we "quote"')


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Digest",
        'Digest username="u" realm="r"',  # missing comma
        'Digest username="u, realm="r"',  # unterminated quote
        'Digest username="u", username="v", realm="r", nonce="n", uri="u", response="0"',
        'Digest username="u", realm="r", nonce="n", uri="u", response="xyz"',
        'Digest username="u", realm="r", nonce="n", uri="u", response="00", qop=auth',
        'Digest username="u", realm="r", nonce="n", uri="u", response="00", qop=auth, '
        'nc=1, cnonce="c"',
        'NTLM username="u", realm="r", nonce="n", uri="u", response="00"',
        "Digest =x",
        'Digest username="\udc80", realm="r", nonce="n", uri="u", response="00"',
    ],
)
def test_parse_credentials_rejects_garbage(header: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_credentials(header)
    assert info.value.status_hint == 400


@pytest.mark.parametrize(
    "header",
    [
        'Digest nonce="n"',
        'Digest realm="r", nonce="n", algorithm=SHA-512-256',
        'Digest realm="r", nonce="n", algorithm=MD5-sess',
        'Digest realm="r", nonce="n", qop="auth-int"',
        'Basic realm="r"',
    ],
)
def test_parse_challenge_rejects_what_we_cannot_answer(header: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_challenge(header)


_param_name = st.sampled_from(
    ["username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce", "algorithm", "x"]
)
_param_value = st.one_of(
    st.text(max_size=12),
    st.text(max_size=12).map(lambda s: '"' + s + '"'),
    st.sampled_from(["auth", "00000001", "MD5", "SHA-256", "abc123", '"\\"', '"']),
)
_near_valid = st.lists(
    st.tuples(_param_name, st.sampled_from(["=", " = ", "", "=="]), _param_value), max_size=12
).flatmap(
    lambda params: st.sampled_from([", ", ",", " ", ",,"]).map(
        lambda sep: "Digest " + sep.join(f"{k}{eq}{v}" for k, eq, v in params)
    )
)


@given(st.one_of(st.text(), _near_valid))
def test_parsers_raise_only_remote_protocol_error(header: str) -> None:
    for parse in (parse_credentials, parse_challenge):
        try:
            parse(header)
        except RemoteProtocolError as exc:
            assert exc.status_hint == 400
    result = check(DigestAuthenticator(REALM, SECRET), header, T0)
    assert result.outcome is not AuthOutcome.OK


# --- cases that `make mutants` found untested ---


def test_replay_at_the_last_instant_of_the_nonce_lifetime_is_refused() -> None:
    auth = DigestAuthenticator(REALM, SECRET, nonce_lifetime_s=300)
    challenge = challenge_for(auth, "SHA-256", T0)
    assert check(auth, answer(challenge, nc=1), T0 + 100).outcome is AuthOutcome.OK
    # still within the lifetime: its nc history must not be dropped yet
    assert check(auth, answer(challenge, nc=1), T0 + 300).outcome is AuthOutcome.REPLAY
    assert check(auth, answer(challenge, nc=2), T0 + 300).outcome is AuthOutcome.OK


def test_default_nonce_lifetime_is_300_s() -> None:
    auth = DigestAuthenticator(REALM, SECRET)
    challenge = challenge_for(auth, "SHA-256", T0)
    assert check(auth, answer(challenge, nc=1), T0 + 300).outcome is AuthOutcome.OK
    assert check(auth, answer(challenge, nc=2), T0 + 300.5).outcome is AuthOutcome.STALE


def test_constructor_limits_are_inclusive() -> None:
    auth = DigestAuthenticator(REALM, b"x" * 16, max_tracked_nonces=1)
    challenge = challenge_for(auth, "MD5", T0)
    assert check(auth, answer(challenge), T0).outcome is AuthOutcome.OK
    assert auth.tracked_nonces == 1


def test_credentials_without_algorithm_are_md5() -> None:
    # RFC 2617 §3.2.2: an absent algorithm means MD5
    auth = DigestAuthenticator(REALM, SECRET)
    header = answer(challenge_for(auth, "MD5", T0))
    bare = ", ".join(p for p in header.split(", ") if not p.startswith("algorithm="))
    assert "algorithm" not in bare
    assert parse_credentials(bare).algorithm == "MD5"
    assert check(auth, bare, T0).outcome is AuthOutcome.OK


def test_nc_is_read_as_hex() -> None:
    header = (
        'Digest username="u", realm="r", nonce="n", uri="sip:x", response="00", qop=auth, '
        'nc=00000010, cnonce="c"'
    )
    assert parse_credentials(header).nc == 16


_FULL = {
    "username": '"u"',
    "realm": '"r"',
    "nonce": '"n"',
    "uri": '"sip:x"',
    "response": '"00"',
    "qop": "auth",
    "nc": "00000001",
    "cnonce": '"c"',
}


@pytest.mark.parametrize("missing", list(_FULL))
def test_each_required_credential_parameter_is_required(missing: str) -> None:
    header = "Digest " + ", ".join(f"{k}={v}" for k, v in _FULL.items() if k != missing)
    if missing == "qop":  # without qop, nc and cnonce are not asked for (RFC 2069 form)
        assert parse_credentials(header).qop is None
        return
    with pytest.raises(RemoteProtocolError, match=f"missing: {missing}"):
        parse_credentials(header)


@pytest.mark.parametrize("missing", ["realm", "nonce"])
def test_each_required_challenge_parameter_is_required(missing: str) -> None:
    params = {"realm": '"r"', "nonce": '"n"', "qop": '"auth"'}
    header = "Digest " + ", ".join(f"{k}={v}" for k, v in params.items() if k != missing)
    with pytest.raises(RemoteProtocolError, match=f"missing: {missing}"):
        parse_challenge(header)
