"""`make dist`: the one-file executable runs with an empty environment, away from the repo.

The executable is built through `make dist` (rebuilt only when its inputs changed), copied to a
temporary folder and run there under `env -i`: no PATH, no PYTHONPATH, no venv. It must answer
OPTIONS, carry 10 SIPp calls to the echo test, write their CDR rows with its bundled schema, and
load no file of the Python installation or of the repository it was built from.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from running_switch import DISPOSITION_ANSWERED, REPO, Switch, start_switch
from sipp_process import Sipp

from softswitch import __version__
from softswitch.runtime_check import CHECKS, OWN_DATA

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ECHO = "9196"
BUILD_TIMEOUT_S = 800.0
STARTUP_RUNS = 5
# Generous: measured about 1.1 s here; a cold page cache on a loaded 2-core machine is slower.
STARTUP_LIMIT_S = 10.0
EMPTY_ENV: dict[str, str] = {}  # what `env -i` gives a program
_MEI_DIR = re.compile(r"_MEI\w+")  # where the one-file bootloader unpacks itself
DATA_PACKAGES = {
    "softswitch": REPO / "softswitch",
    "softswitch_codecs": REPO / "codecs",
    "softswitch_prompts": REPO / "prompts",
}


@pytest.fixture(scope="module")
def built() -> Path:
    """`make dist` in the repo; a second call with unchanged sources must not rebuild."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed: `make dist` cannot run")
    started = time.monotonic()
    first = _make_dist()
    build_s = time.monotonic() - started
    executable = REPO / "dist" / "softswitch"
    assert executable.is_file(), first
    before = executable.stat()
    started = time.monotonic()
    second = _make_dist()
    cached_s = time.monotonic() - started
    after = executable.stat()
    print(f"\nmake dist: {build_s:.1f} s, again with nothing changed: {cached_s:.2f} s")
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), (
        f"make dist rebuilt with nothing changed:\n{second}"
    )
    return executable


