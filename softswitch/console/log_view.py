"""F4: warnings and security events of the switch, newest last."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import RichLog

from softswitch.console.state import ConsoleState, LogLine, Pane
from softswitch.console.views import ConsoleView, plain

LEVEL_STYLES = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold white on red"}


def render_line(line: LogLine) -> Text:
    stamp = datetime.fromtimestamp(line.time).strftime("%H:%M:%S")
    text = Text(f"{stamp} ", style="dim")
    text.append(f"{line.level:<8}", style=LEVEL_STYLES.get(line.level, ""))
    if line.security:
        text.append("SECURITY ", style="bold magenta")
    text.append(f"{line.logger.removeprefix('softswitch.')}: ", style="cyan")
    text.append_text(plain(line.message))
    return text


class LogView(ConsoleView):
    panes: ClassVar[frozenset[Pane]] = frozenset({Pane.LOGS})

    def compose(self) -> ComposeResult:
        yield RichLog(id="log", wrap=True, markup=False, highlight=False, max_lines=1000)

    def show(
        self, state: ConsoleState, now: float, needle: str, operations: frozenset[str]
    ) -> None:
        log = self.query_one("#log", RichLog)
        log.clear()
        if not state.logs:
            log.write(Text("no warnings or security events yet", style="dim"))
        for line in state.logs:
            rendered = render_line(line)
            if not needle or needle in rendered.plain.lower():
                log.write(rendered)

    def summary(self, state: ConsoleState) -> str:
        return str(len(state.logs))
