"""Ranking py-spy's folded stacks into the top costs of the switch."""

from __future__ import annotations

from pathlib import Path

from bench.profiling import summarise


def test_summary_ranks_functions_by_self_and_inclusive_share(tmp_path: Path) -> None:
    folded = tmp_path / "p.folded"
    folded.write_text(
        "run (app.py:1);parse (sip.py:10) 6\n"
        "run (app.py:1);parse (sip.py:12) 2\n"
        "run (app.py:1);send (net.py:5) 2\n"
    )
    text = summarise(folded)
    self_part, inclusive_part = text.split("Top inclusive time:")
    assert " 80.00 %  parse (sip.py)" in self_part
    assert " 20.00 %  send (net.py)" in self_part
    assert "100.00 %  run (app.py)" in inclusive_part
    assert text.startswith("10 samples")


def test_summary_says_when_there_were_no_samples(tmp_path: Path) -> None:
    folded = tmp_path / "empty.folded"
    folded.write_text("")
    assert summarise(folded) == "py-spy recorded no samples.\n"
