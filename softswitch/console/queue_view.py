"""F7: the callers waiting in each queue, in the order they will be served, for the
supervisor's actions on them: `m` move to another queue (fills `:move CALL `), `t` to the head
of its queue, Ctrl-K hang up. Fed by queue_caller_joined / queue_caller_left; the one-second
tick grows the waits from the console's own clock.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label

from softswitch.console.centre_state import CentreConsoleState
from softswitch.console.state import ConsoleState, Pane
from softswitch.console.views import ConsoleView, clock, matches, plain, selected_key, sync_table

COLUMNS = (("Queue", 6), ("Call", 6), ("Caller", 18), ("Wait", 8), ("", 6))


class QueueCallersView(ConsoleView):
    panes: ClassVar[frozenset[Pane]] = frozenset({Pane.QUEUES})
    ticking: ClassVar[bool] = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "move", "move to queue"),
        Binding("t", "head", "to head"),
    ]
    DEFAULT_CSS = "QueueCallersView DataTable { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield Label("m: move to another queue  t: to the head  ctrl+k: hang up", id="qc-keys")
        table: DataTable[Text] = DataTable(cursor_type="row", id="queue-callers")
        for label, width in COLUMNS:
            table.add_column(label, width=width, key=label or "mark")
        yield table

    def show(
        self, state: ConsoleState, now: float, needle: str, operations: frozenset[str]
    ) -> None:
        if not isinstance(state, CentreConsoleState):
            return
        rows: dict[str, list[Text]] = {}
        for number in sorted(state.queues):
            for call in state.serving_order(number):
                caller, joined = state.queues[number].callers[call]
                head = call in state.queues[number].heads
                cells = [
                    plain(number),
                    plain(call),
                    plain(caller),
                    plain(clock(max(0, int(now - joined))), "bold yellow"),
                    plain("head" if head else "", "cyan"),
                ]
                if matches(cells, needle):
                    rows[str(call)] = cells
        sync_table(self.query_one("#queue-callers", DataTable), rows)

    def selected_call(self) -> int | None:
        key = selected_key(self.query_one("#queue-callers", DataTable))
        return None if key is None else int(key)

    def action_move(self) -> None:
        call = self.selected_call()
        if call is not None:
            self.act(f"move {call} ", confirm=True)

    def action_head(self) -> None:
        call = self.selected_call()
        if call is not None:
            self.act(f"head {call}")

    def summary(self, state: ConsoleState) -> str:
        if not isinstance(state, CentreConsoleState):
            return ""
        return str(sum(len(q.callers) for q in state.queues.values()))
