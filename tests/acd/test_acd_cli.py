"""`softswitch simulate`: the operator's staffing tool."""

from __future__ import annotations

import json

from click.testing import CliRunner

from softswitch.cli import main


def test_simulate_json_has_the_documented_keys_and_sane_figures() -> None:
    args = ["simulate", "--agents", "5", "--arrival-rate", "0.02", "--handle-time", "180"]
    result = CliRunner().invoke(main, [*args, "--calls", "5000", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures) == {
        "probability_of_wait",
        "service_level",
        "average_speed_of_answer_s",
        "abandon_rate",
        "occupancy",
    }
    assert 0.6 < figures["occupancy"] < 0.8  # 3.6 erlangs on 5 agents = 72 %
    assert figures["abandon_rate"] == 0.0
    assert 0 < figures["probability_of_wait"] < 1


def test_simulate_table_shows_the_erlang_a_prediction_with_patience() -> None:
    args = ["simulate", "--agents", "5", "--arrival-rate", "0.03", "--handle-time", "180"]
    result = CliRunner().invoke(main, [*args, "--patience", "60", "--calls", "2000"])
    assert result.exit_code == 0, result.output
    assert "Erlang A" in result.output
    assert "abandon rate" in result.output


def test_simulate_refuses_an_unstable_queue() -> None:
    args = ["simulate", "--agents", "2", "--arrival-rate", "1", "--handle-time", "180"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "grow without bound" in result.output
