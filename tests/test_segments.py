"""Segment views (sim/segments.py): within every segmentation the segments add up to the book,
day by day, month by month and over the run; rates are the segments' rates weighted by their
denominators; caller-given bands work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.engine import simulate
from sim.scenario import load_scenario
from sim.segments import (
    BOOK_COLUMNS,
    SEGMENT_FLOWS,
    SEGMENT_RATES,
    SEGMENT_STOCKS,
    SegmentObserver,
    bands,
    book_column,
)
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run():
    sc = load_scenario(ROOT / "scenarios" / "small.yaml").model_copy(
        update={"accounts": 3000, "days": 75}
    )

    # a score the caller computes from the book at the start (here: the opening
    # debt-to-income), passed in as a function of the book that bands it
    obs = SegmentObserver(
        extra=[lambda book: bands("score_band", book.dti_opening, [0.2, 0.35], ["A", "B", "C"])]
    )
    result = simulate(sc, resolve("standard"), 11, observers=[obs])
    return result, obs


def test_segments_add_up_to_the_book_every_day(run):
    result, obs = run
    daily, seg = result.daily, obs.daily()
    kinds = seg["segment_kind"].unique().tolist()
    assert kinds == ["purpose", "credit", "capacity", "value_tier", "score_band"]
    assert result.summary["charge_offs"] > 0 and result.summary["complaints"] > 0
    for kind in kinds:
        part = seg[seg["segment_kind"] == kind]
        by_day = part.groupby("day")
        for figure in BOOK_COLUMNS:
            book = book_column(daily, figure)
            total = by_day[figure].sum().to_numpy()
            tol = 1e-6 if figure in ("outstanding", "balance_30p", "balance_90p") else 1e-9
            np.testing.assert_allclose(total, book, rtol=tol, atol=1e-6, err_msg=f"{kind} {figure}")
        assert (by_day["accounts"].sum() == result.summary["accounts"]).all()
        # weighted rates: the book's rate is the segments' rates weighted by the denominator
        for rate, (_num, den) in SEGMENT_RATES.items():
            w = part[den].to_numpy()
            num_w = part[rate].to_numpy() * w
            book_rate = (
                (
                    part.assign(x=num_w).groupby("day")["x"].sum()
                    / part.groupby("day")[den].sum().replace(0, np.nan)
                )
                .fillna(0)
                .to_numpy()
            )
            if rate in daily:
                np.testing.assert_allclose(book_rate, daily[rate].to_numpy(), rtol=1e-6, atol=1e-12)


def test_monthly_and_summary_add_up(run):
    result, obs = run
    monthly, summ = obs.monthly(), obs.summary()
    for kind, part in summ.groupby("segment_kind", sort=False):
        for figure in SEGMENT_FLOWS:
            book = book_column(result.daily, figure).sum()
            assert part[figure].sum() == pytest.approx(book, rel=1e-9, abs=1e-6), (kind, figure)
        assert part["cures"].sum() == pytest.approx(
            result.summary["cure_rate"] * part["episodes"].sum()
        )
        # weighted mean of the segments' cure rates, by episodes, is the book's
        e = part["episodes"].to_numpy()
        assert (part["cure_rate"] * e).sum() / e.sum() == pytest.approx(result.summary["cure_rate"])
        last = part["balance_30p"].sum() / part["outstanding"].sum()
        assert last == pytest.approx(result.summary["delinquency_rate_30p"], rel=1e-6)
    m = monthly[monthly["segment_kind"] == "credit"].groupby("month")
    np.testing.assert_allclose(
        m["collected_delinquent"].sum().to_numpy(),
        result.monthly["collected_delinquent"],
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        m["outstanding"].sum().to_numpy(), result.monthly["outstanding"], rtol=1e-6
    )
    assert set(SEGMENT_STOCKS) <= set(monthly.columns)
    # poor credit standing is riskier than good (the population's design)
    s = summ[summ["segment_kind"] == "credit"].set_index("segment")
    assert s.loc["poor", "new_delinquent"] / s.loc["poor", "accounts"] > (
        s.loc["good", "new_delinquent"] / s.loc["good", "accounts"]
    )


def test_bands_edges():
    seg = bands("score_band", np.array([0.1, 0.2, 0.34, 0.35, 0.9]), [0.2, 0.35], ["A", "B", "C"])
    assert seg.codes.tolist() == [0, 1, 1, 2, 2]
    with pytest.raises(ValueError):
        bands("x", np.zeros(3), [0.5, 0.2], ["a", "b", "c"])
