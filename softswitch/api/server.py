"""The API's HTTP and WebSocket server (aiohttp) inside the switch's event loop.

aiohttp serves HTTP and WebSocket from one server on the running asyncio loop (uvloop), is
typed, and is maintained by the aio-libs team; its client side is what `client.py` uses.
Every route of `table.served_routes` is wrapped here with the same check: the bearer token (the
`Authorization` header, or `?token=` for WebSockets, which browsers cannot give headers), then
the route's ACL with its path parameters filled in; 401 and 403 never reach a handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from aiohttp import WSCloseCode, web

from softswitch.api.auth import Directory, LoginGuard, RateLimitingGuard, Token, TokenStore
from softswitch.api.centre import CentreControl
from softswitch.api.control import CallControl
from softswitch.api.events import EventHub
from softswitch.api.log_feed import LogFeed
from softswitch.api.permissions import Scope, Teams, fill, granted
from softswitch.api.routes import ApiError, Context, Route, Services
from softswitch.api.table import served_routes
from softswitch.calls.registrar import Registrar
from softswitch.config import Trunk
from softswitch.config_api import ApiConfig

log = logging.getLogger("softswitch.api")

MAX_BODY_BYTES: Final = 64 * 1024
SHUTDOWN_TIMEOUT_S: Final = 2.0


class ApiStartupError(Exception):
    """The API could not listen (its port taken, its address not ours)."""


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": message, "status": status}, status=status, headers=headers or None
    )


def _bearer(request: web.Request, route: Route) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if route.websocket:
        return request.query.get("token") or None
    return None


def guarded(
    route: Route, services: Services
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The route's handler behind the token and ACL check, with ApiError as JSON."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            token: Token | None = None
            if route.acl is not None:
                value = _bearer(request, route)
                token = services.tokens.verify(value) if value else None
                if token is None:
                    raise ApiError(
                        401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
                    )
                acl = fill(route.acl, request.match_info)
                if not granted(token.principal.role, acl):
                    raise ApiError(403, f"role {token.principal.role.value} lacks {acl}")
            return await route.handler(Context(request, services, token))
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)

    return handle


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405, 413) as JSON too; a bug is a 500, logged."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason)
    except Exception:
        log.exception("API error on %s %s", request.method, request.path)
        return error_response(500, "internal error")


def build_app(services: Services) -> web.Application:
    app = web.Application(middlewares=[_json_errors], client_max_size=MAX_BODY_BYTES)
    for route in served_routes(services.centre is not None):
        app.router.add_route(route.method, route.aiohttp_path, guarded(route, services))
    return app


class ApiServer:
    """Owns the listening socket, the services and every open WebSocket."""

    def __init__(
        self,
        config: ApiConfig,
        control: CallControl,
        *,
        registrar: Registrar | None = None,
        trunks: Sequence[Trunk] = (),
        guard: LoginGuard | None = None,
        clock: Callable[[], float] = time.time,
        centre: CentreControl | None = None,
    ) -> None:
        self.config = config
        teams = Teams(config.users)
        scope = Scope(teams)
        self.hub = EventHub(scope, clock)
        self.logs = LogFeed(self.hub)
        self.services = Services(
            config=config,
            control=control,
            directory=Directory(config.users),
            tokens=TokenStore(config.token_lifetime_s, clock),
            guard=guard
            or RateLimitingGuard(config.max_login_failures, config.login_failure_window_s, clock),
            scope=scope,
            hub=self.hub,
            registrar=registrar,
            trunks=trunks,
            logs=self.logs,
            centre=centre,
        )
        self._runner: web.AppRunner | None = None
        self.port = config.port

    async def start(self) -> None:
        runner = web.AppRunner(
            build_app(self.services), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ApiStartupError(
                f"cannot serve the API on {self.config.host}:{self.config.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._runner = runner
        self.logs.attach(asyncio.get_running_loop())
        if runner.addresses:  # the port bound when the config asked for any (tests)
            self.port = int(runner.addresses[0][1])
        log.info("CTI API on http://%s:%d/api/v1", self.config.host, self.port)

    async def stop(self) -> None:
        self.logs.detach()
        self.hub.close()
        for ws in list(self.services.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"switch shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
