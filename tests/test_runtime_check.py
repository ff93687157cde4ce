"""`softswitch check-install`: each runtime library does its work, and the table covers them all."""

from __future__ import annotations

import re
from importlib import metadata

import pytest
from click.testing import CliRunner

from softswitch import runtime_check
from softswitch.cli import main
from softswitch.store.database import migrations


def _runtime_dependencies() -> set[str]:
    """Distributions the installed softswitch requires outside any extra (pyproject.toml)."""
    names = set()
    for requirement in metadata.requires("softswitch") or []:
        if "extra ==" in requirement:
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, requirement
        names.add(match[0])
    return names


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def test_every_runtime_dependency_has_a_check() -> None:
    """A new dependency must get a check, so `make dist` bundles it and the dist test runs it."""
    declared = {_normalized(n) for n in _runtime_dependencies()}
    checked = {_normalized(n) for n in runtime_check.CHECKS}
    assert declared - checked == set(), (
        f"add a check to softswitch/runtime_check.py CHECKS for: {sorted(declared - checked)}"
    )
    assert checked - declared == set(), f"checks of undeclared dependencies: {checked - declared}"


def test_every_check_passes_here_with_the_installed_version() -> None:
    results = runtime_check.run_checks()

    assert [r.distribution for r in results] == [*runtime_check.CHECKS, runtime_check.OWN_DATA]
    failed = [r for r in results if not r.ok]
    assert failed == []
    for result in results:
        assert result.version == metadata.version(result.distribution)
    by_name = {r.distribution: r.detail for r in results}
    assert by_name["softswitch"] == f"{len(migrations())} schema migrations found"
    assert by_name["soundfile"].startswith("libsndfile 1.")


def test_a_failing_library_is_reported_on_one_line_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> str:
        raise ImportError("Importing the C-extensions failed.\n\nadvice\n\nlibfoo.so: cannot open")

    monkeypatch.setitem(runtime_check.CHECKS, "numpy", broken)
    result = CliRunner().invoke(main, ["check-install"])

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == len(runtime_check.CHECKS) + 1
    numpy_line = next(line for line in lines if line.startswith("numpy "))
    assert numpy_line.endswith(": FAILED: ImportError: libfoo.so: cannot open")
    assert sum(": ok: " in line for line in lines) == len(lines) - 1


def test_check_install_exits_0_when_all_pass() -> None:
    result = CliRunner().invoke(main, ["check-install"])

    assert result.exit_code == 0, result.output
    assert all(": ok: " in line for line in result.output.splitlines())