def _make_dist() -> str:
    """`make dist` under a lock: pytest-xdist workers each set up this module's fixture, and two
    builds at once would share build/freeze (one's `mv` takes the other's executable)."""
    lock_path = REPO / "build" / "make-dist.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        proc = subprocess.run(
            ["make", "--no-print-directory", "dist"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"make dist failed ({proc.returncode}):\n{output[-5000:]}"
    return output


@pytest.fixture
def executable(built: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the executable in a temporary folder: nothing beside it, nothing from the repo.

    At teardown no process of this copy may be left. Killing the bootloader (as a timeout does)
    leaves its interpreter child running with its unpacked folder: those are ended and removed
    here by the copy's exact path, and reported.
    """
    folder = tmp_path / "bin"
    folder.mkdir()
    copy = folder / "softswitch"
    shutil.copy2(built, copy)
    yield copy
    survivors = _processes_of(copy)
    unpacked = {Path(f).parents[0] for pid in survivors for f in _mapped_files(pid, tree=False)}
    for pid in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in survivors:
        _wait_gone(pid, 5.0)
    for path in unpacked:
        if _MEI_DIR.fullmatch(path.name):
            shutil.rmtree(path, ignore_errors=True)
    assert survivors == [], f"processes of {copy} outlived the test (killed)"


@pytest.fixture
def frozen_switch(executable: Path, tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    sw = start_switch(tmp_path, carrier_port, program=executable, env=EMPTY_ENV)
    try:
        yield sw
    finally:
        sw.stop()


def _run(executable: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(executable), *args],
        env=EMPTY_ENV,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (the one-file bootloader runs the interpreter in a child)."""
    found = [pid]
    for current in found:
        for task in Path(f"/proc/{current}/task").iterdir():
            children = (task / "children").read_text().split()
            found.extend(int(child) for child in children)
    return found


def _processes_of(executable: Path) -> list[int]:
    """Every process running this very file (the bootloader and its interpreter child)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "exe") == str(executable):
                    found.append(int(entry.name))
    return found


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def _mapped_files(pid: int, tree: bool = True) -> set[str]:
    """Files mapped by `pid` (and its descendants when `tree`)."""
    files: set[str] = set()
    for member in _process_tree(pid) if tree else [pid]:
        for line in Path(f"/proc/{member}/maps").read_text().splitlines():
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith("/"):
                files.add(fields[5])
    return files


def _all_closed_answered(count: int) -> Callable[[list[dict[str, Any]]], bool]:
    def check(rows: list[dict[str, Any]]) -> bool:
        return len(rows) == count and all(
            r["end_ts"] is not None and r["disposition"] == DISPOSITION_ANSWERED for r in rows
        )

    return check


def test_frozen_switch_answers_options_and_echo_calls_with_an_empty_environment(
    frozen_switch: Switch, sipp: Callable[..., Sipp], executable: Path
) -> None:
    # start_switch returned, so the copy answered OPTIONS with 200; now 10 real calls.
    args = ["-sn", "uac", f"127.0.0.1:{frozen_switch.sip_port}", "-s", ECHO]
    args += ["-m", "10", "-r", "5", "-l", "10"]
    result = sipp("dist-echo", args, timeout_s=30).result()

    assert (result.returncode, result.successful, result.failed) == (0, 10, 0), result.summary()
    rows = frozen_switch.wait_cdr(_all_closed_answered(10), 10.0, "callee = ?", (ECHO,))
    assert len({r["call_id"] for r in rows}) == 10
    # Nothing it runs comes from the Python that built it, the venv or the repo.
    mapped = _mapped_files(frozen_switch.proc.pid)
    assert str(executable) in mapped
    forbidden = {Path(sys.base_prefix), Path(sys.prefix), REPO}
    leaked = sorted(f for f in mapped if any(Path(f).is_relative_to(p) for p in forbidden))
    assert leaked == [], f"the frozen switch loaded files from the build machine: {leaked}"
    libpython = [Path(f) for f in mapped if re.match(r"libpython3\.\d+\.so", Path(f).name)]
    assert len(libpython) == 1 and _MEI_DIR.fullmatch(libpython[0].parent.name), sorted(mapped)
    unpacked = libpython[0].parent

    # The one-file executable is a bootloader with the interpreter in a child: the SIGTERM a
    # service manager sends the bootloader must reach the switch and end it cleanly.
    frozen_switch.assert_running()
    interpreter = _process_tree(frozen_switch.proc.pid)[1:]
    assert interpreter, "expected the interpreter in a child of the bootloader"
    assert frozen_switch.stop() == 0, frozen_switch.log_tail()
    assert "shutting down" in frozen_switch.log_path.read_text()
    assert not any(Path(f"/proc/{pid}").exists() for pid in interpreter)
    assert not unpacked.exists(), f"{unpacked} (116 MB per start) left behind after a clean stop"


def test_frozen_check_install_reports_every_library_working(
    executable: Path, tmp_path: Path
) -> None:
    proc = _run(executable, "check-install", cwd=tmp_path)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(CHECKS) + 1, proc.stdout
    for distribution in [*CHECKS, OWN_DATA]:
        # The version frozen in is the one this venv has: the build bundled what it tested.
        expected = f"{distribution} {metadata.version(distribution)}: ok: "
        assert any(line.startswith(expected) for line in lines), (expected, proc.stdout)


def test_frozen_check_config_and_version(executable: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    shutil.copy(REPO / "config.example.toml", good)
    bad = tmp_path / "bad.toml"
    bad.write_text('[sip]\nport = "five"\n')

    version = _run(executable, "--version", cwd=tmp_path).stdout.strip()
    assert version == f"softswitch, version {__version__}"
    ok = _run(executable, "check-config", "good.toml", cwd=tmp_path)
    assert (ok.returncode, ok.stdout.splitlines()[-1]) == (0, "good.toml: OK"), ok.stderr
    refused = _run(executable, "check-config", "bad.toml", cwd=tmp_path)
    assert refused.returncode == 2
    assert "bad.toml" in refused.stderr and "sip.port" in refused.stderr, refused.stderr


def test_bundle_holds_every_data_file_of_the_packages(built: Path) -> None:
    """A data folder added under softswitch/ or codecs/ (prompts, music on hold, IVR flows)
    ships without touching the spec; this fails if the spec stops collecting it."""
    listing = subprocess.run(
        [str(Path(sys.executable).with_name("pyi-archive_viewer")), "-l", "-b", str(built)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    bundled = {line.strip() for line in listing.splitlines()}
    expected = set()
    for package, folder in DATA_PACKAGES.items():
        for file in folder.rglob("*"):
            if (
                file.is_file()
                and file.suffix not in {".py", ".pyc"}
                and "__pycache__" not in (file.parts)
            ):
                expected.add(f"{package}/{file.relative_to(folder).as_posix()}")
    assert any(name.endswith(".sql") for name in expected)
    assert "softswitch_prompts/en/goodbye.wav" in expected
    assert expected - bundled == set(), f"data files missing from the bundle: {expected - bundled}"


def test_startup_time_from_exec_to_answering_options(
    executable: Path, tmp_path: Path, carrier_port: int
) -> None:
    """The figure the README gives: `pytest tests/integration/test_dist.py -k startup -s`."""
    times: list[float] = []
    for run in range(STARTUP_RUNS):
        folder = tmp_path / f"run{run}"
        folder.mkdir()
        sw = start_switch(folder, carrier_port, program=executable, env=EMPTY_ENV)
        try:
            times.append(sw.ready_after_s)
        finally:
            assert sw.stop() == 0, sw.log_tail()
    print(
        f"\nstart-up, exec to 200 OK to OPTIONS, {STARTUP_RUNS} runs: "
        + ", ".join(f"{t:.2f}" for t in times)
        + f" s (median {statistics.median(times):.2f} s); "
        + f"size {executable.stat().st_size / 1e6:.1f} MB"
    )
    assert max(times) < STARTUP_LIMIT_S, times
