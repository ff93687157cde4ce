"""The recordings store as RecordingTaps sees it, writing down what it was told, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Store:
    events: list[tuple[str, Any]] = field(default_factory=list)

    def opened(self, recording: Any, sample_rate: int, agent: str | None) -> None:
        self.events.append(("opened", agent))

    def paused(self, recording: Any, marks: Any) -> None:
        self.events.append(("paused", list(marks)))

    def closed(self, recording: Any, summary: Any, end_ts: float) -> None:
        self.events.append(("closed", summary))
