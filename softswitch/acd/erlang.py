"""Staffing formulas: Erlang C (M/M/n, callers wait forever) and Erlang A (M/M/n+M,
exponential patience), the predictions the simulator prints beside its figures.

Erlang C's P(wait) comes from the Erlang B recursion, which is stable for hundreds of agents.
Erlang A is the birth-death chain on the number of callers in the system (service rate
min(k, n)·μ, abandonment (k − n)·θ), truncated where its tail mass is negligible; the wait of
a caller who finds j callers ahead is a chain of exponential stages, which gives P(served),
E[wait | served] and, by uniformisation, P(wait ≤ T and served).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from softswitch.acd.errors import InvalidRequest

_TAIL = 1e-13  # truncate the chain where a state's probability falls below this


@dataclass(frozen=True)
class Prediction:
    probability_of_wait: float
    service_level: float  # answered within T / offered: abandons count against
    average_speed_of_answer_s: float  # mean wait of answered callers
    abandon_rate: float
    occupancy: float


def erlang_b(agents: int, load: float) -> float:
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(agents: int, arrival_rate: float, handle_time_s: float, sl_s: float) -> Prediction:
    """M/M/n: offered load A = λ·S must be below n or the queue grows without bound."""
    load = arrival_rate * handle_time_s
    if agents <= 0 or load >= agents:
        raise InvalidRequest(f"load {load:.2f} erlangs needs more than {agents} agents")
    b = erlang_b(agents, load)
    p_wait = agents * b / (agents - load * (1 - b))
    return Prediction(
        probability_of_wait=p_wait,
        service_level=1 - p_wait * math.exp(-(agents - load) * sl_s / handle_time_s),
        average_speed_of_answer_s=p_wait * handle_time_s / (agents - load),
        abandon_rate=0.0,
        occupancy=load / agents,
    )


def erlang_a(
    agents: int, arrival_rate: float, handle_time_s: float, patience_s: float, sl_s: float
) -> Prediction:
    """M/M/n+M: always stable, since impatient callers leave."""
    if agents <= 0:
        raise InvalidRequest("Erlang A needs at least one agent")
    lam, mu, theta, n = arrival_rate, 1 / handle_time_s, 1 / patience_s, agents
    # Unnormalised stationary probabilities, in log space against overflow.
    logs = [0.0]
    k = 0
    while True:
        k += 1
        death = min(k, n) * mu + max(k - n, 0) * theta
        logs.append(logs[-1] + math.log(lam / death))
        if k > n and logs[-1] - max(logs) < math.log(_TAIL) and lam < death:
            break
    top = max(logs)
    weights = [math.exp(x - top) for x in logs]
    total = sum(weights)
    pi = [w / total for w in weights]
    p_wait = sum(pi[n:])
    busy = sum(min(i, n) * p for i, p in enumerate(pi))
    ahead = len(pi) - n  # callers a new arrival can find ahead of it: 0 .. ahead-1
    rates = [n * mu + (i + 1) * theta for i in range(ahead)]
    served_given = []  # P(served | j ahead)
    mean_wait_given = []  # E[wait | served, j ahead]
    p, w = 1.0, 0.0
    for i in range(ahead):
        p *= (n * mu + i * theta) / rates[i]
        w += 1 / rates[i]
        served_given.append(p)
        mean_wait_given.append(w)
    within = _within(rates, sl_s)
    p_served = sum(pi[:n]) + sum(pi[n + j] * served_given[j] for j in range(ahead))
    waited = sum(pi[n + j] * served_given[j] * mean_wait_given[j] for j in range(ahead))
    answered_within = sum(pi[:n]) + sum(
        pi[n + j] * served_given[j] * within[j] for j in range(ahead)
    )
    return Prediction(
        probability_of_wait=p_wait,
        service_level=answered_within,
        average_speed_of_answer_s=waited / p_served if p_served > 0 else 0.0,
        abandon_rate=1 - p_served,
        occupancy=busy / n,
    )


def _within(rates: list[float], t: float) -> list[float]:
    """P(Exp(rates[j]) + ... + Exp(rates[0]) ≤ t) for every j, by uniformisation: with
    Λ ≥ every rate, stage i ends at each Poisson(Λ) tick with probability rates[i] / Λ."""
    if t <= 0:
        return [0.0] * len(rates)
    big = max(rates)
    mean = big * t
    steps = int(mean + 12 * math.sqrt(mean) + 30)
    # done[j]: P(all stages from j down to 0 finished within m ticks), updated per tick.
    done = [0.0] * len(rates)
    advance = [r / big for r in rates]
    result = [0.0] * len(rates)
    log_poisson = -mean  # log P(m ticks) for m = 0
    for m in range(steps + 1):
        if m > 0:
            new = [0.0] * len(rates)
            for j in range(len(rates)):
                finished_next = 1.0 if j == 0 else done[j - 1]
                new[j] = advance[j] * finished_next + (1 - advance[j]) * done[j]
            done = new
            log_poisson += math.log(mean / m)
        weight = math.exp(log_poisson)
        for j in range(len(rates)):
            result[j] += weight * done[j]
    return result
