"""The layer table of the architecture notes, checked by machine: nothing imports upward.

Every module of `softswitch/`, `codecs/` (imported as `softswitch_codecs`) and `bench/` is read
with `ast` (no import is executed) and each of its imports, nested and `TYPE_CHECKING` ones
included, is checked against `LAYERS` below, a copy of the table's "may import" column. The pure
cores (`sip/` but `transport.py`, `acd/`, codecs) may not reach `asyncio`, `socket`, `sqlite3` or
`time`, directly or through a module of ours they import.

When the map changes, change `LAYERS` in the same commit as the architecture notes.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# (folder in the repo, import name): codecs/ installs as softswitch_codecs (pyproject.toml).
PACKAGES = (("softswitch", "softswitch"), ("codecs", "softswitch_codecs"), ("bench", "bench"))
STDLIB = frozenset(sys.stdlib_module_names)
ANY = "*"  # any third-party package


@dataclass(frozen=True)
class Layer:
    """One row of the table: which modules belong to it and what they may import."""

    modules: tuple[str, ...]  # module names of ours; "pkg.*" is every module under pkg
    layers: frozenset[str]  # other layers of ours it may import (its own is always allowed)
    third_party: frozenset[str]  # top-level names of packages outside the standard library


def _layer(modules: tuple[str, ...], layers: str = "", third_party: str = "") -> Layer:
    return Layer(modules, frozenset(layers.split()), frozenset(third_party.split()))


# Leaves that every layer above the pure cores reads: each imports only the standard library.
# config.py is in the table's last row with app.py and cli.py, but it is typed frozen data that
# every layer is handed (CONVENTIONS: configuration is passed in as frozen dataclasses) and it
# imports nothing of ours but security/ (password hashes); call_record.py is the vocabulary of a
# CDR shared by calls/ and store/; security/ is the allowed-destinations policy that media/ and
# calls/ are handed, and the password hashes of API users.
LEAVES = "config call_record security"

LAYERS: dict[str, Layer] = {
    # | codecs/ | ... | numpy only |, and two C maths libraries without I/O: G.722 is ADPCM,
    # sequential per sample, so it comes from libg722 (PyPI G722); soxr resamples whole files.
    "codecs": _layer(("softswitch_codecs", "softswitch_codecs.*"), "", "numpy G722 soxr"),
    # | softswitch/sip/ | sans-IO SIP ...; transport.py alone touches sockets | stdlib |
    # transport.py, the adapter, is handed the security cores (stdlib-only decisions).
    "sip": _layer(("softswitch.sip", "softswitch.sip.*"), "security"),
    # | softswitch/media/ | RTP/RTCP ... | codecs, numpy, soundfile, webrtcvad |
    "media": _layer(
        ("softswitch.media", "softswitch.media.*"), f"codecs {LEAVES}", "numpy soundfile webrtcvad"
    ),
    # | softswitch/calls/ | call control ... | sip, media |
    "calls": _layer(("softswitch.calls", "softswitch.calls.*"), f"sip media {LEAVES}"),
    # | softswitch/ivr/ | IVR flows ... | calls (through an interface), media |
    "ivr": _layer(("softswitch.ivr", "softswitch.ivr.*"), f"calls media {LEAVES}"),
    # | softswitch/acd/ | queues, agents ...; pure decisions, injected clock | nothing with I/O |
    "acd": _layer(("softswitch.acd", "softswitch.acd.*"), LEAVES),
    # | softswitch/centre/ | the queue application, agent feature codes | calls, acd, ivr, media |
    "centre": _layer(("softswitch.centre", "softswitch.centre.*"), f"calls acd ivr media {LEAVES}"),
    # | softswitch/store/ | schema, migrations, one repository module per record kind | aiosqlite |
    "store": _layer(("softswitch.store", "softswitch.store.*"), LEAVES, "aiosqlite"),
    # | softswitch/api/ | control and CTI event API | calls, acd, store |
    "api": _layer(("softswitch.api", "softswitch.api.*"), f"calls acd store {LEAVES}", "aiohttp"),
    # | softswitch/console/ | the operator and agent console | rich/textual, api client |
    "console": _layer(
        ("softswitch.console", "softswitch.console.*"), f"api {LEAVES}", "rich textual aiohttp"
    ),
    # | softswitch/metrics.py | Prometheus collectors | prometheus-client |
    "metrics": _layer(("softswitch.metrics",), "", "prometheus_client"),
    # | softswitch/app.py, cli.py, config.py | wiring, the command, typed config | everything |
    "app": _layer(
        # runtime_check.py exercises every runtime library for `softswitch check-install`.
        (
            "softswitch",
            "softswitch.app",
            "softswitch.cli",
            "softswitch.certificates",
            "softswitch.__main__",
            "softswitch.runtime_check",
        ),
        "codecs sip media calls ivr acd centre store api console metrics " + LEAVES,
        ANY,
    ),
    # config_table.py reads a TOML table for every section; config_api.py parses [api] and
    # [[users]] (checking password hashes with security/passwords.py); config_conference.py
    # parses [conference]; config_recording.py parses [recording] and the record keys;
    # config_party.py holds the per-party setting enums (nat, dtmf, hold);
    # config_voicemail.py parses [voicemail]; config_features.py parses the in-call feature
    # codes of [features].
    "config": _layer(
        (
            "softswitch.config",
            "softswitch.config_table",
            "softswitch.config_api",
            "softswitch.config_conference",
            "softswitch.config_recording",
            "softswitch.config_party",
            "softswitch.config_voicemail",
            "softswitch.config_features",
            # config_supervision.py: the supervisor codes (*33..*35) of [features]
            "softswitch.config_supervision",
        ),
        "security",
    ),
    "call_record": _layer(("softswitch.call_record",)),
    "security": _layer(("softswitch.security", "softswitch.security.*")),
    # | bench/ | the load harness | the installed softswitch command, sipp, pjsua2 |
    # It drives the switch as a user does, through the command: no module of the switch.
    "bench": _layer(("bench", "bench.*"), "", ANY),
}

PURE_CORES = ("softswitch.sip", "softswitch.acd", "softswitch_codecs")
ADAPTERS = frozenset({"softswitch.sip.transport"})  # inside a pure core's folder, allowed I/O
NO_IO = frozenset({"asyncio", "socket", "sqlite3", "time"})


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for folder, import_name in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join([import_name, *parts])
            found[name] = Module(name, path, is_package)
    return found


def imports_of(source: str, module: str, is_package: bool, ours: set[str]) -> Iterator[str]:
    """Absolute names `source` imports; `from pkg import sub` gives pkg.sub when that is ours."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            ours_here = [name for name in submodules if name in ours]
            yield from ours_here or [target]


