"""The verification verdict reads its intervals correctly and adjusts for its several claims."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optimizer.verify import KPIS, Verification, interval_reading, with_holm


def _verification(rows: dict[str, tuple[float, float, float, float]]) -> Verification:
    """A verification whose table holds ``kpi: (diff, low, high, p_value)`` (others zero)."""
    out = []
    for k in KPIS:
        diff, low, high, p = rows.get(k, (0.0, -1.0, 1.0, 1.0))
        row = {"kpi": k, "candidate": 1e6 + diff, "reference": 1e6, "diff": diff}
        out.append(row | {"ci_low": low, "ci_high": high, "p_value": p, "uplift": diff / 1e6})
    table = with_holm(pd.DataFrame(out).set_index("kpi"))
    return Verification(table, pd.DataFrame(), [1, 2, 3], "cand", "standard")


@pytest.mark.parametrize(
    ("low", "high", "reading"),
    [(-313_590, -47_394, "below 0"), (66_047, 212_653, "above 0"), (-74_398, 154_055,
     "includes 0"), (math.nan, 1.0, "no interval")],
)  # fmt: skip
def test_interval_reading(low, high, reading):
    assert interval_reading(low, high) == reading


def test_negative_interval_excluding_zero_is_read_as_below_zero():
    # the case: [-313,590, -47,394] was printed "(interval includes 0: not shown)"
    v = _verification({"net_value": (-180_492.0, -313_590.0, -47_394.0, 0.012)})
    text = v.verdict()
    line = next(x for x in text.splitlines() if x.startswith("net value"))
    assert "[-313,590, -47,394] (below 0" in line
    assert "includes 0" not in line
    assert "does NOT beat" in text.splitlines()[-1]
    assert not v.significant["net_value"]


def test_holm_adjustment_decides_the_verdict():
    # p = 0.03 alone would pass at 5 %; with cost and churn both clearly worse-or-equal claims in
    # the family, Holm multiplies the smallest p by 3: 0.01 * 3 = 0.03 <= 0.05 still passes,
    # 0.02 * 3 = 0.06 fails although the unadjusted interval excludes 0
    ok = _verification({"net_value": (50_000.0, 10_000.0, 90_000.0, 0.01),
                        "cost": (-1_000.0, -5_000.0, 3_000.0, 0.6),
                        "churned": (2.0, -5.0, 9.0, 0.5)})  # fmt: skip
    assert ok.significant["net_value"]
    assert ok.verdict().splitlines()[-1] == (
        "verdict: beats the reference on net value at no higher cost"
    )
    borderline = _verification({"net_value": (50_000.0, 1_000.0, 99_000.0, 0.02),
                                "cost": (-1_000.0, -5_000.0, 3_000.0, 0.6),
                                "churned": (2.0, -5.0, 9.0, 0.5)})  # fmt: skip
    assert np.isclose(borderline.table.loc["net_value", "p_holm"], 0.06)
    assert not borderline.significant["net_value"]
    assert "does NOT beat" in borderline.verdict()
    assert "(above 0, p(Holm) 0.06)" in borderline.verdict()


def test_higher_cost_is_named():
    v = _verification({"net_value": (50_000.0, 10_000.0, 90_000.0, 0.001),
                       "cost": (9_000.0, 5_000.0, 13_000.0, 0.001)})  # fmt: skip
    assert v.verdict().splitlines()[-1] == (
        "verdict: higher net value than the reference, but at a higher cost"
    )
    assert v.summary()["significant_holm"] == {"net_value": True, "cost": False, "churned": False}
