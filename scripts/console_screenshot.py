"""The console screenshots of the README: the integration test that drives the console against
the real switch with pjsua2 phones saves them as SVG; rsvg-convert (Debian librsvg2-bin,
installed by `make setup`) turns them into docs/console-*.png."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST = (
    "tests/integration/test_console.py::"
    "test_a_call_shows_on_its_event_and_a_hang_up_from_the_console_ends_it"
)
SHOTS = ("console-calls", "console-registrations")


def main() -> int:
    if shutil.which("rsvg-convert") is None:
        print("rsvg-convert missing: run make setup (Debian librsvg2-bin)", file=sys.stderr)
        return 1
    out = REPO / "build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SOFTSWITCH_SCREENSHOT_DIR": str(out)}
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST],
        cwd=REPO,
        env=env,
        check=True,
    )
    for name in SHOTS:
        png = REPO / "docs" / f"{name}.png"
        subprocess.run(
            ["rsvg-convert", "--zoom", "1", str(out / f"{name}.svg"), "-o", str(png)], check=True
        )
        print(png.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
