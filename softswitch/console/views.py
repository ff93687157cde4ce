"""The registry of the console's views, and what every view shares.

A view is one registration: its name, its function key, the API operations it needs and a
factory. The console shows a view only when the switch it is connected to offers every
operation the view needs (read from the switch's OpenAPI document), so a view of data the
switch does not serve, such as a wallboard before the ACD's routes exist, never appears as an
empty screen; adding one is `registry.register(ViewSpec(...))` in `default_views()`.

Text from the switch (user agents, log messages, numbers) reaches the screen as `rich.text.Text`,
never as a string that Rich would read as markup: a phone calling itself "[blink]" is shown
as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from rich.text import Text
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable

from softswitch.console.state import ConsoleState, Pane

FUNCTION_KEYS: Final = tuple(f"f{n}" for n in range(2, 11))  # F1 is help, as in fs_cli


class ConsoleView(Vertical):
    """A screenful of the console: redrawn from the state when one of its panes changed."""

    panes: ClassVar[frozenset[Pane]] = frozenset()
    # True where the view counts time (durations, expiries): redrawn each second, from the
    # console's own clock; the data still comes only from pushed events.
    ticking: ClassVar[bool] = False

    class Ready(Message):
        """The view's widgets exist: it can be drawn."""

        def __init__(self, view: ConsoleView) -> None:
            super().__init__()
            self.view = view

    # Set by the app when it handles Ready: from then on the view's widgets can be queried.
    # `is_mounted` alone is not enough; a view can be mounted a moment before its children.
    drawable: bool = False

    class Act(Message):
        """A key of the view asks the app for a command line: run it, or (`confirm`) put it
        on the command line for the person to finish or confirm with Enter."""

        def __init__(self, line: str, confirm: bool = False) -> None:
            super().__init__()
            self.line = line
            self.confirm = confirm

    def on_mount(self) -> None:
        self.post_message(self.Ready(self))

    def act(self, line: str, confirm: bool = False) -> None:
        self.post_message(self.Act(line, confirm))

    def show(
        self, state: ConsoleState, now: float, needle: str, operations: frozenset[str]
    ) -> None:
        raise NotImplementedError

    def selected_call(self) -> int | None:
        """The call of the selected row, for the call actions; None where there is none."""
        return None

    def selected_agent(self) -> str | None:
        """The agent of the selected row, for the agent actions; None where there is none."""
        return None

    def summary(self, state: ConsoleState) -> str:
        """A few characters for the view's tab ("3" calls up)."""
        return ""


@dataclass(frozen=True, slots=True)
class ViewSpec:
    name: str  # :view NAME
    title: str
    key: str  # a function key, "f2" ... "f10"
    needs: tuple[str, ...]  # operation ids of the API that feed it
    make: Callable[[], ConsoleView]
    agents_only: bool = False  # shown only to a user who is an agent (--user 1001)

    def offered(self, operations: frozenset[str], agent: str | None = None) -> bool:
        if self.agents_only and agent is None:
            return False
        return all(op in operations for op in self.needs)


class ViewRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, ViewSpec] = {}

    def register(self, spec: ViewSpec) -> None:
        if spec.key not in FUNCTION_KEYS:
            raise ValueError(f"view {spec.name}: key {spec.key} is not one of F2-F10")
        taken = {s.key: s.name for s in self._specs.values()}
        if spec.name in self._specs or spec.key in taken:
            raise ValueError(f"view {spec.name}: name or key {spec.key} already registered")
        self._specs[spec.name] = spec

    def specs(self) -> list[ViewSpec]:
        return sorted(self._specs.values(), key=lambda s: FUNCTION_KEYS.index(s.key))

    def get(self, name: str) -> ViewSpec | None:
        return self._specs.get(name)


def default_views() -> ViewRegistry:
    from softswitch.console.agent_view import AgentView
    from softswitch.console.calls_view import CallsView
    from softswitch.console.centre_views import AgentsView, WallboardView
    from softswitch.console.log_view import LogView
    from softswitch.console.queue_view import QueueCallersView
    from softswitch.console.registrations_view import RegistrationsView

    registry = ViewRegistry()
    registry.register(ViewSpec("calls", "Calls", "f2", ("list_calls", "events_socket"), CallsView))
    registry.register(
        ViewSpec(
            "registrations",
            "Registrations",
            "f3",
            ("list_registrations", "events_socket"),
            RegistrationsView,
        )
    )
    registry.register(ViewSpec("log", "Log", "f4", ("list_logs", "events_socket"), LogView))
    registry.register(
        ViewSpec("wallboard", "Wallboard", "f5", ("list_queues", "events_socket"), WallboardView)
    )
    registry.register(
        ViewSpec("agents", "Agents", "f6", ("list_agents", "events_socket"), AgentsView)
    )
    # the call centre's actions: waiting callers (supervisors), and the agent's own screen
    registry.register(
        ViewSpec("callers", "Callers", "f7", ("list_queues", "events_socket"), QueueCallersView)
    )
    registry.register(
        ViewSpec("agent", "Me", "f8", ("list_agents", "events_socket"), AgentView, True)
    )
    return registry


# ---- shared drawing -------------------------------------------------------------------------


def plain(value: object, style: str = "") -> Text:
    """Untrusted text as a cell: never parsed as markup; control characters made visible."""
    text = str(value)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def matches(cells: Sequence[Text], needle: str) -> bool:
    return not needle or any(needle in cell.plain.lower() for cell in cells)


def clock(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def sync_table(table: DataTable[Text], rows: Mapping[str, Sequence[Text]]) -> None:
    """Make `table` show `rows` (by key, in order) changing only what changed, so the selected
    row stays selected while others come and go."""
    existing = [key.value for key in table.rows if key.value is not None]
    kept = [key for key in existing if key in rows]
    appended = [key for key in rows if key not in existing]
    if kept + appended != list(rows):  # rows added in between: redraw all, in order
        selected = selected_key(table)
        table.clear()
        for key, cells in rows.items():
            table.add_row(*cells, key=key)
        if selected is not None and selected in rows:
            table.move_cursor(row=table.get_row_index(selected))
        return
    for key in set(existing) - rows.keys():
        table.remove_row(key)
    columns = list(table.columns)
    for key, cells in rows.items():
        if key not in existing:
            table.add_row(*cells, key=key)
            continue
        current = table.get_row(key)
        for column, old, new in zip(columns, current, cells, strict=True):
            if old != new:
                table.update_cell(key, column, new)


def selected_key(table: DataTable[Text]) -> str | None:
    if table.row_count == 0:
        return None
    row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    return row_key.value
