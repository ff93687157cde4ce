"""The checks a new INVITE passes before it may become a call (RFC 3261 §16.3, §8.2.3), pure so
they are tested alone: Max-Forwards spent (483), a request that carries a Via of ours and came
back (482), a body that is not SDP (415), an Accept that excludes SDP (406)."""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.sip.message import Request
from softswitch.sip.transport import OUR_BRANCH_PREFIX

_SDP_ACCEPTED = ("application/sdp", "application/*", "*/*")


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    headers: tuple[tuple[str, str], ...] = ()


def invite_refusal(request: Request, ours: str) -> Refusal | None:
    """Why `request` is refused before routing, or None; `ours` is our advertised host:port."""
    max_forwards = request.header("Max-Forwards")
    if max_forwards is not None and int(max_forwards) == 0:
        return Refusal(483)
    for via in request.vias:
        if via.sent_by == ours and (via.branch or "").startswith(OUR_BRANCH_PREFIX):
            return Refusal(482)  # §16.3 step 4: a loop
    if request.body and request.content_type != "application/sdp":
        return Refusal(415, (("Accept", "application/sdp"),))
    accept = request.values("Accept")
    if accept and not any(a.split(";")[0].strip().lower() in _SDP_ACCEPTED for a in accept):
        return Refusal(406, (("Accept", "application/sdp"),))
    return None
