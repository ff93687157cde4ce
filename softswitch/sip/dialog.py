"""SIP dialogs (RFC 3261 §12): the state two user agents share between INVITE and BYE.

A dialog knows its identifiers, the remote target and route set, and both CSeq counters; it builds
in-dialog requests and checks that incoming ones are in order. It does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request, Response

DialogId = tuple[str, str, str]  # (Call-ID, local tag, remote tag), RFC 3261 §12


@dataclass(slots=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # our From/To header value without its tag
    remote_uri: str
    remote_target: str  # Request-URI of in-dialog requests: the peer's Contact
    local_cseq: int
    remote_cseq: int | None
    route_set: list[str] = field(default_factory=list)

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str) -> Self:
        """The dialog a 2xx (or 1xx with tag) to `invite` creates, RFC 3261 §12.1.1."""
        contacts = invite.contacts
        if not contacts:
            raise RemoteProtocolError("INVITE without Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=invite.from_.tag or "",
            local_uri=_without_tag(invite.header("To") or ""),
            remote_uri=_without_tag(invite.header("From") or ""),
            remote_target=contacts[0].uri,
            local_cseq=0,
            remote_cseq=invite.cseq.seq,
            route_set=invite.values("Record-Route"),
        )

    @classmethod
    def as_uac(cls, invite: Request, response: Response) -> Self:
        """The dialog a 2xx (or 1xx with tag) to our `invite` creates, RFC 3261 §12.1.2."""
        contacts = response.contacts
        remote_target = contacts[0].uri if contacts else invite.uri
        return cls(
            call_id=invite.call_id,
            local_tag=invite.from_.tag or "",
            remote_tag=response.to.tag or "",
            local_uri=_without_tag(invite.header("From") or ""),
            remote_uri=_without_tag(invite.header("To") or ""),
            remote_target=remote_target,
            local_cseq=invite.cseq.seq,
            remote_cseq=None,
            route_set=list(reversed(response.values("Record-Route"))),
        )

    def update_target(self, message: Request | Response) -> None:
        """A target refresh (re-INVITE and its 2xx) may move the remote target, §12.2."""
        contacts = message.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    def accept_request(self, request: Request) -> None:
        """Check an in-dialog request's CSeq, §12.2.2: lower than the last one is a 500."""
        seq = request.cseq.seq
        if request.method in ("ACK", "CANCEL"):
            return
        if self.remote_cseq is not None and seq < self.remote_cseq:
            raise RemoteProtocolError(f"CSeq {seq} lower than {self.remote_cseq}", 500)
        self.remote_cseq = seq

    def create_request(
        self,
        method: str,
        *,
        via: str,
        contact: str | None = None,
        max_forwards: int = 70,
        extra: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        cseq: int | None = None,
    ) -> Request:
        """An in-dialog request, §12.2.1.1; ACK reuses the INVITE's CSeq number (pass `cseq`)."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        headers: list[tuple[str, str]] = [
            ("Via", via),
            ("Max-Forwards", str(max_forwards)),
            ("From", f"{self.local_uri};tag={self.local_tag}"),
            ("To", f"{self.remote_uri};tag={self.remote_tag}"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        headers.extend(("Route", route) for route in self.route_set)
        if contact is not None:
            headers.append(("Contact", contact))
        if extra:
            headers.extend(extra)
        return Request(method, self.remote_target, headers, body)


def _without_tag(value: str) -> str:
    """A From/To header value with its tag parameter removed, everything else as it came."""
    lower = value.lower()
    close = value.rfind(">")
    start = lower.find(";tag=", close if close != -1 else 0)
    if start == -1:
        return value
    end = value.find(";", start + 1)
    return value[:start] + (value[end:] if end != -1 else "")
