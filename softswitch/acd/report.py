"""What `softswitch simulate` prints: each simulated figure beside its Erlang prediction."""

from __future__ import annotations

import json

from softswitch.acd.erlang import Prediction, erlang_a, erlang_c
from softswitch.acd.errors import AcdError
from softswitch.acd.simulation import Measured, Simulation, single_queue_config

FIGURES = (
    ("probability_of_wait", "probability of waiting", "{:.2%}"),
    ("service_level", "service level", "{:.2%}"),
    ("average_speed_of_answer_s", "average speed of answer", "{:.1f} s"),
    ("abandon_rate", "abandon rate", "{:.2%}"),
    ("occupancy", "occupancy", "{:.2%}"),
)


def simulate_and_report(
    agents: int,
    arrival_rate: float,
    handle_time_s: float,
    patience_s: float | None,
    service_level_s: float,
    calls: int,
    seed: int,
    as_json: bool,
) -> str:
    """Raises ValueError when the parameters make no sense (an unstable queue)."""
    if patience_s is None and arrival_rate * handle_time_s >= agents:
        raise ValueError(
            f"offered load {arrival_rate * handle_time_s:.2f} erlangs needs more than {agents}"
            " agents without abandonment: the queue would grow without bound"
        )
    try:
        predicted = (
            erlang_c(agents, arrival_rate, handle_time_s, service_level_s)
            if patience_s is None
            else erlang_a(agents, arrival_rate, handle_time_s, patience_s, service_level_s)
        )
    except AcdError as exc:
        raise ValueError(str(exc)) from exc
    measured = Simulation(
        single_queue_config(agents),
        {"sim": arrival_rate},
        handle_time_s,
        patience_s=patience_s,
        service_level_s=service_level_s,
        calls=calls,
        seed=seed,
    ).run()
    if as_json:
        return json.dumps({name: getattr(measured, name) for name, _, _ in FIGURES})
    return _table(measured, predicted, patience_s is not None, service_level_s)


def _table(measured: Measured, predicted: Prediction, erlang_a: bool, sl_s: float) -> str:
    model = "Erlang A" if erlang_a else "Erlang C"
    lines = [
        f"{measured.offered} callers measured (the first 5 % only warm the system up)",
        f"{'figure':<26}{'simulated':>12}{model:>12}",
    ]
    for name, label, fmt in FIGURES:
        if name == "service_level":
            label = f"service level ({sl_s:g} s)"
        got, want = getattr(measured, name), getattr(predicted, name)
        lines.append(f"{label:<26}{fmt.format(got):>12}{fmt.format(want):>12}")
    lines.append(
        f"EWT error (callers who waited): mean {measured.ewt_mean_error_s:+.1f} s,"
        f" mean absolute {measured.ewt_mean_abs_error_s:.1f} s"
    )
    return "\n".join(lines)
