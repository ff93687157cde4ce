"""`make mutants`: mutation testing with mutmut, one module at a time, and a kill-rate table.

The targets are `[tool.mutmut] only_mutate` in pyproject.toml (minus `do_not_mutate`), so a new
target is one line there; mutmut itself finds which of the fast unit tests in
`pytest_add_cli_args_test_selection` run each mutated function. Each module is run on its own so
that its time is measured and a slow one can be rerun alone. A mutant "survives" when every test
that runs its function still passes: either a test is missing or the mutant is equivalent.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MUTANTS = REPO / "mutants"
MUTMUT = Path(sys.executable).parent / "mutmut"
# mutmut 3's exit codes of one mutant's test run (mutmut/stats.py): a test failed, pytest
# errored, the CPU limit was hit, or the type checker refused the mutant. All count as caught.
KILLED = frozenset({1, 3})
TIMEOUT = frozenset({-24, 24, 36, 152, 255})
TYPE_CHECK = frozenset({37})
SURVIVED = 0
NO_TESTS = frozenset({5, 33})


@dataclass(frozen=True)
class Tally:
    """What happened to one module's mutants."""

    module: str
    killed: int
    timeout: int
    survived: int
    no_tests: int
    other: int
    seconds: float | None

    @property
    def total(self) -> int:
        return self.killed + self.timeout + self.survived + self.no_tests + self.other

    @property
    def kill_rate(self) -> float:
        """Caught over all mutants: a mutant no test runs counts as not caught."""
        return (self.killed + self.timeout) / self.total if self.total else 1.0


def targets() -> list[Path]:
    """The source files `[tool.mutmut]` says to mutate, in a stable order."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    files: list[Path] = []
    for source in config["source_paths"]:
        for path in sorted((REPO / source).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            wanted = any(fnmatch.fnmatch(rel, p) for p in config.get("only_mutate", ["*"]))
            if wanted and not any(fnmatch.fnmatch(rel, p) for p in config.get("do_not_mutate", [])):
                files.append(path.relative_to(REPO))
    return files


def module_name(path: Path) -> str:
    return ".".join(path.with_suffix("").parts)


def results(path: Path) -> dict[str, int | None]:
    """Mutant name -> exit code of its last run, from the file mutmut keeps beside the mutant."""
    meta = MUTANTS / f"{path}.meta"
    if not meta.exists():
        return {}
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return codes


def tally(path: Path, seconds: float | None) -> Tally:
    counts = Counter(results(path).values())
    killed = sum(counts[c] for c in KILLED) + sum(counts[c] for c in TYPE_CHECK)
    timeout = sum(counts[c] for c in TIMEOUT)
    survived = counts[SURVIVED]
    no_tests = sum(counts[c] for c in NO_TESTS)
    other = sum(counts.values()) - killed - timeout - survived - no_tests
    return Tally(module_name(path), killed, timeout, survived, no_tests, other, seconds)


def not_caught(path: Path) -> list[str]:
    """Mutants that survived or that no test ran: the ones a new test may now catch."""
    return sorted(
        name for name, code in results(path).items() if code == SURVIVED or code in NO_TESTS
    )


def run_module(path: Path, jobs: int, survivors_only: bool, log: Path) -> float | None:
    """Run mutmut on one module; None when there was nothing to run."""
    names = not_caught(path) if survivors_only else [f"{module_name(path)}.*"]
    if survivors_only and not names:
        return None
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [str(MUTMUT), "run", "--max-children", str(jobs), *names],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        # mutmut refuses a pattern that matches no mutant: a module with no function in it.
        if (MUTANTS / f"{path}.meta").exists() and not results(path):
            return None
        sys.exit(f"mutmut failed on {path} (exit {done.returncode}); see {log}")
    return seconds


def table(rows: list[Tally]) -> str:
    lines = [
        "| module | mutants | killed | timeout | survived | no tests | other | kill rate "
        "| time s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in [*rows, total(rows)]:
        secs = "" if r.seconds is None else f"{r.seconds:.0f}"
        lines.append(
            f"| {r.module} | {r.total} | {r.killed} | {r.timeout} | {r.survived} | "
            f"{r.no_tests} | {r.other} | {100 * r.kill_rate:.1f} % | {secs} |"
        )
    return "\n".join(lines)


def total(rows: list[Tally]) -> Tally:
    seconds = [r.seconds for r in rows if r.seconds is not None]
    return Tally(
        "total",
        sum(r.killed for r in rows),
        sum(r.timeout for r in rows),
        sum(r.survived for r in rows),
        sum(r.no_tests for r in rows),
        sum(r.other for r in rows),
        sum(seconds) if seconds else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--module", action="append", default=[], help="only these files")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="retest only the mutants that survived or had no test last time (after adding tests)",
    )
    parser.add_argument("--report", action="store_true", help="print the last results, run none")
    args = parser.parse_args()

    files = [Path(m) for m in args.module] or targets()
    (MUTANTS / "logs").mkdir(parents=True, exist_ok=True)
    rows: list[Tally] = []
    for path in files:
        seconds = None
        if not args.report:
            log = MUTANTS / "logs" / f"{module_name(path)}.log"
            print(f"mutating {path} ...", flush=True)
            seconds = run_module(path, args.jobs, args.survivors, log)
        row = tally(path, seconds)
        if row.total:
            rows.append(row)
            print(f"  {row.module}: {100 * row.kill_rate:.1f} % of {row.total} caught", flush=True)

    summary = table(rows)
    left = [name for path in files for name in not_caught(path)]
    (MUTANTS / "summary.md").write_text(summary + "\n")
    (MUTANTS / "not-caught.txt").write_text("".join(f"{name}\n" for name in left))
    print()
    print(summary)
    print(
        f"\n{len(left)} mutants not caught, listed in mutants/not-caught.txt; "
        "see one with `.venv/bin/mutmut show NAME`, browse them with `.venv/bin/mutmut browse`."
    )


if __name__ == "__main__":
    main()
