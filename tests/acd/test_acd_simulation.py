"""The real engine against queueing theory, and under a mixed load of three queues."""

from __future__ import annotations

import math
import statistics

from acd.helpers import agent

from softswitch.acd.caller import READY_FOR_OFFER
from softswitch.acd.engine import Engine
from softswitch.acd.erlang import erlang_a, erlang_c
from softswitch.acd.events import OfferCall
from softswitch.acd.model import AcdConfig, QueueConfig, Requirement, WideningRule
from softswitch.acd.queue import satisfies, service_key, widened_requirements
from softswitch.acd.simulation import Simulation, single_queue_config

# Two-sided 99.9 % quantile of Student's t with 19 degrees of freedom (20 batches): a correct
# engine fails a figure's check about once in a thousand seeds; the seed is fixed anyway.
T_19_999 = 3.883


def test_erlang_c_matches_the_textbook() -> None:
    # 10 agents, 8 erlangs: the classic table value P(wait) = 0.4092.
    p = erlang_c(10, 8 / 180, 180, 20)
    assert math.isclose(p.probability_of_wait, 0.40918, abs_tol=1e-4)
    assert math.isclose(p.average_speed_of_answer_s, 0.40918 * 180 / 2, rel_tol=1e-3)
    # Erlang A with (practically) infinite patience is Erlang C.
    a = erlang_a(10, 8 / 180, 180, 1e9, 20)
    assert math.isclose(a.probability_of_wait, p.probability_of_wait, abs_tol=1e-4)
    assert math.isclose(a.service_level, p.service_level, abs_tol=1e-4)
    assert math.isclose(a.average_speed_of_answer_s, p.average_speed_of_answer_s, rel_tol=1e-3)


def test_simulated_engine_matches_erlang_c_within_statistical_error() -> None:
    """100 000 callers, FIFO, identical agents, no abandonment.

    The tolerance is derived, not guessed: batch means over 20 consecutive batches give each
    figure's standard error (batches are long against the queue's relaxation time, so they are
    close to independent); the overall figure must lie within t(19, 99.9 %) standard errors of
    Erlang C's prediction.
    """
    agents, handle_s, load, sl_s = 10, 180.0, 8.0, 20.0
    sim = Simulation(
        single_queue_config(agents),
        {"sim": load / handle_s},
        handle_s,
        service_level_s=sl_s,
        calls=100_000,
        seed=20240917,
    )
    measured = sim.run()
    predicted = erlang_c(agents, load / handle_s, handle_s, sl_s)
    assert measured.offered == 95_000
    assert sim.offers_at_once_violations == 0
    for name in ("probability_of_wait", "service_level", "average_speed_of_answer_s"):
        values = [b[name] for b in measured.batches]
        assert len(values) == 20
        se = statistics.stdev(values) / math.sqrt(len(values))
        got, want = getattr(measured, name), getattr(predicted, name)
        print(f"{name}: simulated {got:.4f}, Erlang C {want:.4f}, SE {se:.4f}")
        assert abs(got - want) <= T_19_999 * se, (name, got, want, se)
        # And the check has teeth: the error bar is small against the figure (ASA, the most
        # autocorrelated, has an SE of about 6 % of itself here).
        assert se < 0.1 * want
    # Occupancy: the busy time is a sum of ~95 000 exponential handle times over a window of
    # ~95 000 exponential gaps, so its relative SE is about sqrt(2 / 95 000) = 0.46 %.
    se_occupancy = predicted.occupancy * math.sqrt(2 / measured.offered)
    assert abs(measured.occupancy - predicted.occupancy) <= 4 * se_occupancy
    assert measured.abandon_rate == 0.0


def test_simulated_engine_matches_erlang_a_with_patience() -> None:
    agents, handle_s, rate, patience_s, sl_s = 20, 180.0, 0.1, 60.0, 20.0
    sim = Simulation(
        single_queue_config(agents),
        {"sim": rate},
        handle_s,
        patience_s=patience_s,
        service_level_s=sl_s,
        calls=40_000,
        seed=7,
    )
    measured = sim.run()
    predicted = erlang_a(agents, rate, handle_s, patience_s, sl_s)
    for name in ("probability_of_wait", "service_level", "abandon_rate"):
        values = [b[name] for b in measured.batches]
        se = statistics.stdev(values) / math.sqrt(len(values))
        got, want = getattr(measured, name), getattr(predicted, name)
        assert abs(got - want) <= T_19_999 * se, (name, got, want, se)


def _three_queues() -> AcdConfig:
    queues = (
        QueueConfig(number="600", strategy="longest-idle", requirements=(Requirement("sales", 5),),
                    widening=(WideningRule(30, 1),), ring_timeout_s=15, priority_step_s=60),
        QueueConfig(number="601", strategy="fewest-calls", ring_timeout_s=15),
        QueueConfig(number="602", strategy="round-robin", requirements=(Requirement("vip", 3),),
                    widening=(WideningRule(45, 0),), ring_timeout_s=15),
    )  # fmt: skip
    agents = []
    for i in range(20):
        queues_of = ("600", "601") if i < 8 else ("601", "602") if i < 14 else ("600", "601", "602")
        skills = {"sales": 1 + (i * 7) % 10, "vip": 1 + (i * 3) % 10}
        agents.append(agent(str(2000 + i), *queues_of, skills=skills))
    return AcdConfig(queues=queues, agents=tuple(agents))


def test_three_queues_twenty_agents_ten_thousand_callers() -> None:
    """Poisson arrivals into three queues sharing agents: nobody is served out of order, no
    agent is offered two calls at once, and the EWT error is reported."""
    config = _three_queues()
    queues = {q.number: q for q in config.queues}
    out_of_order: list[tuple[str, str]] = []

    def check(engine: Engine, offer: OfferCall, now: float) -> None:
        offered = engine.caller(offer.call)
        assert offered is not None
        a = engine.agent(offer.agent)
        key = service_key(queues[offered.queue], offered, now)
        for queue in a.memberships:
            for other in engine.waiting_in_order(queue, now):
                if other.state not in READY_FOR_OFFER or other.not_before > now:
                    continue
                q = queues[queue]
                if satisfies(a, widened_requirements(q, other, now)):
                    if service_key(q, other, now) < key:
                        out_of_order.append((offer.call, other.call))
                    break

    sim = Simulation(
        config,
        {"600": 0.04, "601": 0.05, "602": 0.02},
        handle_time_s=150.0,
        patience_s=240.0,
        calls=10_000,
        seed=11,
        answer_delay_s=2.0,
        warmup_fraction=0.0,
        observer=check,
    )
    measured = sim.run()
    assert measured.offered == 10_000
    assert out_of_order == []
    assert sim.offers_at_once_violations == 0
    assert measured.ewt_callers > 1000
    print(
        f"EWT error over {measured.ewt_callers} callers who waited: mean "
        f"{measured.ewt_mean_error_s:+.1f} s, mean absolute {measured.ewt_mean_abs_error_s:.1f} s, "
        f"against an average speed of answer of {measured.average_speed_of_answer_s:.1f} s"
    )
    # Every caller ends connected or abandoned: nobody is left in a queue.
    assert sim.engine.callers() == []
