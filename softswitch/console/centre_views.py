"""F5 wallboard and F6 agents: the call centre, fed only by pushed events.

The wallboard shows one row per queue over the chosen interval (`i` cycles last 15, 30, 60
minutes and today; every interval arrives in each `queue_statistics` event, so switching asks
the switch nothing), with sparklines of callers waiting and of the service level over the last
hour. The agents table shows state, reason, time in state, current call and today's figures.
The one-second tick only advances waits and times in state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, Sparkline

from softswitch.console.centre_state import INTERVALS, CentreConsoleState
from softswitch.console.state import SPARK_BUCKETS, ConsoleState, Pane
from softswitch.console.views import (
    ConsoleView,
    clock,
    matches,
    plain,
    selected_key,
    sync_table,
)

INTERVAL_LABELS = {"15m": "last 15 min", "30m": "last 30 min", "60m": "last 60 min"}
INTERVAL_LABELS["today"] = "today"
# 80 columns with the cells' padding: every figure stays on an 80x24 screen.
WALLBOARD_COLUMNS = (
    ("Queue", 5), ("Wait", 4), ("Max", 5), ("SL", 4), ("ASA", 4), ("AHT", 4),
    ("Ab%", 4), ("Off", 4), ("Ans", 4), ("Abd", 3), ("Agents", 17),
)  # fmt: skip
AGENT_COLUMNS = (
    ("Agent", 6), ("State", 10), ("Reason", 10), ("In state", 8), ("Call", 5),
    ("Calls", 5), ("Talk", 7), ("Wrap", 6),
)  # fmt: skip
STATE_STYLES = {
    "ready": "green",
    "offered": "yellow",
    "on call": "cyan",
    "wrap-up": "magenta",
    "not ready": "red",
}
SHORT_STATES = {"ready": "rdy", "offered": "off", "on call": "call", "wrap-up": "wrap"}


def _percent(value: object) -> str:
    return f"{100 * value:.0f}%" if isinstance(value, int | float) else "-"


def _seconds(value: object) -> str:
    return f"{value:.0f}s" if isinstance(value, int | float) else "-"


def _count(figures: Mapping[str, Any], key: str) -> str:
    value = figures.get(key)
    return str(value) if isinstance(value, int) else "-"


def agents_summary(by_state: object) -> str:
    """ "2 rdy 1 call 1 nr:lunch": agents by state, not ready by reason."""
    if not isinstance(by_state, Mapping):
        return ""
    parts = []
    for state, count in sorted(by_state.items()):
        label = SHORT_STATES.get(state) or str(state).replace("not ready", "nr").replace(" ", "")
        parts.append(f"{count} {label}")
    return " ".join(parts)


class WallboardView(ConsoleView):
    panes: ClassVar[frozenset[Pane]] = frozenset({Pane.QUEUES})
    ticking: ClassVar[bool] = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "next_interval", "interval"),
        Binding("c", "callers", "callers"),  # F7 narrowed to the selected queue
    ]
    DEFAULT_CSS = """
    WallboardView .spark-row { height: 1; }
    WallboardView .spark-label { width: 27; }
    WallboardView Sparkline { width: 1fr; }
    WallboardView DataTable { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.interval = "15m"
        self._last: tuple[ConsoleState, float, str, frozenset[str]] | None = None

    def compose(self) -> ComposeResult:
        yield Label(f"interval: {INTERVAL_LABELS[self.interval]} (i: next)", id="wb-interval")
        with Horizontal(classes="spark-row"):
            yield Label("callers waiting, last hour", classes="spark-label")
            yield Sparkline([], id="wb-waiting")
        with Horizontal(classes="spark-row"):
            yield Label("service level 15m, %", classes="spark-label")
            yield Sparkline([], id="wb-sl")
        table: DataTable[Text] = DataTable(cursor_type="row", id="wallboard")
        for label, width in WALLBOARD_COLUMNS:
            table.add_column(label, width=width, key=label)
        yield table

    def action_callers(self) -> None:
        queue = selected_key(self.query_one("#wallboard", DataTable))
        if queue is not None:
            self.act("view callers")
            self.act(f"filter {queue}")

    def action_next_interval(self) -> None:
        self.interval = INTERVALS[(INTERVALS.index(self.interval) + 1) % len(INTERVALS)]
        self.query_one("#wb-interval", Label).update(
            f"interval: {INTERVAL_LABELS[self.interval]} (i: next)"
        )
        if self._last is not None:
            self.show(*self._last)

    def show(
        self, state: ConsoleState, now: float, needle: str, operations: frozenset[str]
    ) -> None:
        self._last = (state, now, needle, operations)
        if not isinstance(state, CentreConsoleState):
            return
        queues = [state.queues[q] for q in sorted(state.queues)]
        waiting = [0.0] * SPARK_BUCKETS
        for queue in queues:
            series = queue.waiting_series.values(now, carry=True)
            waiting = [a + b for a, b in zip(waiting, series, strict=True)]
        self.query_one("#wb-waiting", Sparkline).data = waiting
        if queues:
            self.query_one("#wb-sl", Sparkline).data = queues[0].service_level_series.values(
                now, carry=True
            )
        rows: dict[str, list[Text]] = {}
        for queue in queues:
            f = queue.statistics.get(self.interval, {})
            cells = [
                plain(queue.queue),
                plain(len(queue.callers), "bold yellow" if queue.callers else ""),
                plain(clock(queue.longest_wait_s(now))),
                plain(_percent(f.get("service_level"))),
                plain(_seconds(f.get("asa_s"))),
                plain(_seconds(f.get("aht_s"))),
                plain(_percent(f.get("abandon_rate"))),
                plain(_count(f, "offered")),
                plain(_count(f, "answered")),
                plain(_count(f, "abandoned")),
                plain(agents_summary(f.get("agents_by_state"))),
            ]
            if matches(cells, needle):
                rows[queue.queue] = cells
        sync_table(self.query_one("#wallboard", DataTable), rows)

    def summary(self, state: ConsoleState) -> str:
        if not isinstance(state, CentreConsoleState):
            return ""
        return str(sum(len(q.callers) for q in state.queues.values()))


class AgentsView(ConsoleView):
    panes: ClassVar[frozenset[Pane]] = frozenset({Pane.AGENTS})
    ticking: ClassVar[bool] = True
    # The supervisor's actions on the selected agent (console/centre_actions.py).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "pause"),
        Binding("r", "ready", "ready"),
        Binding("o", "logout", "log out"),
        Binding("e", "end_wrap_up", "end wrap-up"),  # w is whisper (supervise.py)
    ]

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(cursor_type="row", id="agents")
        for label, width in AGENT_COLUMNS:
            table.add_column(label, width=width, key=label)
        yield table

    _state: CentreConsoleState | None = None

    def show(
        self, state: ConsoleState, now: float, needle: str, operations: frozenset[str]
    ) -> None:
        if not isinstance(state, CentreConsoleState):
            return
        self._state = state
        rows: dict[str, list[Text]] = {}
        for number in sorted(state.agents):
            a = state.agents[number]
            in_state = "" if a.since is None else clock(max(0, int(now - a.since)))
            cells = [
                plain(a.agent),
                plain(a.state, STATE_STYLES.get(a.state, "")),
                plain(a.reason),
                plain(in_state),
                plain("" if a.call_id is None else a.call_id),
                plain(a.calls_handled),
                plain(clock(int(a.talk_s))),
                plain(clock(int(a.wrap_up_s))),
            ]
            if matches(cells, needle):
                rows[number] = cells
        sync_table(self.query_one("#agents", DataTable), rows)

    def selected_agent(self) -> str | None:
        return selected_key(self.query_one("#agents", DataTable))

    def selected_call(self) -> int | None:
        """The selected agent's call (for hang up and hold)."""
        agent = self.selected_agent()
        state = self._state
        row = state.agents.get(agent) if agent is not None and state is not None else None
        return None if row is None else row.call_id

    def action_pause(self) -> None:
        if (agent := self.selected_agent()) is not None:
            self.act(f"pause {agent} ", confirm=True)  # the reason is typed

    def action_ready(self) -> None:
        if (agent := self.selected_agent()) is not None:
            self.act(f"ready {agent}")

    def action_logout(self) -> None:
        if (agent := self.selected_agent()) is not None:
            self.act(f"logout {agent}", confirm=True)

    def action_end_wrap_up(self) -> None:
        if (agent := self.selected_agent()) is not None:
            self.act(f"wrapup {agent}")

    def summary(self, state: ConsoleState) -> str:
        if not isinstance(state, CentreConsoleState):
            return ""
        return str(sum(1 for a in state.agents.values() if a.state != "logged out"))
