"""Agent feature codes from the phone: `*45` log in, `*46` log out, `*47` not ready (`*47` +
digits: the reason with that code in `[acd] not_ready_reasons`), `*48` ready.

The agent is the extension that dials; the change goes to the ACD engine at once, and the phone
hears a short confirmation ("thank you", or "that is not a valid option" when the engine or the
reason code refuses) and goodbye, then BYE.
"""

from __future__ import annotations

import logging

from softswitch.acd.errors import AcdError
from softswitch.calls.application import ApplicationFactory, CallServices
from softswitch.calls.call import Call
from softswitch.calls.player import PlayerApplication
from softswitch.calls.routing import RouteTarget
from softswitch.centre.queue import CallCentre
from softswitch.media.player import Pause, PlaybackFinished

log = logging.getLogger("softswitch.acd")

LOGIN, LOGOUT, NOT_READY, READY = "*45", "*46", "*47", "*48"
CODES = (LOGIN, LOGOUT, NOT_READY, READY)
DEFAULT_REASON = "not ready"  # *47 with no code


def feature_prefixes() -> dict[str, RouteTarget]:
    """Routing-plan prefixes: each code (and `*47` + digits) reaches the feature application."""
    return {code: RouteTarget("agent_feature", code, code) for code in CODES}


class AgentFeature(PlayerApplication):
    kind = "agent_feature"
    interruptible = False

    def __init__(
        self, centre: CallCentre, target: RouteTarget, services: CallServices, call: Call
    ) -> None:
        super().__init__(services, call, centre.shared)
        self.centre = centre
        self.target = target

    @classmethod
    def factory(cls, centre: CallCentre) -> ApplicationFactory:
        def create(target: RouteTarget, services: CallServices, call: Call) -> AgentFeature:
            centre.services = services
            return cls(centre, target, services, call)

        return create

    def started(self) -> None:
        ok = self._apply(self.call.caller, self.target.number)
        names = ["thank_you", "goodbye"] if ok else ["invalid_option", "goodbye"]
        self.play([Pause(0.3), *(self.shared.prompt(n) for n in names), Pause(0.3)])

    def _apply(self, agent: str, dialled: str) -> bool:
        centre = self.centre
        engine, now = centre.engine, centre.wall_clock()
        code, rest = dialled[:3], dialled[3:]
        try:
            if code == LOGIN and not rest:
                events = engine.login(agent, now)
            elif code == LOGOUT and not rest:
                events = engine.logout(agent, now)
            elif code == READY and not rest:
                events = engine.ready(agent, now)
            elif code == NOT_READY:
                reason = centre.acd.reason_for_code(rest) if rest else DEFAULT_REASON
                if reason is None:
                    log.info("agent %s: no not-ready reason with code %r", agent, rest)
                    return False
                events = engine.pause(agent, reason, now)
            else:
                return False
        except AcdError as exc:
            log.info("agent %s: %s refused: %s", agent, dialled, exc)
            return False
        log.info("agent %s: %s done", agent, dialled)
        centre.apply(events)
        return True

    def finished(self, event: PlaybackFinished) -> None:
        if not event.interrupted and not self.call.ended:
            self.hang_up_from_switch(f"agent feature {self.target.number}")
