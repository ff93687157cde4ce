"""F2: the calls up now (with held legs and the recording mark), and sparklines of calls up
and calls started over the last hour."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, Sparkline

from softswitch.console.state import ConsoleState, Pane
from softswitch.console.views import ConsoleView, clock, matches, plain, selected_key, sync_table

COLUMNS = (
    ("#", 5), ("Caller", 12), ("Callee", 12), ("Trunk", 9), ("State", 9), ("Hold", 5),
    ("Rec", 3),
)  # fmt: skip
STATE_STYLES = {"answered": "green", "ringing": "yellow", "routing": "yellow"}
# The recording mark: "rec" while recorded, "pau" while paused (a card number), blank if not.
RECORDING_CELLS = {"recording": ("rec", "bold red"), "paused": ("pau", "yellow"), "none": ("", "")}


class CallsView(ConsoleView):
    panes: ClassVar[frozenset[Pane]] = frozenset({Pane.CALLS})
    ticking: ClassVar[bool] = True
    DEFAULT_CSS = """
    CallsView .spark-row { height: 1; }
    CallsView .spark-label { width: 22; }
    CallsView Sparkline { width: 1fr; }
    CallsView DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(classes="spark-row"):
            yield Label("calls up, last hour", classes="spark-label")
            yield Sparkline([], id="calls-up")
        with Horizontal(classes="spark-row"):
            yield Label("calls started / min", classes="spark-label")
            yield Sparkline([], id="calls-started")
        table: DataTable[Text] = DataTable(cursor_type="row", id="calls-table")
        for label, width in COLUMNS:
            table.add_column(label, width=width, key=label)
        table.add_column("Time", width=8, key="Time")
        yield table

    def show(
        self, state: ConsoleState, now: float, needle: str, operations: frozenset[str]
    ) -> None:
        self.query_one("#calls-up", Sparkline).data = state.active_calls.values(now, carry=True)
        self.query_one("#calls-started", Sparkline).data = state.started_calls.values(
            now, carry=False
        )
        rows: dict[str, list[Text]] = {}
        for call in sorted(state.calls.values(), key=lambda c: c.call_id):
            held = ",".join(str(leg) for leg in sorted(call.held))
            cells = [
                plain(call.call_id),
                plain(call.caller),
                plain(call.callee),
                plain(call.trunk or ""),
                plain(call.state, STATE_STYLES.get(call.state, "")),
                plain(held, "bold magenta"),
                plain(*RECORDING_CELLS.get(call.recording, ("", ""))),
                plain(clock(call.duration_s(now))),
            ]
            if matches(cells, needle):
                rows[str(call.call_id)] = cells
        sync_table(self.query_one("#calls-table", DataTable), rows)

    def selected_call(self) -> int | None:
        key = selected_key(self.query_one("#calls-table", DataTable))
        return None if key is None else int(key)

    def summary(self, state: ConsoleState) -> str:
        return str(len(state.calls))
