"""RequestAuthenticator: the challenge a phone gets, and what it gets when it answers.

Requests are parsed from bytes and challenges re-read from the serialised response, as a phone
would; the client side is `softswitch.sip.digest`. The clock is stepped by hand.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import pytest

from softswitch.calls.authentication import AuthDecision, RequestAuthenticator, Verdict
from softswitch.config import Config, parse_config
from softswitch.sip.digest import Challenge, build_authorization, compute_ha1, parse_challenge
from softswitch.sip.message import Request, Response, parse_message
from softswitch.sip.transaction import Address

REALM = "pbx.test"
PASSWORD = "correct horse 1001"
HA1_MD5_PASSWORD = "only-md5-ha1-1002"
HA1_SHA_PASSWORD = "only-sha-ha1-1003"
TRUNK_PASSWORD = "carrier-inbound-pw"
LIFETIME_S = 300.0
SECRET = b"test-secret-0123456789abcdef"
SOURCE: Address = ("udp", "198.51.100.20", 61000)
ALGORITHMS = ["SHA-256", "MD5"]
# proxy=False: REGISTER answered 401 / WWW-*; proxy=True: INVITE answered 407 / Proxy-*
MODES = [pytest.param(False, id="register-401"), pytest.param(True, id="invite-407")]


def make_config() -> Config:
    return parse_config(
        {
            "sip": {"realm": REALM},
            "security": {"nonce_lifetime_s": LIFETIME_S},
            "extensions": [
                {"number": "1001", "password": PASSWORD},
                {"number": "1002", "ha1": compute_ha1("1002", REALM, HA1_MD5_PASSWORD, "MD5")},
                {
                    "number": "1003",
                    "ha1_sha256": compute_ha1("1003", REALM, HA1_SHA_PASSWORD, "SHA-256"),
                },
            ],
            "trunks": [
                {
                    "name": "carrier",
                    "host": "192.0.2.50",
                    "port": 5080,
                    "inbound_username": "carrier-in",
                    "inbound_password": TRUNK_PASSWORD,
                }
            ],
        },
        "test.toml",
    )


@pytest.fixture
def auth(clock) -> RequestAuthenticator:
    config = make_config()
    return RequestAuthenticator(
        realm=config.sip.realm,
        extensions=config.extensions,
        trunks=config.trunks,
        nonce_lifetime_s=config.security.nonce_lifetime_s,
        clock=clock,
        secret=SECRET,
    )


def challenge_header(proxy: bool) -> str:
    return "Proxy-Authenticate" if proxy else "WWW-Authenticate"


def credentials_header(proxy: bool) -> str:
    return "Proxy-Authorization" if proxy else "Authorization"


def request_for(
    sip_request, proxy: bool, *, cseq: int = 1, auth: Sequence[str] = (), branch: str | None = None
) -> Request:
    """REGISTER from 1001, or an INVITE from 1001 to 1002; `auth` values in the right header."""
    name = credentials_header(proxy)
    headers = [(name, value) for value in auth]
    if proxy:
        return sip_request(
            "INVITE",
            to_user="1002",
            from_user="1001",
            call_id="call-1",
            cseq=cseq,
            headers=headers,
            branch=branch,
        )
    return sip_request(
        "REGISTER", contacts=["<sip:1001@10.0.0.5:5060>"], cseq=cseq, headers=headers, branch=branch
    )


def reread(response: Response | None) -> Response:
    """The response as the phone reads it: serialised and parsed again."""
    assert response is not None
    message = parse_message(response.serialize())
    assert isinstance(message, Response)
    return message


def challenges(decision: AuthDecision, proxy: bool) -> dict[str, Challenge]:
    """The challenges offered, by algorithm, as the phone parses them."""
    assert decision.verdict is Verdict.CHALLENGE
    response = reread(decision.response)
    assert response.status == (407 if proxy else 401)
    values = response.header_lines(challenge_header(proxy))
    parsed = [parse_challenge(value) for value in values]
    return {challenge.algorithm: challenge for challenge in parsed}


def answer(
    challenge: Challenge,
    request: Request,
    *,
    username: str = "1001",
    password: str = PASSWORD,
    nc: int = 1,
) -> str:
    return build_authorization(
        challenge,
        method=request.method,
        uri=request.uri,
        username=username,
        password=password,
        cnonce="0a4f113b",
        nc=nc,
    )


def challenge_for(
    auth: RequestAuthenticator, sip_request, proxy: bool, algorithm: str
) -> Challenge:
    """The phone's first try, without credentials: the challenge it gets for `algorithm`."""
    decision = auth.authenticate(request_for(sip_request, proxy), SOURCE, proxy=proxy)
    return challenges(decision, proxy)[algorithm]


