"""The attacker's tool against the switch: SIPVicious svcrack guessing 1001's password.

svcrack runs from 127.0.0.2 (on `lo` already; `svcrack_from.py` binds it there, as its own `-b`
does nothing in Debian's 0.3.3) with a 10 000-word list that holds the right
password last; the switch must ban it after at most 20 failures, stay silent to it during the
ban (right password included), keep serving 127.0.0.1 throughout, write a security log line for
each failure and the ban, and the shipped fail2ban filter must find the attacker in that log.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sip_client
from running_switch import Switch, start_switch

REPO = Path(__file__).resolve().parents[2]
SVCRACK_FROM = Path(__file__).with_name("svcrack_from.py")
FILTER = REPO / "contrib" / "fail2ban" / "softswitch.conf"
ATTACKER = "127.0.0.2"
WORDS = 10_000
SVCRACK_TIMEOUT_S = 90.0

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _wordlist(path: Path) -> Path:
    words = [f"guess-{i:05d}" for i in range(WORDS - 1)] + ["demo-1001"]
    path.write_text("\n".join(words) + "\n")
    return path


@pytest.fixture
def guarded(tmp_path: Path, carrier_port: int) -> Switch:
    log_file = tmp_path / "security.log"
    sw = start_switch(tmp_path, carrier_port, {"security": {"log_file": str(log_file)}})
    yield sw
    sw.stop()


def test_svcrack_is_banned_within_20_failures_and_127_0_0_1_is_served(
    guarded: Switch, tmp_path: Path
) -> None:
    if shutil.which("svcrack") is None:
        pytest.skip("svcrack (Debian sipvicious) is not installed: make setup installs it")
    if shutil.which("/usr/bin/python3") is None:  # the interpreter Debian's svcrack runs on
        pytest.skip("Debian's /usr/bin/python3 is missing: svcrack cannot run")
    wordlist = _wordlist(tmp_path / "words.txt")
    served: list[int | None] = []
    stop = threading.Event()

    def phone() -> None:
        """A well-behaved client on 127.0.0.1: OPTIONS every 0.2 s while the attack runs."""
        while not stop.is_set() and len(served) < 1000:
            served.append(sip_client.options(guarded.sip_port, timeout_s=1.0))
            stop.wait(0.2)

    watcher = threading.Thread(target=phone, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        attack = subprocess.run(
            [
                # Debian's python3, which has sipvicious: svcrack with its sockets on ATTACKER.
                "/usr/bin/python3",
                str(SVCRACK_FROM),
                ATTACKER,
                "-u",
                "1001",
                "-d",
                str(wordlist),
                "-p",
                str(guarded.sip_port),
                "-x",
                ATTACKER,
                "--maximumtime",
                "5",
                "127.0.0.1",
            ],
            capture_output=True,
            text=True,
            timeout=SVCRACK_TIMEOUT_S,
            cwd=tmp_path,
        )
        elapsed = time.monotonic() - started
        # During the ban, the right password from the attacker's address gets no answer at all,
        # while the same REGISTER from 127.0.0.1 is accepted.
        assert sip_client.register(guarded.sip_port, "1001", "demo-1001", ATTACKER) is None
        assert sip_client.register(guarded.sip_port, "1001", "demo-1001") == 200
    finally:
        stop.set()
        watcher.join(5.0)
    output = attack.stdout + attack.stderr
    assert "demo-1001" not in output, f"svcrack found the password:\n{output[-2000:]}"
    security_log = (tmp_path / "security.log").read_text()
    failures = re.findall(rf"auth-failed src={re.escape(ATTACKER)} failures=(\d+)", security_log)
    assert failures and len(failures) <= 20, security_log[-3000:]
    assert f"ban src={ATTACKER} reason=auth-failures failures=20 duration_s=300" in security_log
    assert re.search(rf"refused src={re.escape(ATTACKER)} reason=banned count=\d+", security_log)
    assert "src=127.0.0.1" not in security_log
    assert served and all(status == 200 for status in served), served
    assert elapsed < SVCRACK_TIMEOUT_S
    metrics = _scrape(guarded)
    assert re.search(
        rf'softswitch_security_banned_until\{{reason="auth-failures",source="{ATTACKER}"\}}',
        metrics,
    ), metrics
    assert re.search(r'softswitch_security_bans_total\{reason="auth-failures"\} 1\.0', metrics)

    if shutil.which("fail2ban-regex") is None:
        pytest.skip("fail2ban-regex (Debian fail2ban) is not installed: make setup installs it")
    report = subprocess.run(
        ["fail2ban-regex", str(tmp_path / "security.log"), str(FILTER)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    # fail2ban's summary: "Failregex: N total" and the address it would ban.
    matched = re.search(r"Failregex: (\d+) total", report.stdout)
    assert matched and int(matched.group(1)) >= len(failures), report.stdout
    assert ATTACKER in report.stdout and "127.0.0.1" not in report.stdout.split("Failregex")[1]


def _scrape(sw: Switch) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{sw.ports.metrics}/metrics", timeout=5) as r:
        return str(r.read().decode())
