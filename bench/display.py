"""The live view while the bench runs: scenario, peer, step, calls done and failures so far."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class StepReporter(Protocol):
    def __call__(self, done: int, failed: int) -> None: ...


class Display:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn(
                "[bold]{task.fields[scenario]}[/] {task.fields[peer]:<18} {task.description}"
            ),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("calls  [red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def note(self, text: str) -> None:
        self.progress.console.print(text)

    @contextmanager
    def step(self, scenario: str, peer: str, label: str, total: int) -> Iterator[StepReporter]:
        task = self.progress.add_task(label, total=total, scenario=scenario, peer=peer, failed=0)

        def report(done: int, failed: int) -> None:
            self.progress.update(task, completed=done + failed, failed=failed)

        try:
            yield report
        finally:
            self.progress.stop_task(task)
