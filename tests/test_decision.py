"""The decision of a comparison (postloan.experiments.decision): one overall verdict per
challenger on the priced objective, Holm over the challengers, draws when the cells have them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from postloan.experiments.comparison import compare_cells
from postloan.experiments.decision import decide, replications_needed
from sim.outcomes import objective


def _cells(effects: dict[str, float], reps: int = 8, draws: int = 0, seed: int = 1):
    """Cells of a champion ``a`` and challengers whose net value (and net recovery) differs
    from ``a`` by ``effects[name]`` plus noise of sd 10 (the book's own spread, sd 100, cancels in
    pairs)."""
    rng = np.random.default_rng(seed)
    rows = []
    n_draws = max(draws, 1)
    for d in range(n_draws):
        base = rng.normal(1000, 100, reps)
        for i, (name, eff) in enumerate({"a": 0.0, **effects}.items()):
            shift = eff * (1 + 0.5 * (d - (n_draws - 1) / 2)) if draws else eff
            net = base + shift + (rng.normal(0, 10, reps) if name != "a" else 0)
            for r in range(reps):
                row = {
                    "variant": 0,
                    "variant_label": "base",
                    "sample": 0,
                    "replication": r,
                    "strategy": name,
                    "strategy_index": i,
                    "net_recovery": net[r],
                    # the priced objective (net_value once registered) moves with net recovery
                    "net_value": net[r],
                    "cost": 50.0 + (5.0 if name == "b" else 0.0) + rng.normal(0, 0.5),
                    "churned": 10.0 + r % 2,
                    "complaints": 3.0 + (name == "c") * 2 + r % 2,
                }
                if draws:
                    row["response_draw"] = d
                rows.append(row)
    return pd.DataFrame(rows)


def test_one_verdict_per_challenger_and_the_winner():
    cells = _cells({"b": 40.0, "c": 20.0, "d": -30.0, "e": 0.0})
    comp = compare_cells(cells, "a")
    (d,) = decide(comp, cells, currency="EUR")
    assert d.objective == "net_value" and d.champion == "a"
    outcome = {v.strategy: v.outcome for v in d.challengers}
    assert outcome == {"b": "wins", "c": "wins", "d": "loses", "e": "no clear difference"}
    assert d.winner == "b" and d.headline.startswith("b wins on net value: +")
    assert " EUR " in d.headline and "4 challengers" in d.adjustment
    # the two winners compared directly, paired on the replications
    assert d.runner_up is not None and d.runner_up.word == "better"
    assert d.runner_up.diff == pytest.approx(
        cells[cells.strategy == "b"].net_value.mean()
        - cells[cells.strategy == "c"].net_value.mean()
    )
    trade = {t.kpi: t.word for t in d.challengers[0].trade_offs}
    assert trade == {"cost": "worse", "churned": "no difference", "complaints": "no difference"}
    assert d.uncertainty.startswith("simulation noise only")


def test_holm_can_undo_a_win():
    """A challenger whose interval excludes 0 on its own but not after Holm over the
    challengers does not win: the champion is kept, and the report says why."""
    for seed in range(1, 200):
        cells = _cells({"b": 9.0, "c": 0.0, "d": 0.0, "e": 0.0}, reps=6, seed=seed)
        comp = compare_cells(cells, "a")
        b = comp[(comp.strategy == "b") & (comp.kpi == objective())].iloc[0]
        if b.p_value < 0.05 < b.p_holm:
            break
    else:
        pytest.fail("no seed gave a difference significant only before the adjustment")
    (d,) = decide(comp, cells)
    v = next(v for v in d.challengers if v.strategy == "b")
    assert v.outcome == "no clear difference" and d.winner == "a"
    assert v.objective.word == "not significant after adjustment"
    assert "excludes 0 on its own but not after adjusting for 4 challengers" in d.headline
    assert any("replications to be decided" in n for n in d.notes)


def test_response_draws_are_counted_when_present():
    cells = _cells({"b": 20.0}, reps=5, draws=4)
    (d,) = decide(compare_cells(cells, "a"), cells)
    dr = d.challengers[0].draws
    assert dr is not None and dr.what == "response draws" and dr.count == 4
    per = (
        cells[cells.strategy == "b"].groupby("response_draw").net_value.mean()
        - cells[cells.strategy == "a"].groupby("response_draw").net_value.mean()
    )
    assert dr.won == int((per > 0).sum()) and dr.low == pytest.approx(per.min())
    assert "4 response draws" in d.uncertainty
    (plain,) = decide(compare_cells(_cells({"b": 20.0}), "a"), _cells({"b": 20.0}))
    assert plain.challengers[0].draws is None


def test_family_adjustment_of_the_details():
    cells = _cells({"b": 40.0, "c": 20.0, "d": -30.0, "e": 0.0})
    comp = compare_cells(cells, "a")
    chal = comp[comp.strategy != "a"]
    tests = int(chal.p_value.notna().sum())
    for kpi, rows in chal.groupby("kpi"):
        col = "p_holm" if kpi == objective() else "p_holm_all"
        assert (rows.p_adjusted == rows[col]).all()
    # p_holm_all is Holm over every challenger and KPI: at least the smallest p x tests
    assert chal.p_holm_all.min() == pytest.approx(min(1, chal.p_value.min() * tests))
    assert (chal.significant_adjusted == True).sum() <= (chal.significant == True).sum()  # noqa: E712


def test_replications_needed_grows_with_noise():
    from postloan.experiments.decision import Effect

    def effect(half_width: float) -> Effect:
        return Effect("net_recovery", 10.0, 10 - half_width, 10 + half_width, 0.8, 5, 0.04,
                      0.1, "", "")  # fmt: skip

    # sd of the differences = 20 / t(0.975, 4) * sqrt(5) = 16.1; (z(1 - 0.05/8) + z(0.8)) = 3.34
    assert replications_needed(effect(20.0), 4) == 29
    assert replications_needed(effect(20.0), 4) < replications_needed(effect(40.0), 4)
    assert replications_needed(effect(40.0), 1) < replications_needed(effect(40.0), 4)
    assert replications_needed(effect(1.0), 4) == 6  # never fewer than one more than run


def test_response_draws_block_of_the_comparison_is_read():
    """``compare --response-draws`` writes a ``response_draws`` block into comparison.json
    (draws kept by the trial library); the decision reports those, not the raw samples."""
    cells = _cells({"b": 20.0})
    block = {
        "summary": [
            {
                "variant": 0,
                "strategy": "b",
                "objective": objective(),
                "kept_draws": {"draws": 6, "share_better": 0.5, "low": -3.0, "high": 40.0},
            }
        ]
    }
    (d,) = decide(compare_cells(cells, "a"), cells, response=block)
    dr = d.challengers[0].draws
    assert (dr.what, dr.count, dr.won, dr.low, dr.high) == (
        "response draws kept by the trial library",
        6,
        3,
        -3.0,
        40.0,
    )
    assert "6 response draws kept by the trial library" in d.uncertainty
    other = {"summary": [{**block["summary"][0], "objective": "net_recovery"}]}
    (d,) = decide(compare_cells(cells, "a"), cells, response=other)
    assert d.challengers[0].draws is None  # a block about another objective is not used
