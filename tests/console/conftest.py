"""The console against a real API server in the test's loop (tests/api's harness: scripted
calls, the demo users), driven by Textual's pilot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_HARNESS = Path(__file__).resolve().parents[1] / "api" / "api_harness.py"
_spec = importlib.util.spec_from_file_location("api_harness", _HARNESS)
assert _spec is not None and _spec.loader is not None
api_harness = importlib.util.module_from_spec(_spec)
sys.modules["api_harness"] = api_harness
_spec.loader.exec_module(api_harness)
