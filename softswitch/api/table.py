"""Every route the server registers and documents: the calls' table and the call centre's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from softswitch.api.centre import CENTRE_ROUTES
from softswitch.api.routes import ROUTES, Route

ALL_ROUTES: Final[Sequence[Route]] = (*ROUTES, *CENTRE_ROUTES)
