"""Monitoring (sim/monitoring): the file format and its errors, alerts that fire on the exact
day a threshold is crossed (days and values read off the run's own daily and monthly tables),
early-warning counts, and the shipped default set on the baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.engine import simulate
from sim.monitoring import (
    DEFAULT_MONITORING,
    Monitoring,
    MonitoringError,
    MonitoringObserver,
    default_monitoring,
    load_monitoring,
)
from sim.portfolio import Status
from sim.scenario import load_scenario
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"


def crossings(series: np.ndarray, bad) -> list[int]:
    """Days a rule fires on: bad today, not bad on the last judged day (NaN: not judged)."""
    out, prev = [], False
    for d, x in enumerate(series):
        if np.isnan(x):
            continue
        now = bool(bad(x))
        if now and not prev:
            out.append(d)
        prev = now
    return out


@pytest.fixture(scope="module")
def small():
    sc = load_scenario(SMALL).model_copy(update={"accounts": 3000, "days": 120})
    first = simulate(sc, resolve("standard"), 4)
    return sc, first


def test_alerts_fire_on_the_day_the_threshold_is_crossed(small):
    sc, first = small
    daily, monthly = first.daily, first.monthly
    dq = daily["delinquency_rate_30p"].to_numpy()
    up = float(dq[:25].max())  # first crossed after day 24, on a day the table says
    down = float(np.quantile(dq[40:], 0.3))
    cures7 = daily["cures"].rolling(7).sum().to_numpy()
    change = cures7 - np.r_[np.full(10, np.nan), cures7[:-10]]
    rise = float(np.nanquantile(change, 0.8))
    roll = monthly["roll_current_to_1-30"].to_numpy()[:4]
    roll_t = float(np.median(roll))
    mon = Monitoring.model_validate(
        {
            "rules": [
                {"id": "dq_up", "kpi": "delinquency_rate_30p", "threshold": up},
                {
                    "id": "dq_down",
                    "kpi": "delinquency_rate_30p",
                    "threshold": down,
                    "direction": "below",
                    "severity": "info",
                },
                {
                    "id": "cures_jump",
                    "kpi": "cures",
                    "measure": "change",
                    "change_days": 10,
                    "window_days": 7,
                    "threshold": rise,
                },
                {
                    "id": "roll",
                    "kpi": "roll_current_to_1_30",
                    "every": "month",
                    "threshold": roll_t,
                    "min_count": 0,
                },
            ]
        }
    )
    obs = MonitoringObserver(mon)
    simulate(sc, resolve("standard"), 4, observers=[obs])  # the same run, watched
    alerts = obs.alerts()
    got = {r: alerts.loc[alerts["rule"] == r, "day"].tolist() for r in alerts["rule"].unique()}
    want_up = crossings(dq, lambda x: x > up)
    assert want_up and want_up[0] > 24
    assert got["dq_up"] == want_up
    assert got["dq_down"] == crossings(dq, lambda x: x < down)
    assert got["cures_jump"] == crossings(change, lambda x: x > rise) != []
    month_end = np.full(sc.days, np.nan)
    month_end[29::30] = roll
    assert got["roll"] == crossings(month_end, lambda x: x > roll_t) != []
    first_up = alerts[alerts["rule"] == "dq_up"].iloc[0]
    assert first_up["value"] == pytest.approx(dq[want_up[0]], rel=1e-12)
    assert first_up["value"] > up >= dq[want_up[0] - 1]  # not before: the day before was inside
    s = obs.summary()
    assert s["kpis_fired"] == sorted(
        {"delinquency_rate_30p", "cures", "roll_current_to_1_30"}
    ) and len(s["alerts"]) == len(alerts)


def test_window_kpis_and_early_warning_counts(small):
    sc, _ = small
    obs = MonitoringObserver(default_monitoring())
    res = simulate(sc, resolve("standard"), 4, observers=[obs], keep_portfolio=True)
    k = obs.kpis()
    m = res.monthly
    ends = k.iloc[29::30]
    kept, broken = m["promises_kept"].to_numpy(), m["promises_broken"].to_numpy()
    np.testing.assert_allclose(ends["promise_keep_rate"], kept / (kept + broken))
    np.testing.assert_allclose(ends["roll_1_30_to_current"], m["roll_1-30_to_current"])
    cost, coll = m["cost"].to_numpy(), m["collected"].to_numpy()
    np.testing.assert_allclose(ends["cost_per_collected"], cost / coll)
    assert np.isnan(k["promise_keep_rate"].iloc[28]) and np.isnan(k["roll_1_30_to_current"][30])
    p, last = res.portfolio, sc.days - 1
    open_ = p.status == Status.OPEN
    assert k["ew_hardship_seen"].iloc[-1] == np.count_nonzero(open_ & p.hardship_seen)
    partial = open_ & (p.last_partial_day > last - 90)
    assert k["ew_partial_payment"].iloc[-1] == np.count_nonzero(partial) > 0
    anyf = open_ & (p.hardship_seen | p.missed_reminder | (p.last_partial_day > last - 90))
    assert k["ew_any_share"].iloc[-1] == pytest.approx(anyf.sum() / open_.sum())


def fired_kpis(sc, seeds) -> list[set[str]]:
    out = []
    for seed in seeds:
        obs = MonitoringObserver(default_monitoring())
        simulate(sc, resolve("standard"), seed, observers=[obs])
        out.append(set(obs.summary()["kpis_fired"]))
    return out


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 19 acceptance not met since the response model (issue 16) set the baseline's "
    "response against the trial library: over 540 days the run-off book's promise keeping "
    "(mean 0.54, threshold 0.50) and 31-60 -> 61-90 roll (mean 0.61, threshold 0.70) cross their "
    "thresholds by sampling noise in 6 of 10 baseline seeds, and the severe recession fires on "
    "promise keeping in only 3 of 10; values that fix both move Laudenbach's default trial "
    "outside its interval (docs/monitoring.md)",
)
def test_default_set_quiet_on_the_baseline_and_fires_in_a_severe_recession():
    """Issue 19's acceptance, seeds 1-10, on 50,000 of the books' 100,000 accounts over the
    severe recession's 540 days (docs/monitoring.md gives the full-size figures). The
    baseline fires nothing; the severe recession (+5 points of unemployment) fires in every
    seed on the 30+ rise and on promise keeping, and on the charge-off rise in some (the
    charge-off peak lags the recession by a few quarters, near the end of the horizon)."""
    book = {"accounts": 50_000}
    baseline = load_scenario(ROOT / "scenarios" / "baseline.yaml", days=540, **book)
    severe = load_scenario(ROOT / "scenarios" / "severe_recession.yaml", **book)
    assert severe.days == 540
    seeds = range(1, 11)
    quiet = fired_kpis(baseline, seeds)
    assert all(not f for f in quiet), quiet
    loud = fired_kpis(severe, seeds)
    assert all({"delinquency_rate_30p", "promise_keep_rate"} <= f for f in loud), loud
    assert len(set().union(*loud)) >= 3, loud


def test_the_default_file_ships_and_loads():
    mon = load_monitoring(DEFAULT_MONITORING)
    assert mon.name == "default" and len(mon.rules) >= 12
    assert all(r.source for r in mon.rules)  # every threshold says where it comes from
    watched = {r.kpi for r in mon.rules}
    for kpi in (
        "delinquency_rate_30p",
        "npl_ratio_90p",
        "roll_1_30_to_31_60",
        "roll_1_30_to_current",
        "promise_keep_rate",
        "complaints_per_1000",
        "churn_per_1000",
        "cost_per_collected",
        "charge_off_rate_annualised",
    ):
        assert kpi in watched
    assert obs_limits(mon).share == {"purpose": 0.8}


def obs_limits(mon: Monitoring):
    return MonitoringObserver(mon).concentration_limits()


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("rules:\n  - {id: a, kpi: nope, threshold: 1}\n", "rule 1, field 'kpi'", "unknown KPI"),
        ("rules:\n  - {id: a, kpi: cures, threshold: x}\n", "rule 1, field 'threshold'", "number"),
        (
            "rules:\n  - {id: a, kpi: cures, threshold: 1, direction: up}\n",
            "rule 1, field 'direction'",
            "above",
        ),
        (
            "rules:\n  - {id: a, kpi: roll_current_to_1_30, threshold: 0.1}\n",
            "rule 1",
            "every: month",
        ),
        (
            "rules:\n  - {id: a, kpi: cures, threshold: 1}\n"
            "  - {id: a, kpi: cures, threshold: 2}\n",
            "",
            "used twice",
        ),
        (
            "rules:\n  - {id: a, kpi: cures, threshold: 1, colour: red}\n",
            "rule 1, field 'colour'",
            "unknown key",
        ),
        ("rules: []\n", "field 'rules'", "at least 1"),
        ("- just a list\n", "", "mapping"),
        (
            "rules:\n  - {id: a, kpi: cures, threshold: 1}\nconcentration: {share: {purpose: 2}}\n",
            "concentration.share",
            "fraction",
        ),
    ],
)
def test_bad_files_name_the_file_and_field(tmp_path, text, field, words):
    path = tmp_path / "watch.yaml"
    path.write_text(text)
    with pytest.raises(MonitoringError) as exc:
        load_monitoring(path)
    msg = str(exc.value)
    assert str(path) in msg and field in msg and words in msg, msg
