"""F8 "Me": the agent's own screen (`softswitch console --user 1001`), shown to agent users only.

The top line is the agent's state, reason and time in state with today's figures; under it
the screen pop of the latest call offered, filled the moment `call_offered` arrives (before
the agent's phone is answered): caller number, queue, call, the IVR's variables and the
queue's CRM link. Keys: `a` answer the offered call (the phone answers by itself: `:answer`),
`r` ready, `n` not ready (fills `:pause AGENT ` for the reason), `e` end wrap-up, `h` hold, `t`
transfer (fills `:transfer CALL `) and `ctrl+k` hang up the
agent's call, each one command of the line.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Label, Static

from softswitch.console.centre_state import AgentRow, CentreConsoleState, Offer
from softswitch.console.centre_views import STATE_STYLES
from softswitch.console.state import ConsoleState, Pane
from softswitch.console.views import ConsoleView, clock, plain, sync_table

KEYS_HINT = "a answer  r ready  n not ready  e end wrap-up  h hold  t transfer  ^k hang up"


def state_line(row: AgentRow | None, agent: str, now: float) -> Text:
    """Two lines: the state (with reason, time in it, call) and today's figures."""
    line = Text()
    line.append(f" agent {agent} ", style="bold reverse")
    if row is None:
        return line.append("  (not known to the switch yet)")
    line.append("  ")
    label = f"{row.state}: {row.reason}" if row.reason else row.state
    line.append(f"● {label}", style=f"bold {STATE_STYLES.get(row.state, '')}".strip())
    if row.since is not None:
        line.append(f"  {clock(max(0, int(now - row.since)))}")
    if row.call_id is not None:
        line.append(f"  call {row.call_id}", style="bold cyan")
    line.append(
        f"\n today: {row.calls_handled} calls, talk {clock(int(row.talk_s))},"
        f" wrap-up {clock(int(row.wrap_up_s))}"
    )
    return line


def pop_rows(offer: Offer) -> dict[str, list[Text]]:
    """The screen pop as (field, value) rows; values from the network shown as text."""
    at = datetime.fromtimestamp(offer.at).strftime("%H:%M:%S")
    rows = {
        "caller": [plain("Caller"), plain(offer.caller, "bold")],
        "queue": [plain("Queue"), plain(offer.queue)],
        "call": [plain("Call"), plain("" if offer.call_id is None else offer.call_id)],
        "at": [plain("Offered"), plain(at)],
    }
    for name, value in offer.variables:
        rows[f"var.{name}"] = [plain(name, "italic"), plain(value)]
    if offer.screen_pop_url:
        rows["url"] = [plain("CRM"), plain(offer.screen_pop_url, "underline")]
    return rows


class AgentView(ConsoleView):
    panes: ClassVar[frozenset[Pane]] = frozenset({Pane.AGENTS, Pane.CALLS})
    ticking: ClassVar[bool] = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "answer", "answer"),
        Binding("r", "ready", "ready"),
        Binding("n", "not_ready", "not ready"),
        Binding("e", "end_wrap_up", "end wrap-up"),
        Binding("t", "transfer", "transfer"),
    ]
    DEFAULT_CSS = """
    AgentView #me-state { height: 2; }
    AgentView #me-pop-title { height: 1; margin-top: 1; }
    AgentView DataTable { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._agent: str | None = None
        self._call: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="me-state")
        yield Label(KEYS_HINT, id="me-keys")
        yield Label("screen pop: no call offered yet", id="me-pop-title")
        table: DataTable[Text] = DataTable(cursor_type="row", show_header=False, id="me-pop")
        table.add_column("field", width=16, key="field")
        table.add_column("value", width=58, key="value")
        yield table

    def show(
        self, state: ConsoleState, now: float, needle: str, operations: frozenset[str]
    ) -> None:
        if not isinstance(state, CentreConsoleState) or state.me is None:
            return
        self._agent = state.me
        row = state.agents.get(state.me)
        self._call = None if row is None else row.call_id
        self.query_one("#me-state", Static).update(state_line(row, state.me, now))
        offer = state.offers.get(state.me)
        if offer is None:
            return
        title = f"screen pop: call from {offer.caller} in queue {offer.queue}"
        if row is not None and row.call_id is not None and row.call_id == offer.call_id:
            title += f" ({row.state})"
        self.query_one("#me-pop-title", Label).update(Text(title, style="bold"))
        sync_table(self.query_one("#me-pop", DataTable), pop_rows(offer))

    def selected_call(self) -> int | None:
        return self._call  # the agent's own call, whatever row is selected

    def selected_agent(self) -> str | None:
        return self._agent

    def action_answer(self) -> None:
        self.act("answer")  # the offered call: the command line finds it

    def action_ready(self) -> None:
        if self._agent is not None:
            self.act(f"ready {self._agent}")

    def action_not_ready(self) -> None:
        if self._agent is not None:
            self.act(f"pause {self._agent} ", confirm=True)

    def action_transfer(self) -> None:
        if self._call is not None:
            self.act(f"transfer {self._call} ", confirm=True)  # the target is typed

    def action_end_wrap_up(self) -> None:
        if self._agent is not None:
            self.act(f"wrapup {self._agent}")
