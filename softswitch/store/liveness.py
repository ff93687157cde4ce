"""What a crash leaves for the next start: when the switch was last alive, and the ACD's state.

Both are small files in the data dir, beside the database. The heartbeat is a file whose mtime
the running switch moves forward every `HEARTBEAT_INTERVAL_S`: after a kill -9 it says when the
calls in progress really ended, to within that interval, so their CDR rows bill the time talked
and not the downtime. The ACD state is the engine's snapshot (`acd/snapshot.py`), written whole
to a temporary file and renamed over the old one, so a kill mid-write leaves the previous one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Final

HEARTBEAT_FILENAME: Final = "heartbeat"
ACD_STATE_FILENAME: Final = "acd-state.json"
HEARTBEAT_INTERVAL_S: Final = 0.5

log = logging.getLogger(__name__)


class Heartbeat:
    """The running switch's heartbeat file; `last_beat` is read once at startup, before `beat`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / HEARTBEAT_FILENAME
        self._failing = False

    def last_beat(self) -> float | None:
        """When the previous run was last known alive, or None when none left a heartbeat."""
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return None

    def beat(self, now: float) -> None:
        """Move the mtime to `now`; a failure is logged once and never stops the switch."""
        try:
            try:
                os.utime(self.path, (now, now))
            except FileNotFoundError:
                self.path.touch()
                os.utime(self.path, (now, now))
        except OSError as exc:
            if not self._failing:
                log.warning(
                    "cannot update %s: %s (calls a crash cuts will end at its last good beat)",
                    self.path,
                    exc,
                )
            self._failing = True
        else:
            self._failing = False


class AcdStateFile:
    """The ACD engine's last snapshot (a JSON object)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / ACD_STATE_FILENAME

    def load(self) -> dict[str, Any] | None:
        """The snapshot the previous run left, or None (none, or unreadable: logged)."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the ACD state in %s: %s", self.path, exc)
            return None
        if not isinstance(data, dict):
            log.warning("ignoring the ACD state in %s: not a JSON object", self.path)
            return None
        return data

    def save(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(state, separators=(",", ":")))
            os.replace(tmp, self.path)
        except OSError as exc:  # a full disk must not take calls down with it
            log.warning("cannot save the ACD state to %s: %s", self.path, exc)