def layer_of(module: str) -> str | None:
    """The layer that lists `module`, by name or by the package it is in."""
    for name, layer in LAYERS.items():
        for entry in layer.modules:
            if module == entry or (
                entry.endswith(".*") and module.startswith(entry.removesuffix("*"))
            ):
                return name
    return None


def _is_ours(name: str) -> bool:
    return name.split(".")[0] in {import_name for _, import_name in PACKAGES}


def violation(module: str, imported: str) -> str | None:
    """Why `module` may not import `imported`, or None when the table allows it."""
    here = layer_of(module)
    if here is None:
        return f"{module} is in no layer of the table"
    top = imported.split(".")[0]
    if top in STDLIB:
        return None
    if _is_ours(imported):
        there = layer_of(imported)
        if there is None:
            return f"{module} imports {imported}, which is in no layer of the table"
        if there == here or there in LAYERS[here].layers:
            return None
        return f"{module} ({here}/) imports {imported} ({there}/): not in its row of the table"
    allowed = LAYERS[here].third_party
    if ANY in allowed or top in allowed:
        return None
    return f"{module} ({here}/) imports third-party {top}: not in its row of the table"


def io_reached(module: str, graph: dict[str, set[str]]) -> dict[str, str]:
    """Forbidden I/O modules a pure core reaches, each with the module of ours that imports it."""
    seen, todo, reached = {module}, [module], {}
    while todo:
        current = todo.pop()
        for imported in sorted(graph.get(current, ())):
            if imported.split(".")[0] in NO_IO:
                reached.setdefault(imported, current)
            elif imported in graph and imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return reached


def _is_pure(module: str) -> bool:
    return module not in ADAPTERS and any(
        module == core or module.startswith(core + ".") for core in PURE_CORES
    )


MODULES = _modules()
GRAPH = {
    name: set(imports_of(mod.path.read_text(), name, mod.is_package, set(MODULES)))
    for name, mod in MODULES.items()
}


def test_the_tree_is_read() -> None:
    # A checker that finds no module passes everything: make sure it sees the real tree.
    assert {"softswitch.sip.message", "softswitch.calls.b2bua", "softswitch.app"} <= set(MODULES)
    assert "softswitch.sip.errors" in GRAPH["softswitch.sip.message"]
    assert "softswitch.store.database" in GRAPH["softswitch.store.cdr"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layer_table(module: str) -> None:
    problems = [p for name in sorted(GRAPH[module]) if (p := violation(module, name))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _is_pure(m)))
def test_pure_cores_do_no_io(module: str) -> None:
    reached = io_reached(module, GRAPH)
    assert not reached, "; ".join(f"{via} imports {name}" for name, via in reached.items())


# The checker itself, on planted imports: each of these must be refused.
@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("softswitch.calls.b2bua", "from softswitch.store import cdr"),
        ("softswitch.store.cdr", "from softswitch.calls.call import Call"),
        ("softswitch.sip.message", "import numpy"),
        ("softswitch.media.relay", "from ..calls import call"),
        ("softswitch.acd.queue", "from softswitch.media.relay import MediaRelay"),
        ("bench.report", "import softswitch.sip.message"),
        ("softswitch.sip.dialog", "def f():\n    from softswitch.config import Config"),
        (
            "softswitch.calls.leg",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from softswitch.api.snapshot import SwitchSnapshot",
        ),
        ("softswitch.newfolder.x", "import json"),
    ],
)
def test_a_planted_upward_import_is_refused(module: str, source: str) -> None:
    names = imports_of(source, module, False, set(MODULES))
    assert [p for name in names if (p := violation(module, name))]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("softswitch.sip.digest", "import time"),
        ("softswitch.acd.queue", "from asyncio import sleep"),
        ("softswitch_codecs.g711", "import sqlite3"),
        ("softswitch.sip.dialog", "from softswitch.sip import transport"),  # reaches asyncio
    ],
)
def test_a_planted_io_import_in_a_pure_core_is_refused(module: str, source: str) -> None:
    graph = dict(GRAPH)
    graph[module] = set(imports_of(source, module, False, set(MODULES)))
    assert io_reached(module, graph)


def test_allowed_imports_pass() -> None:
    assert violation("softswitch.calls.b2bua", "softswitch.sip.transport") is None
    assert violation("softswitch.store.cdr", "softswitch.call_record") is None
    assert violation("softswitch.media.relay", "numpy") is None
    assert violation("softswitch.app", "softswitch.store.cdr") is None
    assert io_reached("softswitch.sip.transport", GRAPH)  # the adapter does I/O, and may