def respond(
    auth: RequestAuthenticator,
    sip_request,
    proxy: bool,
    challenge: Challenge,
    *,
    cseq: int = 2,
    branch: str | None = None,
    **answer_args,
) -> AuthDecision:
    """Send the request again with credentials answering `challenge`, as the phone's retry."""
    template = request_for(sip_request, proxy, cseq=cseq)
    value = answer(challenge, template, **answer_args)
    request = request_for(sip_request, proxy, cseq=cseq, auth=[value], branch=branch)
    return auth.authenticate(request, SOURCE, proxy=proxy)


# -- the challenge --------------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", MODES)
def test_request_without_credentials_is_challenged_with_sha256_then_md5(
    auth, sip_request, proxy
) -> None:
    decision = auth.authenticate(request_for(sip_request, proxy), SOURCE, proxy=proxy)

    assert decision.verdict is Verdict.CHALLENGE
    assert decision.username is None
    response = reread(decision.response)
    assert response.status == (407 if proxy else 401)
    assert response.header_lines(challenge_header(not proxy)) == []
    values = response.header_lines(challenge_header(proxy))
    offered = [parse_challenge(value) for value in values]
    # RFC 8760 §2.4: strongest first, so a phone that takes the first it knows takes SHA-256
    assert [c.algorithm for c in offered] == ALGORITHMS
    assert all(c.realm == REALM and c.qop == ("auth",) and not c.stale for c in offered)
    assert len({c.nonce for c in offered}) == 1
    # RFC 3261 §8.2.6.2: a final response gets a To tag
    assert response.to.tag
    assert response.call_id == ("call-1" if proxy else "reg-1@10.0.0.5")


@pytest.mark.parametrize("proxy", MODES)
def test_each_challenge_has_a_fresh_nonce(auth, sip_request, proxy) -> None:
    first = challenge_for(auth, sip_request, proxy, "SHA-256")
    second = challenge_for(auth, sip_request, proxy, "SHA-256")
    assert first.nonce != second.nonce


@pytest.mark.parametrize("proxy", MODES)
def test_unknown_user_gets_the_same_challenge_as_a_known_one(auth, sip_request, proxy) -> None:
    def challenge_response(user: str) -> Response:
        if proxy:
            request = sip_request("INVITE", to_user="1002", from_user=user, call_id="c")
        else:
            request = sip_request("REGISTER", to_user=user, call_id="c")
        return reread(auth.authenticate(request, SOURCE, proxy=proxy).response)

    known, unknown = challenge_response("1001"), challenge_response("9999")

    assert (known.status, known.reason) == (unknown.status, unknown.reason)
    assert [name for name, _ in known.headers] == [name for name, _ in unknown.headers]
    known_values = known.header_lines(challenge_header(proxy))
    unknown_values = unknown.header_lines(challenge_header(proxy))

    def without_nonce(value: str) -> str:
        blanked, count = re.subn(r'nonce="[^"]*"', 'nonce=""', value)
        assert count == 1
        return blanked

    assert [without_nonce(v) for v in known_values] == [without_nonce(v) for v in unknown_values]
    assert known_values != unknown_values  # only because each nonce is fresh


