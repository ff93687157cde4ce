"""The operator console (Textual): views from the registry, keys people know, a command line.

F1 help and F2-F10 views as fs_cli has them, `:` commands and `/` filter as k9s, `?` the key
list. The screen is fed only by the `Session` (API snapshots and pushed events); a one-second
tick redraws durations and expiries from the console's own clock, without asking the switch.
Hang-up, the one action that cannot be undone, fills the command line (`:hangup 7`) for Enter
to confirm; hold and resume act at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import ClassVar, Final

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import ContentSwitcher, Footer, Input, Static

from softswitch.api.client import ApiClientError
from softswitch.console import supervise
from softswitch.console.centre_actions import CENTRE_COMMANDS, run_centre_command
from softswitch.console.centre_state import CentreConsoleState
from softswitch.console.commands import COMMANDS, Command, CommandError, parse
from softswitch.console.session import Credentials, Link, Session, Status
from softswitch.console.state import Pane
from softswitch.console.views import ConsoleView, ViewRegistry, ViewSpec, default_views

TICK_S: Final = 1.0
LINK_STYLES = {
    Link.CONNECTED: "bold green",
    Link.CONNECTING: "bold yellow",
    Link.RETRYING: "bold red",
    Link.REFUSED: "bold red",
}
KEYS: Final = (
    ("F1", "help: keys, commands, views"),
    ("F2-F10", "views (those the switch offers)"),
    (":", "command line (Enter runs, Esc closes)"),
    ("/", "filter the rows of the view (Esc clears)"),
    ("?", "this key list"),
    ("up/down", "select a row"),
    ("ctrl+k", "hang up the selected call (fills :hangup, Enter confirms)"),
    ("h / r", "hold / resume the caller of the selected call"),
    # the call centre (console/centre_actions.py): on F6 agents, F7 callers, F5, F8
    ("p r o e", "F6: pause (type the reason), ready, log out, end wrap-up the agent"),
    ("m / t", "F7: move the caller to a queue (type it), put it at the head"),
    ("c", "F5: the selected queue's waiting callers (F7)"),
    ("r n e t", "F8 (agents): ready, not ready (reason), end wrap-up, transfer (target)"),
    ("ctrl+c", "quit (under softswitch run: stop the switch)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,question_mark,q", "dismiss", "close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: 78; max-height: 22; border: round $accent; padding: 0 1;
                          background: $surface; overflow-y: auto; }
    """

    def __init__(self, text: Text) -> None:
        super().__init__()
        self._text = text

    def compose(self) -> ComposeResult:
        yield Static(self._text, id="help-text")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


def help_text(views: list[ViewSpec], keys_only: bool) -> Text:
    text = Text()
    text.append("Keys\n", style="bold")
    for key, what in KEYS:
        text.append(f"  {key:<8}", style="cyan")
        text.append(f" {what}\n")
    if keys_only:
        return text
    text.append("Views\n", style="bold")
    for spec in views:
        text.append(f"  {spec.key.upper():<8}", style="cyan")
        text.append(f" {spec.title} (:view {spec.name})\n")
    text.append("Commands\n", style="bold")
    for command in COMMANDS.values():
        text.append(f"  :{command.name} {command.usage}".ljust(22), style="cyan")
        text.append(f" {command.help}\n")
    return text


