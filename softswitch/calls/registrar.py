"""The registrar (RFC 3261 §10): where each extension's phones can be reached.

Bindings live in memory for routing and are written through a `BindingSink` so they survive a
restart. Each binding keeps its Contact, the address the REGISTER came from and the sent-by of
its top Via: `calls/nat.py` decides from these (after a restart too) whether a phone is behind
NAT and so where a request to it goes.

`Binding` is the one definition of a binding: the store takes and returns its fields as plain
values (store/ may not import calls/, nor calls/ store/), and app.py maps one to the other.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from softswitch.config import RegistrarConfig
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request, Response, make_response
from softswitch.sip.transaction import Address
from softswitch.sip.uri import SipUri, host_without_brackets

DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}  # RFC 3261 §18.2.2, §19.1.2


@dataclass(frozen=True, slots=True)
class Binding:
    aor: str  # the extension number
    contact: str  # the Contact URI as the phone sent it
    transport: str  # of the REGISTER's flow
    source_host: str  # where the REGISTER came from
    source_port: int
    expires_at: float  # wall-clock epoch seconds, so a restart can honour it
    call_id: str
    cseq: int
    user_agent: str
    registered_at: float = 0.0  # epoch seconds of the last REGISTER (0 for rows before it)
    via_host: str = ""  # the top Via's sent-by, without brackets ("" for rows before it)
    via_port: int = 0  # its port, or the transport's default port when it had none

    @property
    def flow(self) -> Address:
        return (self.transport, self.source_host, self.source_port)


class BindingSink(Protocol):
    """Persistence of bindings; implemented by the application over the store."""

    def saved(self, binding: Binding) -> None: ...

    def removed(self, aor: str, contact: str) -> None: ...


class Registrar:
    def __init__(
        self,
        config: RegistrarConfig,
        sink: BindingSink,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.sink = sink
        self._bindings: dict[str, dict[str, Binding]] = {}
        self._by_flow: dict[tuple[str, int], set[str]] = {}
        self._now = wall_clock

    def restore(self, bindings: Iterable[Binding]) -> None:
        for binding in bindings:
            self._put(binding)

    def __len__(self) -> int:
        return sum(len(b) for b in self._bindings.values())

    def all_bindings(self) -> list[Binding]:
        now = self._now()
        return [
            b for per_aor in self._bindings.values() for b in per_aor.values() if b.expires_at > now
        ]

    def lookup(self, aor: str) -> list[Binding]:
        """Live bindings of an extension, most recently registered first."""
        now = self._now()
        live = [b for b in self._bindings.get(aor, {}).values() if b.expires_at > now]
        return sorted(live, key=lambda b: b.registered_at, reverse=True)

    def extension_at(self, host: str, port: int) -> str | None:
        """An extension whose phone registered from this address, if any (caller recognition).

        One softphone may register several extensions from one address: any of them will do,
        since the request is then challenged and the credentials say which one is calling.
        """
        now = self._now()
        for aor in sorted(self._by_flow.get((host, port), ())):
            for binding in self._bindings.get(aor, {}).values():
                if (binding.source_host, binding.source_port) == (host, port) and (
                    binding.expires_at > now
                ):
                    return aor
        return None

    def expire(self) -> int:
        """Drop expired bindings; returns how many went."""
        now = self._now()
        gone = [b for per in self._bindings.values() for b in per.values() if b.expires_at <= now]
        for binding in gone:
            self._remove(binding)
        return len(gone)

    def register(self, request: Request, source: Address, username: str) -> Response:
        """Apply an authenticated REGISTER (§10.3 steps 5-8) and answer it."""
        aor = _aor_user(request)
        if aor != username:
            return make_response(
                request, 403, "Forbidden (user does not own this address)", to_tag=_tag()
            )
        expires_header = request.expires()
        contacts = request.values("Contact")
        now = self._now()
        if contacts == ["*"]:
            if expires_header != 0:
                raise RemoteProtocolError("Contact * needs Expires: 0")
            for binding in list(self._bindings.get(aor, {}).values()):
                self._remove(binding)
            return self._ok(request, aor)
        if "*" in contacts:
            raise RemoteProtocolError("Contact * mixed with other contacts")
        changes: list[tuple[str, int]] = []
        for contact in request.contacts:
            expires_param = contact.params.get("expires")
            if expires_param is not None:
                if not expires_param.isdigit():
                    raise RemoteProtocolError(f"bad contact expires {expires_param!r}")
                expires = int(expires_param)
            elif expires_header is not None:
                expires = expires_header
            else:
                expires = self.config.default_expires_s
            if 0 < expires < self.config.min_expires_s:
                return make_response(
                    request,
                    423,
                    to_tag=_tag(),
                    extra=[("Min-Expires", str(self.config.min_expires_s))],
                )
            if contact.uri.lower().startswith("sip"):
                SipUri.parse(contact.uri)  # a binding must be reachable: reject bad URIs now
            changes.append((contact.uri, min(expires, self.config.max_expires_s)))
        call_id = request.call_id
        cseq = request.cseq.seq
        via = request.top_via
        via_port = via.port or DEFAULT_PORTS.get(via.transport, 5060)
        for contact_uri, expires in changes:
            existing = self._bindings.get(aor, {}).get(contact_uri)
            if existing is not None and existing.call_id == call_id and existing.cseq >= cseq:
                continue  # out of order retransmission, §10.3 step 7
            if expires == 0:
                if existing is not None:
                    self._remove(existing)
                continue
            binding = Binding(
                aor=aor,
                contact=contact_uri,
                transport=source[0],
                source_host=source[1],
                source_port=source[2],
                expires_at=now + expires,
                call_id=call_id,
                cseq=cseq,
                user_agent=request.header("User-Agent") or "",
                registered_at=now,
                via_host=host_without_brackets(via.host),
                via_port=via_port,
            )
            self._put(binding)
            self.sink.saved(binding)
        self._enforce_limit(aor)
        return self._ok(request, aor)

    def _enforce_limit(self, aor: str) -> None:
        per_aor = self._bindings.get(aor, {})
        excess = len(per_aor) - self.config.max_contacts_per_user
        if excess > 0:
            oldest = sorted(per_aor.values(), key=lambda b: b.registered_at)[:excess]
            for binding in oldest:
                self._remove(binding)

    def _ok(self, request: Request, aor: str) -> Response:
        now = self._now()
        extra = [
            ("Contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))}")
            for b in self.lookup(aor)
        ]
        extra.append(("Date", formatdate(now, usegmt=True)))
        return make_response(request, 200, to_tag=_tag(), extra=extra)

    def _put(self, binding: Binding) -> None:
        self._bindings.setdefault(binding.aor, {})[binding.contact] = binding
        self._by_flow.setdefault((binding.source_host, binding.source_port), set()).add(binding.aor)

    def _remove(self, binding: Binding) -> None:
        per_aor = self._bindings.get(binding.aor)
        if per_aor is None or per_aor.pop(binding.contact, None) is None:
            return
        if not per_aor:
            del self._bindings[binding.aor]
        flow = (binding.source_host, binding.source_port)
        if not any((b.source_host, b.source_port) == flow for b in per_aor.values()):
            owners = self._by_flow.get(flow, set())
            owners.discard(binding.aor)
            if not owners:
                self._by_flow.pop(flow, None)
        self.sink.removed(binding.aor, binding.contact)


def _tag() -> str:
    return secrets.token_hex(6)


def _aor_user(request: Request) -> str:
    to = request.to
    uri = to.sip_uri() if to.uri.lower().startswith("sip") else None
    if uri is None or not uri.user:
        raise RemoteProtocolError("REGISTER To must be a sip: URI with a user")
    return uri.user_unescaped or ""
