"""Every program the tests or the bench start is one a fresh machine has after `make setup`, one
the bench declares as optional (reported "not installed" when missing), or one its module looks
up with shutil.which first. A test needing a hand-installed tool fails here, not on a new user's
machine.

Found by reading the code: the first word of each list given to subprocess.run/Popen/...,
asyncio.create_subprocess_exec or Peer.spawn, also through a variable assigned a list literal.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from fresh_machine import makefile_programs

from bench.programs import Program

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("tests", "bench")
LAUNCHERS = {"run", "Popen", "call", "check_call", "check_output", "create_subprocess_exec"}


def _first_word(node: ast.expr, lists: dict[str, ast.expr]) -> str | None:
    if isinstance(node, ast.Name) and node.id in lists:
        node = lists[node.id]
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        node = node.elts[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.split()[0] if node.value.split() else None
    return None


def _launches(tree: ast.AST) -> set[tuple[int, str]]:
    """(line, program) for each process start whose program is a string literal."""
    return set(_scan(tree))


def _scan(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for scope in ast.walk(tree):
        if not isinstance(scope, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        lists = {
            target.id: node.value
            for node in ast.walk(scope)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.List | ast.Tuple)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(scope):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in LAUNCHERS or name == "spawn":
                word = _first_word(node.args[0], lists)
                if word is not None:
                    yield node.lineno, word


def _which_guarded(tree: ast.AST) -> set[str]:
    """Programs the module looks up with shutil.which("name") before relying on them."""
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "which"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def _declared() -> set[str]:
    import bench.programs

    return {v.command for v in vars(bench.programs).values() if isinstance(v, Program)}


def test_every_program_started_is_installed_by_make_or_handled_when_missing() -> None:
    allowed = set(makefile_programs()) | _declared()
    started: set[str] = set()
    unhandled: list[str] = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            guarded = _which_guarded(tree)
            for line, program in sorted(_launches(tree)):
                started.add(program)
                if program not in allowed | guarded:
                    unhandled.append(f"{path.relative_to(REPO)}:{line}: {program}")
    assert not unhandled, (
        "programs `make setup` does not install, started without a shutil.which check: install "
        "them in the Makefile's system-deps, or skip with a reason when missing:\n"
        + "\n".join(unhandled)
    )
    # The scan is not vacuous: it sees the SIPp the integration tests start.
    assert "sipp" in started