class ConsoleApp(App[None]):
    TITLE = "softswitch console"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "quit", priority=True),
        Binding("f1", "help", "help"),
        Binding("question_mark", "keys", "keys", show=False),
        Binding("colon", "command_line", ":cmd"),
        Binding("slash", "filter_line", "/filter"),
        Binding("escape", "close_line", "close", show=False),
        Binding("ctrl+k", "hang_up", "hang up"),
        Binding("h", "hold", "hold", show=False),
        Binding("r", "resume", "resume", show=False),
        *(Binding(key, f"supervise('{mode}')", mode, show=False) for key, mode in supervise.KEYS),
        Binding("x", "release", "release", show=False),
    ]
    DEFAULT_CSS = """
    #status { height: 1; background: $panel; }
    #tabs { height: 1; background: $panel; }
    #views { height: 1fr; }
    #message { height: 1; }
    #line { height: 1; border: none; padding: 0; display: none; }
    #line.open { display: block; }
    """

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        views: ViewRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.url = url
        self.registry = views or default_views()
        self.state = CentreConsoleState()
        self.clock = clock
        self.session = Session(
            url, credentials, self.state, self._changed, self._status, clock=clock
        )
        self.views: dict[str, ConsoleView] = {}
        self.current: str | None = None
        self.needle = ""
        self._line_mode = ":"
        self.redraws = 0  # views redrawn after an event or snapshot (tests wait on it)
        self.message = ""

    # ---- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="tabs")
        with ContentSwitcher(id="views"):
            yield Vertical(Static("waiting for the switch...", id="waiting"), id="none")
        yield Static(id="message")
        # Focusable only while open; a filled line (":pause 1001 ") is added to, not replaced.
        yield Input(id="line", disabled=True, select_on_focus=False)
        yield Footer()

    def on_mount(self) -> None:
        for spec in self.registry.specs():
            self.bind(spec.key, f"show_view('{spec.name}')", description=spec.title, show=False)
        self._status(self.session.status)
        self.run_worker(self.session.run(), name="session")
        self.set_interval(TICK_S, self._tick)

    def on_unmount(self) -> None:
        self.session.stop()

    async def action_quit(self) -> None:
        self.session.stop()
        self.exit()

    # ---- what the session tells ------------------------------------------------------------

    def offered(self) -> list[ViewSpec]:
        agent = self.session.user.agent if self.session.user else None
        return [s for s in self.registry.specs() if s.offered(self.session.operations, agent)]

    def _status(self, status: Status) -> None:
        # The session's worker calls in while the app may still be composing or already be
        # tearing its screen down (Ctrl-C, the end of a test): nothing to draw on then.
        with contextlib.suppress(NoMatches):
            self._show_status(status)

    def _show_status(self, status: Status) -> None:
        if status.link is Link.CONNECTED:
            self._mount_views()
        user = self.session.user
        who = f"{user.username} ({user.role})@" if user else ""
        text = Text(" softswitch ", style="bold reverse")
        text.append(f" {who}{self.url} ")
        text.append(f"● {status.text}", style=LINK_STYLES[status.link])
        if self.is_running:
            self.query_one("#status", Static).update(text)

    def _mount_views(self) -> None:
        switcher = self.query_one("#views", ContentSwitcher)
        for spec in self.offered():
            if spec.name not in self.views:
                view = spec.make()
                view.id = f"view-{spec.name}"
                view.display = False  # the switcher shows the current one only
                self.views[spec.name] = view
                switcher.mount(view)

    @on(ConsoleView.Ready)
    def _view_ready(self, event: ConsoleView.Ready) -> None:
        event.view.drawable = True
        if self.current is None:  # an agent starts on its own screen
            self.action_show_view("agent" if "agent" in self.views else next(iter(self.views)))
        else:
            self._draw(event.view)
        self._draw_tabs()

    @on(ConsoleView.Act)
    async def _view_act(self, event: ConsoleView.Act) -> None:
        if event.confirm:
            self._open_line(":", event.line)
        else:
            await self.run_command(event.line)

    def _changed(self, panes: set[Pane]) -> None:
        with contextlib.suppress(NoMatches):  # see _status
            self._redraw(panes)

    def _redraw(self, panes: set[Pane]) -> None:
        for view in self.views.values():
            if view.panes & panes:
                self._draw(view)
        self._draw_tabs()

    def _draw(self, view: ConsoleView) -> None:
        if not (view.drawable and view.is_mounted):
            return  # drawn when Ready
        view.show(self.state, self.clock(), self.needle, self.session.operations)
        self.redraws += 1

    def _tick(self) -> None:
        view = self.views.get(self.current or "")
        if view is not None and view.ticking:
            with contextlib.suppress(NoMatches):  # see _status
                self._draw(view)

    def _draw_tabs(self) -> None:
        # As much as the width holds, so every view's key stays on an 80-column screen: titles
        # and counts, then counts but zeros, then titles cut short with counts, then without.
        forms = (("all", False), ("nonzero", False), ("nonzero", True), ("none", True))
        for counts, short in forms:
            text = self._tabs(counts, short)
            if text.cell_len <= max(self.size.width, 1):
                break
        self.query_one("#tabs", Static).update(text)

    def _tabs(self, counts: str, short: bool) -> Text:
        text = Text()
        for spec in self.offered():
            view = self.views.get(spec.name)
            count = view.summary(self.state) if view is not None and counts != "none" else ""
            if counts == "nonzero" and count == "0":
                count = ""
            title = spec.title[:4] if short else spec.title
            label = f" {spec.key.upper()} {title}{f' {count}' if count else ''} "
            text.append(label, style="bold reverse" if spec.name == self.current else "")
        if self.needle:
            text.append(f"  filter: {self.needle}", style="italic yellow")
        return text

    def say(self, message: str, error: bool = False) -> None:
        self.message = message
        self.query_one("#message", Static).update(Text(message, style="red" if error else ""))

    # ---- actions ---------------------------------------------------------------------------

    def action_show_view(self, name: str) -> None:
        view = self.views.get(name)
        if view is None:
            spec = self.registry.get(name)
            why = "no such view" if spec is None else "the switch does not offer it"
            self.say(f"view {name}: {why}", error=True)
            return
        self.current = name
        self.query_one("#views", ContentSwitcher).current = view.id
        self._draw(view)
        self._focus_view()
        self._draw_tabs()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_text(self.registry.specs(), keys_only=False)))

    def action_keys(self) -> None:
        self.push_screen(HelpScreen(help_text(self.registry.specs(), keys_only=True)))

    def _open_line(self, mode: str, value: str = "") -> None:
        self._line_mode = mode
        line = self.query_one("#line", Input)
        line.placeholder = "command (:help)" if mode == ":" else "filter rows"
        line.add_class("open")
        line.disabled = False
        line.value = value
        line.cursor_position = len(value)
        line.focus()
        self.say(mode)

    def action_command_line(self) -> None:
        self._open_line(":")

    def action_filter_line(self) -> None:
        self._open_line("/", self.needle)

    def action_close_line(self) -> None:
        line = self.query_one("#line", Input)
        if line.has_class("open"):
            self._close_line(line)
            if self._line_mode == "/":
                self._set_filter("")
            self.say("")
        elif self.needle:
            self._set_filter("")

    def _close_line(self, line: Input) -> None:
        line.remove_class("open")
        line.disabled = True
        self._focus_view()

    def _focus_view(self) -> None:
        view = self.views.get(self.current or "")
        if view is not None:
            for widget in view.query("DataTable, RichLog"):
                widget.focus()
                return

    @on(Input.Changed, "#line")
    def _typed(self, event: Input.Changed) -> None:
        if self._line_mode == "/":
            self._set_filter(event.value)

    @on(Input.Submitted, "#line")
    async def _submitted(self, event: Input.Submitted) -> None:
        self._close_line(self.query_one("#line", Input))
        if self._line_mode == "/":
            self.say(f"filter: {self.needle}" if self.needle else "")
            return
        await self.run_command(event.value)

    def _set_filter(self, text: str) -> None:
        self.needle = text.strip().lower()
        view = self.views.get(self.current or "")
        if view is not None:
            self._draw(view)
        self._draw_tabs()

    def _selected_call(self) -> int | None:
        view = self.views.get(self.current or "")
        call = view.selected_call() if view is not None else None
        if call is None:
            self.say("select a call first (F2)", error=True)
        return call

    def action_hang_up(self) -> None:
        call = self._selected_call()
        if call is not None:
            self._open_line(":", f"hangup {call}")

    async def action_hold(self) -> None:
        call = self._selected_call()
        if call is not None:
            await self.run_command(f"hold {call}")

    async def action_resume(self) -> None:
        call = self._selected_call()
        if call is not None:
            await self.run_command(f"resume {call}")

    async def action_supervise(self, mode: str) -> None:
        agent = supervise.selected_agent(self.views.get(self.current or ""), self.state)
        if agent is None:
            self.say("select an agent (F6) or a call (F2) first", error=True)
        else:
            await self.run_command(f"{mode} {agent}")

    def action_release(self) -> None:
        call = self._selected_call()
        if call is not None:
            self._open_line(":", f"release {call}")

    # ---- commands --------------------------------------------------------------------------

    async def run_command(self, line: str) -> None:
        """Run a command line; what happened is on the message line."""
        try:
            command = parse(line)
        except CommandError as exc:
            self.say(str(exc), error=True)
            return
        try:
            await self._run(command)
        except ApiClientError as exc:
            self.say(f":{command.name} refused: {exc.message or exc.status}", error=True)

    async def _run(self, command: Command) -> None:
        name = command.name
        if name in CENTRE_COMMANDS:
            await self._run_centre(command)
        elif name in supervise.NAMES:
            self.say(await supervise.run(self.session, command))
        elif name == "hangup":
            call = command.number(0)
            await self.session.command(lambda api: api.hang_up(call))
            self.say(f"call {call} hung up")
        elif name in ("hold", "resume"):
            call, leg = command.number(0), command.number(1, 1)
            if name == "hold":
                await self.session.command(lambda api: api.hold(call, leg))
            else:
                await self.session.command(lambda api: api.resume(call, leg))
            self._changed(self.state.held(call, leg, name == "hold"))
            self.say(f"call {call} leg {leg} {'held' if name == 'hold' else 'resumed'}")
        elif name == "view":
            self.action_show_view(command.args[0].lower())
        elif name == "filter":
            self._set_filter(" ".join(command.args))
            self.say(f"filter: {self.needle}" if self.needle else "filter cleared")
        elif name == "help":
            self.action_help()
        elif name == "keys":
            self.action_keys()
        elif name == "quit":
            await self.action_quit()

    async def _run_centre(self, command: Command) -> None:
        try:
            said = await run_centre_command(command, self.state, self.session.command)
        except CommandError as exc:
            self.say(str(exc), error=True)
            return
        if command.name == "head":
            self._changed(self.state.to_head(command.number(0)))
        self.say(said)
