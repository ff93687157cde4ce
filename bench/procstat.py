"""CPU time and resident memory of a peer's whole process tree, read from /proc.

Kamailio forks workers and rtpengine runs beside it, so a peer's cost is the sum over the tree
under each process the harness started (threads are already inside a process's counters).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its closing paren is fixed.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(roots: Iterable[int]) -> set[int]:
    """The roots and every live process below them."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid for pid in roots if Path(f"/proc/{pid}").exists()]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def cpu_seconds(roots: Iterable[int]) -> float:
    """User plus system CPU seconds used so far by the trees under roots."""
    ticks = 0
    for pid in descendants(roots):
        fields = _stat_fields(pid)
        if fields is not None:
            # Fields 14 and 15 of proc(5) (utime, stime); the slice starts at field 3.
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def rss_bytes(roots: Iterable[int]) -> int:
    """Resident memory of the trees under roots (shared pages counted once per process)."""
    total = 0
    for pid in descendants(roots):
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[21]) * PAGE_SIZE
    return total
