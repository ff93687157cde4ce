"""Registrar (RFC 3261 §10.3): bindings made, refreshed, limited, removed and restored.

REGISTERs are parsed from bytes and answers re-read from their bytes; the wall clock is stepped by
hand, and a recording sink stands in for the store so each test sees what would be written.
"""

from __future__ import annotations

import pytest

from softswitch.calls.registrar import Binding, Registrar
from softswitch.config import RegistrarConfig, parse_config
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Response, parse_message
from softswitch.sip.transaction import Address

# The phone writes its private address in Contact; the REGISTER arrives from its NAT's address.
CONTACT_A = "sip:1001@10.0.0.5:5060"
CONTACT_B = "sip:1001@10.0.0.6:5062;transport=udp"
CONTACT_C = "sip:1001@10.0.0.7:5064"
CONTACT_D = "sip:1001@10.0.0.8:5066"
SOURCE: Address = ("udp", "198.51.100.20", 61000)
OTHER_SOURCE: Address = ("tcp", "198.51.100.30", 40000)
MIN_S, DEFAULT_S, MAX_S, MAX_CONTACTS = 60, 600, 3600, 3


class RecordingSink:
    """What the registrar asks the store to write, in order."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, str]] = []  # ("saved" | "removed", aor, contact)
        self.bindings: list[Binding] = []  # every binding saved, as the store would keep it

    def saved(self, binding: Binding) -> None:
        self.writes.append(("saved", binding.aor, binding.contact))
        self.bindings.append(binding)

    def removed(self, aor: str, contact: str) -> None:
        self.writes.append(("removed", aor, contact))


def registrar_config() -> RegistrarConfig:
    table = {
        "min_expires_s": MIN_S,
        "default_expires_s": DEFAULT_S,
        "max_expires_s": MAX_S,
        "max_contacts_per_user": MAX_CONTACTS,
    }
    return parse_config({"registrar": table}, "test.toml").registrar


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def registrar(clock, sink) -> Registrar:
    return Registrar(registrar_config(), sink, wall_clock=clock)


@pytest.fixture
def register(registrar, sip_request):
    """REGISTER as 1001 (already authenticated) and return the answer as the phone reads it.

    A bare contact URI is sent in <>; one with its own `;expires` is sent as written.
    """

    def send(
        *contacts: str,
        expires: int | str | None = None,
        cseq: int = 1,
        call_id: str = "reg-1@10.0.0.5",
        to_user: str = "1001",
        username: str = "1001",
        source: Address = SOURCE,
        on: Registrar | None = None,
    ) -> Response:
        request = sip_request(
            "REGISTER",
            to_user=to_user,
            contacts=[
                f"<{c}>" if c.startswith("sip:") and ";expires" not in c else c for c in contacts
            ],
            expires=expires,
            cseq=cseq,
            call_id=call_id,
        )
        response = (on or registrar).register(request, source, username)
        message = parse_message(response.serialize())
        assert isinstance(message, Response)
        return message

    return send


def contact_expiry(response: Response) -> dict[str, int]:
    """The bindings a 200 lists (RFC 3261 §10.3 step 8), contact -> seconds left."""
    listed: dict[str, int] = {}
    for contact in response.contacts:
        expires = contact.params["expires"]
        assert expires is not None
        listed[contact.uri] = int(expires)
    return listed


# -- making a binding -----------------------------------------------------------------------------


def test_binding_keeps_the_contact_the_source_and_the_via(register, registrar, sink, clock):
    response = register(CONTACT_A, expires=120)

    assert response.status == 200
    [binding] = registrar.lookup("1001")
    assert binding.contact == CONTACT_A
    assert binding.flow == SOURCE  # behind NAT the phone is reached where the REGISTER came from
    assert (binding.source_host, binding.source_port) == ("198.51.100.20", 61000)
    # What calls/nat.py compares with the source to detect NAT, after a restart too.
    assert (binding.via_host, binding.via_port) == ("10.0.0.5", 5060)
    assert binding.expires_at == clock.now + 120
    assert binding.registered_at == clock.now
    assert (binding.call_id, binding.cseq) == ("reg-1@10.0.0.5", 1)
    assert binding.user_agent == "test-phone/1.0"
    assert sink.bindings == [binding]
    assert contact_expiry(response) == {CONTACT_A: 120}
    assert response.header("Date")


@pytest.mark.parametrize(
    ("via", "expected"),
    [
        ("SIP/2.0/UDP 10.0.0.5", ("10.0.0.5", 5060)),
        ("SIP/2.0/TCP [2001:db8::5]", ("2001:db8::5", 5060)),
        ("SIP/2.0/TLS phone.example.com", ("phone.example.com", 5061)),
        ("SIP/2.0/UDP [2001:db8::5]:5072", ("2001:db8::5", 5072)),
    ],
)
def test_via_sent_by_is_kept_without_brackets_and_with_its_default_port(
    registrar, sip_request, via, expected
):
    request = sip_request("REGISTER", contacts=[f"<{CONTACT_A}>"], via=via)
    assert registrar.register(request, SOURCE, "1001").status == 200
    [binding] = registrar.lookup("1001")
    assert (binding.via_host, binding.via_port) == expected


@pytest.mark.parametrize(
    ("contact", "header", "expected"),
    [
        pytest.param(f"<{CONTACT_A}>;expires=300", 120, 300, id="contact-param-wins"),
        pytest.param(f"<{CONTACT_A}>;expires=300", None, 300, id="contact-param"),
        pytest.param(f"<{CONTACT_A}>", 120, 120, id="expires-header"),
        pytest.param(f"<{CONTACT_A}>", None, DEFAULT_S, id="default"),
        pytest.param(f"{CONTACT_A};expires=240", None, 240, id="addr-spec-param"),
        pytest.param(f"<{CONTACT_A}>", MIN_S, MIN_S, id="exactly-minimum"),
    ],
)
def test_expiry_comes_from_the_contact_then_the_header_then_the_default(
    register, registrar, clock, contact, header, expected
):
    response = register(contact, expires=header)

    assert response.status == 200
    [binding] = registrar.lookup("1001")
    assert binding.expires_at == clock.now + expected
    assert contact_expiry(response) == {CONTACT_A: expected}


@pytest.mark.parametrize(
    ("contact", "header"),
    [
        pytest.param(f"<{CONTACT_A}>", MIN_S - 1, id="expires-header"),
        pytest.param(f"<{CONTACT_A}>;expires=10", 3600, id="contact-param"),
    ],
)
def test_expiry_below_the_minimum_is_423_with_min_expires(
    register, registrar, sink, contact, header
):
    response = register(contact, expires=header)

    assert response.status == 423
    assert response.header("Min-Expires") == str(MIN_S)
    assert registrar.lookup("1001") == []
    assert sink.writes == []


def test_one_contact_too_brief_refuses_the_whole_request(register, registrar, sink):
    response = register(f"<{CONTACT_A}>;expires=600", f"<{CONTACT_B}>;expires=5")

    assert response.status == 423
    assert registrar.lookup("1001") == []
    assert sink.writes == []


@pytest.mark.parametrize("asked", [MAX_S + 1, 86_400, "99999999999999"])
def test_expiry_above_the_maximum_is_clamped(register, registrar, clock, asked):
    response = register(CONTACT_A, expires=asked)

    assert response.status == 200
    [binding] = registrar.lookup("1001")
    assert binding.expires_at == clock.now + MAX_S
    assert contact_expiry(response) == {CONTACT_A: MAX_S}


@pytest.mark.parametrize("value", ["soon", "-5", "1.5"])
def test_contact_expires_that_is_not_a_number_is_a_400(register, registrar, value):
    with pytest.raises(RemoteProtocolError) as raised:
        register(f"<{CONTACT_A}>;expires={value}")

    assert raised.value.status_hint == 400
    assert registrar.lookup("1001") == []


def test_to_user_must_be_the_authenticated_user(register, registrar, sink):
    response = register(CONTACT_A, to_user="1002", username="1001")

    assert response.status == 403
    assert registrar.lookup("1002") == registrar.lookup("1001") == []
    assert sink.writes == []


def test_register_without_contact_lists_the_bindings_and_changes_nothing(
    register, registrar, sink, clock
):
    register(CONTACT_A, expires=300)
    clock.advance(100)
    writes = list(sink.writes)

    response = register(cseq=2)

    assert response.status == 200
    assert contact_expiry(response) == {CONTACT_A: 200}
    assert sink.writes == writes


# -- several contacts -----------------------------------------------------------------------------


def test_several_contacts_per_user_most_recent_first(register, registrar, clock):
    register(CONTACT_A, call_id="phone-a")
    clock.advance(10)
    response = register(CONTACT_B, call_id="phone-b")

    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_B, CONTACT_A]
    assert set(contact_expiry(response)) == {CONTACT_A, CONTACT_B}

    clock.advance(10)
    register(CONTACT_A, call_id="phone-a", cseq=2)  # a refresh makes it the most recent again

    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_A, CONTACT_B]
    assert len(registrar) == 2


def test_one_register_may_carry_several_contacts(register, registrar, sink):
    response = register(f"<{CONTACT_A}>, <{CONTACT_B}>;expires=120")

    assert response.status == 200
    assert contact_expiry(response) == {CONTACT_A: DEFAULT_S, CONTACT_B: 120}
    assert {(kind, contact) for kind, _, contact in sink.writes} == {
        ("saved", CONTACT_A),
        ("saved", CONTACT_B),
    }


def test_max_contacts_per_user_evicts_the_oldest(register, registrar, sink, clock):
    for index, contact in enumerate([CONTACT_A, CONTACT_B, CONTACT_C, CONTACT_D]):
        register(contact, call_id=f"phone-{index}")
        clock.advance(1)

    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_D, CONTACT_C, CONTACT_B]
    assert ("removed", "1001", CONTACT_A) in sink.writes
    assert sink.writes[-1] == ("removed", "1001", CONTACT_A)


def test_contacts_of_other_users_are_not_counted_or_touched(register, registrar):
    register(CONTACT_A)
    register("sip:1002@10.0.0.9", to_user="1002", username="1002", call_id="other")

    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_A]
    assert [b.contact for b in registrar.lookup("1002")] == ["sip:1002@10.0.0.9"]


# -- removing bindings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contact", "header"),
    [
        pytest.param(f"<{CONTACT_A}>;expires=0", None, id="contact-param"),
        pytest.param(f"<{CONTACT_A}>", 0, id="expires-header"),
    ],
)
def test_unregister_one_contact_with_expires_zero(
    register, registrar, sink, clock, contact, header
):
    register(CONTACT_A, call_id="phone-a")
    register(CONTACT_B, call_id="phone-b")
    clock.advance(5)

    response = register(contact, expires=header, call_id="phone-a", cseq=2)

    assert response.status == 200
    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_B]
    assert contact_expiry(response) == {CONTACT_B: DEFAULT_S - 5}
    assert sink.writes[-1] == ("removed", "1001", CONTACT_A)


def test_unregister_of_an_unknown_contact_is_a_quiet_200(register, registrar, sink):
    register(CONTACT_A)

    response = register(CONTACT_B, expires=0, cseq=2)

    assert response.status == 200
    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_A]
    assert ("removed", "1001", CONTACT_B) not in sink.writes


def test_star_with_expires_zero_removes_every_binding(register, registrar, sink):
    register(CONTACT_A, call_id="phone-a")
    register(CONTACT_B, call_id="phone-b", source=OTHER_SOURCE)

    response = register("*", expires=0, call_id="phone-a", cseq=2)

    assert response.status == 200
    assert response.contacts == []
    assert registrar.lookup("1001") == []
    assert len(registrar) == 0
    assert registrar.extension_at(SOURCE[1], SOURCE[2]) is None
    assert registrar.extension_at(OTHER_SOURCE[1], OTHER_SOURCE[2]) is None
    assert sorted(w for w in sink.writes if w[0] == "removed") == [
        ("removed", "1001", CONTACT_A),
        ("removed", "1001", CONTACT_B),
    ]


@pytest.mark.parametrize("expires", [3600, None], ids=["expires-3600", "no-expires"])
def test_star_without_expires_zero_is_a_400(register, registrar, expires):
    """RFC 3261 §10.2.2: `*` is only allowed with Expires: 0."""
    register(CONTACT_A)

    with pytest.raises(RemoteProtocolError) as raised:
        register("*", expires=expires, cseq=2)

    assert raised.value.status_hint == 400
    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_A]


def test_star_among_other_contacts_is_a_400(register, registrar):
    register(CONTACT_A)

    with pytest.raises(RemoteProtocolError) as raised:
        register("*", f"<{CONTACT_B}>", expires=0, cseq=2)

    assert raised.value.status_hint == 400
    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_A]


# -- ordering (§10.3 step 7) ----------------------------------------------------------------------


def test_out_of_order_cseq_with_the_same_call_id_is_ignored(register, registrar, sink, clock):
    register(CONTACT_A, expires=600, cseq=5)
    first = registrar.lookup("1001")
    clock.advance(10)

    register(CONTACT_A, expires=0, cseq=4)  # a late, reordered unregister
    register(CONTACT_A, expires=120, cseq=5)  # the same CSeq again

    assert registrar.lookup("1001") == first
    assert sink.writes == [("saved", "1001", CONTACT_A)]

    register(CONTACT_A, expires=0, cseq=6)

    assert registrar.lookup("1001") == []
    assert sink.writes[-1] == ("removed", "1001", CONTACT_A)


def test_a_new_call_id_may_start_again_from_a_low_cseq(register, registrar, clock):
    """A rebooted phone picks a new Call-ID and starts over at CSeq 1."""
    register(CONTACT_A, expires=600, cseq=50, call_id="before-reboot")
    clock.advance(10)

    register(CONTACT_A, expires=120, cseq=1, call_id="after-reboot")

    [binding] = registrar.lookup("1001")
    assert (binding.call_id, binding.cseq) == ("after-reboot", 1)
    assert binding.expires_at == clock.now + 120


# -- who is calling, and expiry -------------------------------------------------------------------


def test_extension_at_finds_the_phone_by_source_address_until_expiry(register, registrar, clock):
    register(CONTACT_A, expires=120)
    host, port = SOURCE[1], SOURCE[2]

    assert registrar.extension_at(host, port) == "1001"
    assert registrar.extension_at(host, port + 1) is None
    assert registrar.extension_at("198.51.100.21", port) is None
    assert registrar.extension_at("10.0.0.5", 5060) is None  # the Contact is not where it is

    clock.advance(119)
    assert registrar.extension_at(host, port) == "1001"
    clock.advance(1)
    assert registrar.extension_at(host, port) is None
    assert registrar.lookup("1001") == []


def test_a_refresh_from_a_new_nat_port_moves_the_binding(register, registrar):
    register(CONTACT_A)

    register(CONTACT_A, cseq=2, source=("udp", SOURCE[1], 61001))

    [binding] = registrar.lookup("1001")
    assert binding.source_port == 61001
    assert registrar.extension_at(SOURCE[1], 61001) == "1001"
    assert registrar.extension_at(SOURCE[1], SOURCE[2]) is None


def test_expire_drops_expired_bindings_and_tells_the_sink(register, registrar, sink, clock):
    register(CONTACT_A, expires=60, call_id="phone-a")
    register(CONTACT_B, expires=120, call_id="phone-b", source=OTHER_SOURCE)

    clock.advance(60)
    assert [b.contact for b in registrar.lookup("1001")] == [CONTACT_B]  # hidden before expire()
    assert [b.contact for b in registrar.all_bindings()] == [CONTACT_B]
    assert len(registrar) == 2

    assert registrar.expire() == 1
    assert len(registrar) == 1
    assert sink.writes[-1] == ("removed", "1001", CONTACT_A)

    clock.advance(60)
    assert registrar.expire() == 1
    assert registrar.expire() == 0
    assert len(registrar) == 0
    assert sink.writes[-1] == ("removed", "1001", CONTACT_B)


def test_restore_brings_bindings_back_after_a_restart(register, registrar, sink, clock):
    register(CONTACT_A, expires=300, call_id="phone-a")
    clock.advance(10)
    register(CONTACT_B, expires=60, call_id="phone-b", source=OTHER_SOURCE)
    before = registrar.lookup("1001")
    clock.advance(100)  # the switch is down while phone B's binding runs out

    restarted_sink = RecordingSink()
    restarted = Registrar(registrar_config(), restarted_sink, wall_clock=clock)
    restarted.restore(sink.bindings)

    assert restarted.lookup("1001") == [before[1]]
    assert restarted.extension_at(SOURCE[1], SOURCE[2]) == "1001"
    assert restarted.extension_at(OTHER_SOURCE[1], OTHER_SOURCE[2]) is None
    assert restarted_sink.writes == []  # restoring writes nothing back
    assert restarted.expire() == 1
    assert restarted_sink.writes == [("removed", "1001", CONTACT_B)]


def test_a_restored_binding_still_ignores_an_older_cseq(register, registrar, sink, clock):
    register(CONTACT_A, cseq=7)
    restarted = Registrar(registrar_config(), RecordingSink(), wall_clock=clock)
    restarted.restore(sink.bindings)

    register(CONTACT_A, expires=0, cseq=6, on=restarted)  # reordered from before the restart

    assert [b.contact for b in restarted.lookup("1001")] == [CONTACT_A]


# -- known faults ---------------------------------------------------------------------------------


def test_extension_at_survives_another_extension_leaving_the_same_address(register, registrar):
    register(CONTACT_A)
    register("sip:1002@10.0.0.5:5060", to_user="1002", username="1002", call_id="acct-2")

    register("*", expires=0, to_user="1002", username="1002", call_id="acct-2", cseq=2)

    assert registrar.lookup("1001") != []
    assert registrar.extension_at(SOURCE[1], SOURCE[2]) == "1001"


@pytest.mark.parametrize(
    ("args", "status"),
    [
        pytest.param({"expires": 120}, 200, id="200"),
        pytest.param({"expires": 5}, 423, id="423"),
        pytest.param({"to_user": "1002"}, 403, id="403"),
    ],
)
def test_register_responses_carry_a_to_tag(register, args, status):
    response = register(CONTACT_A, **args)

    assert response.status == status
    assert response.to.tag
