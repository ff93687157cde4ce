"""F3: the registered phones and the trunks."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from softswitch.console.state import ConsoleState, Pane
from softswitch.console.views import ConsoleView, clock, matches, plain, sync_table

PHONE_COLUMNS = (("Ext", 6), ("From", 22), ("User agent", 20), ("Expires", 8), ("Contact", 40))
TRUNK_COLUMNS = (("Trunk", 10), ("Address", 22), ("Context", 14), ("Auth", 9))


class RegistrationsView(ConsoleView):
    panes: ClassVar[frozenset[Pane]] = frozenset({Pane.REGISTRATIONS, Pane.TRUNKS})
    ticking: ClassVar[bool] = True
    DEFAULT_CSS = """
    RegistrationsView #phones { height: 2fr; }
    RegistrationsView #trunks { height: 1fr; min-height: 3; }
    RegistrationsView Label { height: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Label("Phones", id="phones-title")
        phones: DataTable[Text] = DataTable(cursor_type="row", id="phones")
        for label, width in PHONE_COLUMNS:
            phones.add_column(label, width=width, key=label)
        yield phones
        yield Label("Trunks", id="trunks-title")
        trunks: DataTable[Text] = DataTable(cursor_type="row", id="trunks")
        for label, width in TRUNK_COLUMNS:
            trunks.add_column(label, width=width, key=label)
        yield trunks

    def show(
        self, state: ConsoleState, now: float, needle: str, operations: frozenset[str]
    ) -> None:
        rows: dict[str, list[Text]] = {}
        for (extension, contact), reg in sorted(state.registrations.items()):
            cells = [
                plain(extension),
                plain(reg.source),
                plain(reg.user_agent),
                plain(clock(reg.expires_in_s(now))),
                plain(contact),
            ]
            if matches(cells, needle):
                rows[f"{extension} {contact}"] = cells
        sync_table(self.query_one("#phones", DataTable), rows)
        self.query_one("#phones-title", Label).update(f"Phones ({len(state.registrations)})")
        title = self.query_one("#trunks-title", Label)
        if "list_trunks" not in operations or not state.trunks:
            title.update("Trunks (an admin's token shows them)")
            return
        trunk_rows: dict[str, list[Text]] = {}
        for trunk in state.trunks:
            auth = "/".join(
                word
                for word, on in (("in", trunk.inbound_auth), ("out", trunk.outbound_auth))
                if on
            )
            cells = [
                plain(trunk.name),
                plain(trunk.address),
                plain(trunk.context),
                plain(auth or "none"),
            ]
            if matches(cells, needle):
                trunk_rows[trunk.name] = cells
        title.update(f"Trunks ({len(state.trunks)})")
        sync_table(self.query_one("#trunks", DataTable), trunk_rows)

    def summary(self, state: ConsoleState) -> str:
        return str(len(state.registrations))
