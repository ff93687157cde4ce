"""Digest of everything `dist/softswitch` is built from, for make's dependency check.

make compares modification times, which miss a deleted or renamed source and a file checked out
with an old time. So `make dist` depends on a stamp file holding this digest (paths and contents
of the sources, and the name and version of every installed distribution), and the stamp is
rewritten only when the digest changes: the executable is rebuilt exactly when an input did.

Usage: python freeze/inputs.py STAMP PATH...   (PATH: files or folders, relative to the cwd)
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path

SKIPPED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in candidates:
            if file.is_dir() or SKIPPED_PARTS.intersection(file.parts):
                continue
            if file.suffix not in SKIPPED_SUFFIXES:
                yield file


def installed_distributions() -> list[str]:
    """`name==version` of every distribution the build could bundle, sorted."""
    found = {f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()}
    return sorted(found)


def digest(paths: Iterable[Path], distributions: Iterable[str]) -> str:
    """One SHA-256 over each file's path and bytes, then the distributions; order-independent of
    how the paths were listed."""
    h = hashlib.sha256()
    for file in sorted(set(_files(paths))):
        data = file.read_bytes()
        h.update(f"{file.as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    for distribution in distributions:
        h.update(f"dist\0{distribution}\0".encode())
    return h.hexdigest()


def update_stamp(stamp: Path, value: str) -> bool:
    """Write `value` unless `stamp` holds it already (its mtime then stays); True if written."""
    if stamp.exists() and stamp.read_text() == value + "\n":
        return False
    stamp.parent.mkdir(parents=True, exist_ok=True)
    partial = stamp.with_name(stamp.name + ".partial")
    partial.write_text(value + "\n")
    partial.replace(stamp)
    return True


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    stamp, *paths = (Path(arg) for arg in argv)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"inputs.py: no such path: {', '.join(missing)}", file=sys.stderr)
        return 2
    update_stamp(stamp, digest(paths, installed_distributions()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