# -- answering it ---------------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", MODES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_right_password_is_accepted(auth, sip_request, proxy, algorithm) -> None:
    challenge = challenge_for(auth, sip_request, proxy, algorithm)

    decision = respond(auth, sip_request, proxy, challenge)

    assert decision == AuthDecision(Verdict.ACCEPTED, "1001")


@pytest.mark.parametrize("proxy", MODES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_password_is_403_and_logged_with_the_source_address(
    auth, sip_request, proxy, algorithm, caplog
) -> None:
    challenge = challenge_for(auth, sip_request, proxy, algorithm)

    with caplog.at_level(logging.WARNING, logger="softswitch.security"):
        decision = respond(auth, sip_request, proxy, challenge, password="guess")

    assert decision.verdict is Verdict.REJECTED
    assert decision.username is None
    assert reread(decision.response).status == 403
    lines = [r.getMessage() for r in caplog.records if r.name == "softswitch.security"]
    assert len(lines) == 1
    assert "198.51.100.20" in lines[0] and "61000" in lines[0]
    assert "guess" not in lines[0] and PASSWORD not in lines[0]


@pytest.mark.parametrize("proxy", MODES)
def test_unknown_user_and_wrong_password_get_the_same_response(
    auth, sip_request, proxy, caplog
) -> None:
    challenge = challenge_for(auth, sip_request, proxy, "SHA-256")

    with caplog.at_level(logging.WARNING, logger="softswitch.security"):
        wrong_password = respond(
            auth, sip_request, proxy, challenge, password="guess", branch="z9hG4bK-same"
        )
        unknown_user = respond(
            auth, sip_request, proxy, challenge, username="9999", branch="z9hG4bK-same"
        )

    assert unknown_user.verdict is wrong_password.verdict is Verdict.REJECTED
    # the two requests differ only in their credentials, which no response header copies
    assert reread(unknown_user.response).serialize() == reread(wrong_password.response).serialize()
    logged = [r.getMessage() for r in caplog.records if r.name == "softswitch.security"]
    assert len(logged) == 2 and all("198.51.100.20" in line for line in logged)


@pytest.mark.parametrize("proxy", MODES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_expired_nonce_with_the_right_password_is_rechallenged_stale(
    auth, sip_request, clock, proxy, algorithm
) -> None:
    challenge = challenge_for(auth, sip_request, proxy, algorithm)
    clock.advance(LIFETIME_S + 1)

    decision = respond(auth, sip_request, proxy, challenge)

    fresh = challenges(decision, proxy)
    assert list(fresh) == ALGORITHMS
    assert all(c.stale for c in fresh.values())
    assert fresh[algorithm].nonce != challenge.nonce
    # the phone retries with the new nonce and the same password, without asking its user
    assert respond(auth, sip_request, proxy, fresh[algorithm], cseq=3) == AuthDecision(
        Verdict.ACCEPTED, "1001"
    )


@pytest.mark.parametrize("proxy", MODES)
def test_nonce_within_its_lifetime_is_accepted(auth, sip_request, clock, proxy) -> None:
    challenge = challenge_for(auth, sip_request, proxy, "SHA-256")
    clock.advance(LIFETIME_S - 1)

    assert respond(auth, sip_request, proxy, challenge).verdict is Verdict.ACCEPTED


@pytest.mark.parametrize("proxy", MODES)
def test_expired_nonce_with_a_wrong_password_is_403_not_stale(
    auth, sip_request, clock, proxy
) -> None:
    """RFC 2617 §3.2.1: stale=true only when the digest was right."""
    challenge = challenge_for(auth, sip_request, proxy, "SHA-256")
    clock.advance(LIFETIME_S + 1)

    decision = respond(auth, sip_request, proxy, challenge, password="guess")

    assert decision.verdict is Verdict.REJECTED
    assert reread(decision.response).status == 403


@pytest.mark.parametrize("proxy", MODES)
def test_replayed_nonce_count_is_rejected_and_higher_counts_accepted(
    auth, sip_request, proxy, caplog
) -> None:
    challenge = challenge_for(auth, sip_request, proxy, "SHA-256")

    def attempt(nc: int, cseq: int) -> AuthDecision:
        return respond(auth, sip_request, proxy, challenge, nc=nc, cseq=cseq)

    assert attempt(1, 2).verdict is Verdict.ACCEPTED
    with caplog.at_level(logging.WARNING, logger="softswitch.security"):
        replay = attempt(1, 2)  # the same credentials captured and sent again
    assert replay.verdict is Verdict.REJECTED
    assert reread(replay.response).status == 403
    assert any("198.51.100.20" in r.getMessage() for r in caplog.records)
    assert attempt(2, 3).verdict is Verdict.ACCEPTED
    assert attempt(2, 4).verdict is Verdict.REJECTED
    assert attempt(1, 5).verdict is Verdict.REJECTED
    assert attempt(7, 6).verdict is Verdict.ACCEPTED  # counts may skip, never go back


@pytest.mark.parametrize("proxy", MODES)
def test_credentials_for_another_realm_are_rechallenged(auth, sip_request, proxy) -> None:
    ours = challenge_for(auth, sip_request, proxy, "MD5")
    theirs = Challenge(
        realm="other-proxy.test",
        nonce=ours.nonce,
        algorithm="MD5",
        qop=("auth",),
        opaque=None,
        stale=False,
    )

    decision = respond(auth, sip_request, proxy, theirs)

    fresh = challenges(decision, proxy)
    assert all(c.realm == REALM and not c.stale for c in fresh.values())


@pytest.mark.parametrize("proxy", MODES)
def test_credentials_for_us_among_another_realms_are_accepted(auth, sip_request, proxy) -> None:
    """RFC 3261 §22.3: a request may carry credentials for several proxies' realms."""
    ours = challenge_for(auth, sip_request, proxy, "SHA-256")
    theirs = Challenge("other-proxy.test", "abc", "MD5", ("auth",), None, False)
    template = request_for(sip_request, proxy, cseq=2)
    values = [answer(theirs, template), answer(ours, template)]

    decision = auth.authenticate(
        request_for(sip_request, proxy, cseq=2, auth=values), SOURCE, proxy=proxy
    )

    assert decision == AuthDecision(Verdict.ACCEPTED, "1001")


@pytest.mark.parametrize("proxy", MODES)
@pytest.mark.parametrize(
    "value", ["NoOneKnowsThisScheme opaque-data=here", "Basic MTAwMTpwYXNzd29yZA=="]
)
def test_unknown_auth_scheme_is_challenged_not_400(auth, sip_request, proxy, value) -> None:
    """RFC 4475 §3.3.10 (regaut01): credentials we cannot read are no credentials."""
    request = request_for(sip_request, proxy, auth=[value])

    decision = auth.authenticate(request, SOURCE, proxy=proxy)

    assert list(challenges(decision, proxy)) == ALGORITHMS


@pytest.mark.parametrize("proxy", MODES)
def test_credentials_in_the_other_header_are_not_looked_at(auth, sip_request, proxy) -> None:
    """A 401 is answered in Authorization, a 407 in Proxy-Authorization (RFC 3261 §22.2, §22.3)."""
    challenge = challenge_for(auth, sip_request, proxy, "SHA-256")
    template = request_for(sip_request, proxy, cseq=2)
    misplaced = request_for(sip_request, not proxy, cseq=2, auth=[answer(challenge, template)])

    decision = auth.authenticate(misplaced, SOURCE, proxy=proxy)

    assert decision.verdict is Verdict.CHALLENGE


MALFORMED = {
    "missing-params": 'Digest username="1001"',
    "missing-comma": 'Digest username="1001" realm="pbx.test"',
    "response-not-hex": (
        'Digest username="1001", realm="pbx.test", nonce="n", uri="sip:pbx.test", response="xyz"'
    ),
    "qop-without-nc": (
        'Digest username="1001", realm="pbx.test", nonce="n", uri="sip:pbx.test",'
        ' response="abcd", qop=auth'
    ),
    "nc-not-8-hex": (
        'Digest username="1001", realm="pbx.test", nonce="n", uri="sip:pbx.test",'
        ' response="abcd", qop=auth, nc=1, cnonce="c"'
    ),
    "repeated-param": (
        'Digest username="1001", username="1002", realm="pbx.test", nonce="n",'
        ' uri="sip:pbx.test", response="abcd"'
    ),
}


@pytest.mark.parametrize("proxy", MODES)
@pytest.mark.parametrize("value", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_digest_is_400(auth, sip_request, proxy, value) -> None:
    request = request_for(sip_request, proxy, auth=[value])

    decision = auth.authenticate(request, SOURCE, proxy=proxy)

    assert decision.verdict is Verdict.REJECTED
    assert reread(decision.response).status == 400


@pytest.mark.parametrize("proxy", MODES)
def test_nonce_not_issued_here_with_a_wrong_password_is_403(auth, sip_request, proxy) -> None:
    ours = challenge_for(auth, sip_request, proxy, "SHA-256")
    forged = Challenge(REALM, "A" * 64, "SHA-256", ("auth",), ours.opaque, False)

    decision = respond(auth, sip_request, proxy, forged, password="guess")

    assert decision.verdict is Verdict.REJECTED
    assert reread(decision.response).status == 403


@pytest.mark.parametrize("proxy", MODES)
def test_nonce_from_before_a_restart_with_the_right_password_is_rechallenged_stale(
    clock, sip_request, proxy
) -> None:
    config = make_config()

    def run(secret: bytes) -> RequestAuthenticator:
        return RequestAuthenticator(
            realm=REALM,
            extensions=config.extensions,
            trunks=config.trunks,
            nonce_lifetime_s=LIFETIME_S,
            clock=clock,
            secret=secret,
        )

    before, after = run(b"secret-of-the-first-run-0123"), run(b"secret-of-the-second-run-456")
    cached = challenge_for(before, sip_request, proxy, "SHA-256")

    decision = respond(after, sip_request, proxy, cached)

    assert all(c.stale for c in challenges(decision, proxy).values())


def test_digest_scheme_followed_by_a_tab_is_read(auth, sip_request) -> None:
    challenge = challenge_for(auth, sip_request, False, "SHA-256")
    template = request_for(sip_request, False, cseq=2)
    value = answer(challenge, template).replace("Digest ", "Digest\t", 1)

    decision = auth.authenticate(
        request_for(sip_request, False, cseq=2, auth=[value]), SOURCE, proxy=False
    )

    assert decision == AuthDecision(Verdict.ACCEPTED, "1001")


# -- where the secrets come from ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "algorithm"),
    [
        pytest.param("1002", HA1_MD5_PASSWORD, "MD5", id="ha1"),
        pytest.param("1003", HA1_SHA_PASSWORD, "SHA-256", id="ha1_sha256"),
    ],
)
@pytest.mark.parametrize("proxy", MODES)
def test_extension_configured_with_ha1_authenticates(
    auth, sip_request, proxy, username, password, algorithm
) -> None:
    challenge = challenge_for(auth, sip_request, proxy, algorithm)

    accepted = respond(auth, sip_request, proxy, challenge, username=username, password=password)
    wrong = respond(auth, sip_request, proxy, challenge, username=username, password="x", nc=2)

    assert accepted == AuthDecision(Verdict.ACCEPTED, username)
    assert wrong.verdict is Verdict.REJECTED


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trunk_inbound_credentials_authenticate_a_call(auth, sip_request, algorithm) -> None:
    challenge = challenge_for(auth, sip_request, True, algorithm)

    accepted = respond(
        auth, sip_request, True, challenge, username="carrier-in", password=TRUNK_PASSWORD
    )
    wrong = respond(auth, sip_request, True, challenge, username="carrier-in", password=PASSWORD)

    assert accepted == AuthDecision(Verdict.ACCEPTED, "carrier-in")
    assert wrong.verdict is Verdict.REJECTED
