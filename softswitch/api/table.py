"""Every route the server registers and documents: the calls' table and the call centre's.

A switch without queues serves no call-centre route, and its document lists none, so a
console offers no wallboard there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from softswitch.api.answer import ANSWER_ROUTES
from softswitch.api.centre import CENTRE_ROUTES
from softswitch.api.routes import ROUTES, Route
from softswitch.api.supervision import SUPERVISION_ROUTES

ALL_ROUTES: Final[Sequence[Route]] = (
    *ROUTES,
    *CENTRE_ROUTES,
    *SUPERVISION_ROUTES,
    *ANSWER_ROUTES,
)


def served_routes(call_centre: bool) -> Sequence[Route]:
    return ALL_ROUTES if call_centre else (*ROUTES, *SUPERVISION_ROUTES, *ANSWER_ROUTES)
