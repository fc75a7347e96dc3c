"""Post-charge-off recovery draws: keyed by account, not by the charge-off day.

An account is charged off at most once in a run, so its recovery luck (success, rate, lag,
settlement) is one draw per account: keyed by ``(seed, stream, account)`` it is the same
whichever day a strategy charges the account off (common random numbers across strategies),
and still independent of every other draw, so the model's statistics are unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.actions import RECOVERY_PATHS
from sim.constants import WILLINGNESS_CENTRE
from sim.engine import simulate
from sim.population import generate
from sim.recovery import RecoveryBook
from sim.rng import ONCE, Stream, account_uniforms, seed_key, uniforms
from sim.scenario import load_scenario
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
AGENCY = RECOVERY_PATHS.index("agency")


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SMALL, accounts=4000, days=150)


def _place(sc, p, idx, day, key, path=AGENCY, settle=0.0):
    book = RecoveryBook(horizon=sc.days)
    claim = np.full(idx.size, 1000.0)
    book.place(p, idx, claim, np.full(idx.size, path), day, sc, key, settle=settle)
    return book.all_rates(), book.cash_due, book


def test_account_uniforms_are_the_once_day_of_the_stream():
    key = seed_key(5)
    acc = np.arange(1000, dtype=np.int64)
    u = account_uniforms(key, Stream.RECOVERY_RATE, acc)
    np.testing.assert_array_equal(u, uniforms(key, Stream.RECOVERY_RATE, ONCE, acc))
    for day in (0, 1, 119, 179):  # never one of the stream's daily draws
        assert not np.array_equal(u, uniforms(key, Stream.RECOVERY_RATE, day, acc))
    # independent of the other recovery streams
    assert abs(np.corrcoef(u, account_uniforms(key, Stream.RECOVERY_SUCCESS, acc))[0, 1]) < 0.1


def test_same_account_same_recovery_luck_whatever_the_charge_off_day(scenario):
    p = generate(scenario, 11)
    idx = np.arange(0, 2000, dtype=np.int64)
    key = seed_key(11)
    rates_10, when_10, _ = _place(scenario, p, idx, 10, key)
    rates_90, when_90, _ = _place(scenario, p, idx, 90, key)
    np.testing.assert_array_equal(rates_10, rates_90)
    # the lag is the same too: cash arrives 80 days later when charged off 80 days later
    np.testing.assert_array_equal(when_10[11 : scenario.days - 80], when_90[91:])
    assert when_90[91:].sum() > 0
    # another seed: other luck
    rates_other, _, _ = _place(scenario, p, idx, 10, seed_key(12))
    assert not np.array_equal(rates_10, rates_other)


def test_recovery_statistics_unchanged(scenario):
    """The success share, the rates on success and failure and the mean lag are those of the
    path's parameters (the draw is uniform and independent of willingness)."""
    p = generate(scenario, 3)
    idx = np.arange(p.n, dtype=np.int64)
    spec = scenario.recovery["agency"]
    rates, _, book = _place(scenario, p, idx, 0, seed_key(3))
    will = 1.0 / (1.0 + np.exp(-(p.willingness[idx] - WILLINGNESS_CENTRE)))
    chance = np.clip(spec.success * (0.5 + will), 0, 1)
    ok = rates >= spec.success_rate_mean * 0.6
    n = idx.size
    se = np.sqrt((chance * (1 - chance)).sum()) / n
    assert abs(ok.mean() - chance.mean()) < 4 * se
    assert rates[ok].mean() == pytest.approx(spec.success_rate_mean, rel=0.03)
    assert rates[~ok].mean() == pytest.approx(spec.failure_rate_mean, rel=0.06)
    inside = (book.all_lags() < scenario.days).mean()  # cash due within the run
    assert inside == pytest.approx(-np.expm1(-(scenario.days - 1) / spec.lag_days_mean), abs=0.03)


def test_strategies_share_recovery_luck_in_a_run(monkeypatch):
    """Two strategies of one seed: an account charged off under both on the same path recovers
    at the same rate (the rate depends on the account's luck and willingness only), even when
    the strategies charge it off on different days."""
    sc = load_scenario(SMALL, accounts=6000, days=180)
    orig = RecoveryBook.place
    logs = {}
    for name in ("standard", "light_touch"):
        log = []

        def place(self, p, idx, claim, path, day, sc, key, settle=0.0, _log=log):
            out = orig(self, p, idx, claim, path, day, sc, key, settle)
            _log.append((idx.copy(), np.full(idx.size, day), path.copy(), self.rates[-1].copy()))
            return out

        monkeypatch.setattr(RecoveryBook, "place", place)
        simulate(sc, resolve(name), 4)
        acc, day, path, rate = (np.concatenate(c) for c in zip(*log, strict=True))
        assert np.unique(acc).size == acc.size  # charged off at most once: one draw each
        logs[name] = dict(zip(acc.tolist(), zip(day, path, rate, strict=True), strict=True))
    a, b = logs["standard"], logs["light_touch"]
    common = [i for i in a if i in b and a[i][1] == b[i][1] == AGENCY]
    assert len(common) > 20
    assert any(a[i][0] != b[i][0] for i in common)  # some charged off on different days
    for i in common:
        assert a[i][2] == b[i][2]
