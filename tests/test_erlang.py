"""Erlang-C and Erlang-A against published figures and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from sim.operations.erlang import (
    agents_for_service_level,
    erlang_a,
    erlang_b,
    erlang_c,
    erlang_c_mean_wait,
    erlang_c_service_level,
    offered_load,
    queue_metrics,
)


def test_textbook_example_1000_calls_120s_40_agents() -> None:
    m = queue_metrics(calls_per_hour=1000, aht_s=120, agents=40, target_s=20)
    assert m.offered_load == pytest.approx(33.3333, abs=1e-4)
    assert round(m.p_wait, 4) == 0.1907
    assert round(m.service_level, 4) == 0.9372
    assert m.mean_wait_s == pytest.approx(3.43, abs=0.01)
    assert m.occupancy == pytest.approx(1000 * 120 / 3600 / 40)
    assert m.abandon_rate == 0.0


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.8, 0.95])
def test_single_agent_matches_mm1_closed_forms(rho: float) -> None:
    aht = 100.0
    lam, mu = rho / aht, 1.0 / aht  # per second
    m = queue_metrics(calls_per_hour=lam * 3600, aht_s=aht, agents=1, target_s=30)
    assert m.p_wait == pytest.approx(rho, rel=1e-12)
    assert m.mean_wait_s == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert m.service_level == pytest.approx(1 - rho * math.exp(-(mu - lam) * 30), rel=1e-12)


def test_erlang_b_matches_recursion_and_is_stable_for_large_n() -> None:
    load, blocking = 80.0, 1.0
    for n in range(1, 101):  # classic recursion B(n) = a B(n-1) / (n + a B(n-1))
        blocking = load * blocking / (n + load * blocking)
        assert erlang_b(n, load) == pytest.approx(blocking, rel=1e-10)
    big = erlang_c(5200, 5000.0)
    assert 0.0 < big < 1.0 and math.isfinite(big)


def test_unstable_erlang_c_limits() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert erlang_c_mean_wait(10, 12.0, 120) == math.inf
    assert erlang_c_service_level(10, 12.0, 120, 20) == 0.0


def test_erlang_a_with_huge_patience_tends_to_erlang_c() -> None:
    c = queue_metrics(1000, 120, 40, 20)
    a = queue_metrics(1000, 120, 40, 20, patience_s=1e8)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-5)
    assert a.mean_wait_s == pytest.approx(c.mean_wait_s, rel=1e-5)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-5)
    assert a.abandon_rate < 1e-7


def _birth_death_reference(
    lam: float, aht: float, patience: float, n: int, t: float, size: int = 60
) -> tuple[float, float, float, float]:
    """P(wait), mean wait, P(abandon), P(answered within t) from the CTMC, by brute force.

    The stationary law solves ``pi Q = 0`` on a truncated chain; the service level follows a
    tagged call through the queue with a matrix exponential.
    """
    mu, theta = 1.0 / aht, 1.0 / patience
    q = np.zeros((size, size))
    for k in range(size - 1):
        q[k, k + 1] = lam
        q[k + 1, k] = min(k + 1, n) * mu + max(k + 1 - n, 0) * theta
    np.fill_diagonal(q, -q.sum(axis=1))
    a = np.vstack([q.T, np.ones(size)])
    b = np.zeros(size + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    queue = np.maximum(np.arange(size) - n, 0) @ pi
    # Tagged call with m calls ahead: moves up at n mu + m theta, abandons at theta.
    ahead = size - n
    g = np.zeros((ahead + 2, ahead + 2))
    served, gone = ahead, ahead + 1
    for m in range(ahead):
        g[m, m - 1 if m > 0 else served] = n * mu + m * theta
        g[m, gone] = theta
    np.fill_diagonal(g, -g.sum(axis=1))
    answered = expm(g * t)[:ahead, served]
    service_level = pi[:n].sum() + pi[n:] @ answered
    return pi[n:].sum(), queue / lam, theta * queue / lam, service_level


@pytest.mark.parametrize(
    ("calls_per_hour", "aht", "patience", "agents"),
    [(20.0, 150.0, 90.0, 1), (60.0, 150.0, 90.0, 3), (40.0, 300.0, 60.0, 2)],
)
def test_erlang_a_matches_birth_death_chain(
    calls_per_hour: float, aht: float, patience: float, agents: int
) -> None:
    p_wait, wait, abandon, sl = _birth_death_reference(
        calls_per_hour / 3600, aht, patience, agents, t=30.0
    )
    m = erlang_a(agents, offered_load(calls_per_hour, aht), aht, patience, target_s=30.0)
    assert m.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert m.mean_wait_s == pytest.approx(wait, rel=1e-9)
    assert m.abandon_rate == pytest.approx(abandon, rel=1e-9)
    assert m.service_level == pytest.approx(sl, rel=1e-9)


def test_erlang_a_overloaded_line_is_finite_and_conserves_flow() -> None:
    m = queue_metrics(1000, 120, 30, 20, patience_s=180)  # load 33.3 > 30 agents
    assert 0 < m.service_level < 1 and 0 < m.abandon_rate < 1
    # Agents answer at most n / AHT calls per second: answered share <= n / load.
    assert 1 - m.abandon_rate <= 30 / m.offered_load + 1e-12
    assert m.occupancy == pytest.approx(m.offered_load * (1 - m.abandon_rate) / 30)


def test_large_centres_are_stable() -> None:
    c = queue_metrics(100_000, 120, 3400, 20)
    a = queue_metrics(100_000, 120, 3300, 20, patience_s=60)
    for m in (c, a):
        values = [m.p_wait, m.mean_wait_s, m.service_level, m.abandon_rate, m.occupancy]
        assert all(math.isfinite(v) for v in values)
        assert 0 <= m.service_level <= 1


@settings(max_examples=25, deadline=None)
@given(
    calls_per_hour=st.floats(10, 5000),
    aht=st.floats(30, 600),
    target_sl=st.floats(0.5, 0.95),
    patience=st.one_of(st.none(), st.floats(30, 600)),
)
def test_agents_for_service_level_is_the_fewest(
    calls_per_hour: float, aht: float, target_sl: float, patience: float | None
) -> None:
    n = agents_for_service_level(calls_per_hour, aht, target_sl, 20.0, patience)
    assert queue_metrics(calls_per_hour, aht, n, 20.0, patience).service_level >= target_sl
    if n > 1:
        fewer = queue_metrics(calls_per_hour, aht, n - 1, 20.0, patience)
        assert fewer.service_level < target_sl


def test_agents_for_service_level_examples() -> None:
    assert agents_for_service_level(1000, 120, 0.8, 20) == 38
    with_patience = agents_for_service_level(1000, 120, 0.8, 20, patience_s=180)
    assert with_patience <= 38  # callers who hang up relieve the queue
    with pytest.raises(ValueError, match="target_sl"):
        agents_for_service_level(1000, 120, 1.0, 20)


@settings(max_examples=25, deadline=None)
@given(agents=st.integers(1, 60), load=st.floats(0.5, 80), patience=st.floats(20, 2000))
def test_erlang_a_figures_are_probabilities(agents: int, load: float, patience: float) -> None:
    m = erlang_a(agents, load, 120.0, patience, target_s=20.0)
    for p in (m.p_wait, m.service_level, m.abandon_rate, m.occupancy):
        assert -1e-12 <= p <= 1 + 1e-12
    assert m.service_level <= 1 - m.abandon_rate + 1e-12
