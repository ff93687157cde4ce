"""Who is calling (issue 3): a registered phone's address, then a trunk's, else a challenge.

A phone registered from the source address must authenticate (407); a trunk without inbound
credentials is trusted by its address; a trunk with them, or anybody else, is challenged. The
answer is the caller (number, display name, routing context, trunk) or the response to send
instead.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from softswitch.calls.authentication import RequestAuthenticator, Verdict
from softswitch.calls.registrar import Registrar
from softswitch.config import Config, Extension, Trunk
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request, Response, make_response
from softswitch.sip.transaction import Address
from softswitch.sip.uri import parse_uri, uri_user


@dataclass(frozen=True, slots=True)
class Caller:
    number: str
    display: str
    context: str
    trunk: Trunk | None


class CallerIdentity:
    def __init__(
        self, config: Config, registrar: Registrar, authenticator: RequestAuthenticator
    ) -> None:
        self.trunks = config.trunks
        self.registrar = registrar
        self.authenticator = authenticator
        self.extensions: dict[str, Extension] = {ext.number: ext for ext in config.extensions}

    def identify(self, request: Request, source: Address) -> Caller | Response:
        host, port = source[1], source[2]
        trunk: Trunk | None = None
        if self.registrar.extension_at(host, port) is None:
            trunk = self.trunk_at(host, port)
        if trunk is not None and not trunk.inbound_username:
            return _trunk_caller(request, trunk)
        decision = self.authenticator.authenticate(request, source, proxy=True)
        if decision.verdict is not Verdict.ACCEPTED:
            assert decision.response is not None
            return decision.response
        username = decision.username or ""
        if trunk is not None and username == trunk.inbound_username:
            return _trunk_caller(request, trunk)
        extension = self.extensions.get(username)
        if extension is None:
            return make_response(request, 403, to_tag=secrets.token_hex(6))
        return Caller(extension.number, extension.name, extension.context, None)

    def trunk_at(self, host: str, port: int) -> Trunk | None:
        for trunk in self.trunks:
            if trunk.host == host and trunk.port in (0, port):
                return trunk
        return None


def _trunk_caller(request: Request, trunk: Trunk) -> Caller:
    from_ = request.from_
    number = ""
    if from_.uri.lower().startswith(("sip:", "sips:", "tel:")):
        try:
            number = uri_user(parse_uri(from_.uri))
        except RemoteProtocolError:
            number = ""
    display = (from_.display_name or "").strip('"')
    return Caller(number or "anonymous", display, trunk.context, trunk)
