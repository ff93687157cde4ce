"""freeze/inputs.py: the stamp `make dist` depends on changes exactly when an input does."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "freeze" / "inputs.py"
DISTRIBUTIONS = ["numpy==2.4.6", "uvloop==0.23.0"]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("freeze_inputs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


inputs = _load()


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pkg" / "migrations").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "migrations" / "0001.sql").write_text("CREATE TABLE t (x);")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    return tmp_path


def _stamp_after(stamp: Path, distributions: list[str] = DISTRIBUTIONS) -> tuple[str, int]:
    value = inputs.digest([Path("pkg"), Path("pyproject.toml")], distributions)
    inputs.update_stamp(stamp, value)
    return stamp.read_text(), stamp.stat().st_mtime_ns


def _age(path: Path) -> None:
    """Back-date the stamp so that a rewrite is visible in its mtime."""
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))


def test_unchanged_inputs_leave_the_stamp_untouched(tree: Path) -> None:
    stamp = tree / "build" / "inputs.sha256"
    first, _ = _stamp_after(stamp)
    _age(stamp)
    (tree / "pkg" / "__init__.py").touch()  # a newer mtime alone is no change
    (tree / "pkg" / "__pycache__").mkdir()
    (tree / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")

    assert _stamp_after(stamp) == (first, 1_000_000_000)


@pytest.mark.parametrize("change", ["edit", "add", "delete", "rename", "distribution"])
def test_any_change_of_an_input_rewrites_the_stamp(tree: Path, change: str) -> None:
    stamp = tree / "build" / "inputs.sha256"
    first, _ = _stamp_after(stamp)
    _age(stamp)
    sql = tree / "pkg" / "migrations" / "0001.sql"
    distributions = DISTRIBUTIONS
    if change == "edit":
        sql.write_text("CREATE TABLE t (y);")
        os.utime(sql, ns=(1, 1))  # an old mtime must not hide an edit
    elif change == "add":
        (tree / "pkg" / "prompts").mkdir()
        (tree / "pkg" / "prompts" / "welcome.wav").write_bytes(b"RIFF")
    elif change == "delete":
        sql.unlink()
    elif change == "rename":
        sql.rename(sql.with_name("0002.sql"))
    else:
        distributions = ["numpy==2.4.7", "uvloop==0.23.0"]

    second, mtime = _stamp_after(stamp, distributions)
    assert second != first
    assert mtime != 1_000_000_000


def test_main_refuses_a_missing_input(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert inputs.main(["build/stamp", "pkg", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tree / "build" / "stamp").exists()


def test_main_writes_a_stamp_of_the_installed_distributions(tree: Path) -> None:
    assert inputs.main(["build/stamp", "pkg"]) == 0
    value = (tree / "build" / "stamp").read_text().strip()
    assert value == inputs.digest([Path("pkg")], inputs.installed_distributions())
    assert any(d.startswith("numpy==") for d in inputs.installed_distributions())
