"""The decision of a comparison: which policy wins on the priced objective, and at what cost.

A comparison table (:func:`postloan.experiments.comparison.compare_cells`) has a verdict per
challenger and KPI: with six strategies and 130 KPIs, 650 of them. A manager asks one question
per challenger: does it beat the champion on the objective the book is run for, and what does
it cost elsewhere? :func:`decide` answers it, per variant:

* the **objective** is the registry's priced objective (:func:`sim.outcomes.objective`:
  ``net_value`` once registered, net recovery until then);
* a challenger **wins** when its paired difference on the objective is better than the
  champion's and stays significant after Holm's adjustment over the challengers (``p_holm``),
  **loses** when it is worse and significant after the same adjustment, and is **no clear
  difference** otherwise; the verdict text comes from :func:`sim.statistics.verdict`;
* the **winner** is the challenger with the largest adjusted-significant gain, else the
  champion; when several challengers win, the best two are compared directly (paired, on the
  cells), so "the best" is not claimed without an interval;
* each verdict carries the share of replications won and, where the cells hold them, the share
  of **response draws** (``response_draw``) or uncertainty samples (``sample``) in which the
  challenger's mean difference favours it, with their range; without either the interval
  covers simulation noise only, and the decision says so;
* the **trade-offs** (:data:`sim.outcomes.TRADE_OFF_KPIS`: cost, churn, complaints) are the
  paired differences with their intervals, judged with the same Holm adjustment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from postloan.formatting import format_diff
from sim.outcomes import TRADE_OFF_KPIS, direction, label, objective, unit
from sim.statistics import paired_difference
from sim.statistics import verdict as judge

#: Columns of a cells table that may hold draws of uncertain inputs, in order of preference.
DRAW_COLUMNS = (("response_draw", "response draws"), ("sample", "uncertainty samples"))


@dataclass(frozen=True)
class Effect:
    """A challenger's paired difference from the champion on one KPI.

    ``word`` is :func:`sim.statistics.verdict`'s (better, worse, not significant...), turned
    to ``not significant after adjustment`` when Holm's adjustment over the challengers
    (``p_adjusted``) undoes it.
    """

    kpi: str
    diff: float
    low: float
    high: float
    win_rate: float
    n: int
    p_value: float
    p_adjusted: float
    word: str
    text: str

    @property
    def decided(self) -> bool:
        """Better or worse, after the adjustment."""
        return self.word in ("better", "worse")


@dataclass(frozen=True)
class Draws:
    """The objective over draws of uncertain inputs: ``won`` of ``count`` draws in which the
    challenger's mean paired difference favours it, and the range of those means."""

    what: str
    count: int
    won: int
    low: float
    high: float


@dataclass(frozen=True)
class ChallengerVerdict:
    """One overall verdict: ``outcome`` is ``wins``, ``loses`` or ``no clear difference``."""

    strategy: str
    outcome: str
    objective: Effect
    trade_offs: list[Effect]
    draws: Draws | None


@dataclass(frozen=True)
class Decision:
    """The decision of one variant of a comparison."""

    variant: int
    variant_label: str
    champion: str
    objective: str
    currency: str
    winner: str
    challengers: list[ChallengerVerdict]
    headline: str
    uncertainty: str
    adjustment: str
    runner_up: Effect | None = None
    notes: list[str] = field(default_factory=list)


def _float(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def money(kpi: str, x: float, currency: str, scale: float | None = None) -> str:
    """A signed difference with its unit: ``+18,622 USD``, ``+1.20 pp``, ``-3.00 accounts``."""
    text = format_diff(kpi, x, abs(x) if scale is None else scale)
    u = unit(kpi, currency)
    return text if u in ("", "%") else f"{text} {u}"


def _effect(row: pd.Series, champion: str, currency: str, alpha: float) -> Effect:
    kpi = str(row["kpi"])
    diff, lo, hi = (_float(row[c]) for c in ("diff", "diff_ci_low", "diff_ci_high"))
    scale = max(abs(diff), abs(lo), abs(hi)) if math.isfinite(lo) else abs(diff)
    n = int(_float(row["n"])) if math.isfinite(_float(row["n"])) else 0
    v = judge(
        str(row["strategy"]),
        champion,
        label(kpi),
        diff,
        lo,
        hi,
        n,
        direction(kpi),
        fmt=lambda x: money(kpi, x, currency, scale),
    )
    p_adj = _float(row.get("p_holm"))
    word, text = v.word, v.text
    if v.significant and math.isfinite(p_adj) and p_adj > alpha:
        word = "not significant after adjustment"
        text = f"{text}; not significant after Holm's adjustment (adjusted p {p_adj:.3f})"
    return Effect(
        kpi=kpi,
        diff=diff,
        low=lo,
        high=hi,
        win_rate=_float(row.get("win_rate")),
        n=n,
        p_value=_float(row.get("p_value")),
        p_adjusted=p_adj,
        word=word,
        text=text,
    )


def _row(rows: pd.DataFrame, kpi: str) -> pd.Series:
    return pd.Series({**rows.loc[kpi].to_dict(), "kpi": kpi})


def _draws(cells: pd.DataFrame | None, strategy: str, champion: str, kpi: str) -> Draws | None:
    """Per draw (response draw or uncertainty sample), the challenger's mean paired difference
    over replications; None when the cells hold fewer than two draws."""
    if cells is None or kpi not in cells:
        return None
    col, what = next(
        ((c, w) for c, w in DRAW_COLUMNS if c in cells and cells[c].nunique() > 1), (None, "")
    )
    if col is None:
        return None
    units = [c for c in (col, "sample", "replication") if c in cells]
    units = list(dict.fromkeys(units))
    a = cells[cells["strategy"] == strategy].set_index(units)[kpi]
    b = cells[cells["strategy"] == champion].set_index(units)[kpi]
    d = (a - b.reindex(a.index)).dropna()
    if d.empty:
        return None
    per = d.groupby(level=col).mean()
    good = per > 0 if direction(kpi) != "lower" else per < 0
    return Draws(what, int(per.size), int(good.sum()), float(per.min()), float(per.max()))


def _kept_draws(response: dict | None, variant: int, strategy: str, kpi: str) -> Draws | None:
    """A challenger's draws from a ``response_draws`` block: the draws the trial library kept
    (share won and range of the mean difference), when the block is about ``kpi``."""
    if not isinstance(response, dict):
        return None
    for row in response.get("summary") or []:
        if (row.get("variant"), row.get("strategy"), row.get("objective")) != (
            variant,
            strategy,
            kpi,
        ):
            continue
        kept = row.get("kept_draws") or {}
        n, share = kept.get("draws") or 0, kept.get("share_better")
        if n and share is not None:
            low, high = kept.get("low"), kept.get("high")
            return Draws(
                "response draws kept by the trial library",
                int(n),
                round(share * n),
                math.nan if low is None else float(low),
                math.nan if high is None else float(high),
            )
    return None


def _runner_up(
    cells: pd.DataFrame | None, best: str, second: str, kpi: str, currency: str
) -> Effect | None:
    """The paired difference of the best winner over the second best, from the cells."""
    if cells is None or kpi not in cells:
        return None
    units = [c for c in ("response_draw", "sample", "replication") if c in cells]
    a = cells[cells["strategy"] == best].set_index(units)[kpi]
    b = cells[cells["strategy"] == second].set_index(units)[kpi].reindex(a.index)
    ok = a.notna() & b.notna()
    if ok.sum() < 2:
        return None
    pdiff = paired_difference(a[ok], b[ok], direction(kpi) != "lower")
    row = pd.Series(
        {
            "kpi": kpi,
            "strategy": best,
            "diff": pdiff.diff,
            "diff_ci_low": pdiff.low,
            "diff_ci_high": pdiff.high,
            "n": pdiff.n,
            "win_rate": pdiff.win_rate,
            "p_value": pdiff.p_value,
            "p_holm": math.nan,  # one direct comparison, chosen after the fact: see notes
        }
    )
    return _effect(row, second, currency, 0.05)


def decide(
    comp: pd.DataFrame,
    cells: pd.DataFrame | None = None,
    champion: str | None = None,
    currency: str = "USD",
    confidence: float = 0.95,
    response: dict | None = None,
) -> list[Decision]:
    """One :class:`Decision` per variant of a comparison table.

    Parameters
    ----------
    comp : DataFrame
        :func:`postloan.experiments.comparison.compare_cells`'s table (``p_holm`` needed).
    cells : DataFrame, optional
        The cells: for draws of uncertain inputs and the direct comparison of two winners.
    champion : str, optional
        Default: the table's ``champion`` column.
    currency : str
        The scenario's currency, for amounts.
    response : dict, optional
        The ``response_draws`` block of ``comparison.json`` (``compare --response-draws``):
        its per-challenger summary over the draws the trial library kept is used for the
        draws, in place of counting the cells' samples.
    """
    if comp.empty:
        return []
    obj = objective()
    if obj not in set(comp["kpi"]):
        obj = "net_recovery"
    alpha = 1 - confidence
    out = []
    for (vi, vlabel), vc in comp.groupby(["variant", "variant_label"], sort=True):
        champ = champion or str(vc["champion"].iloc[0])
        vcells = None if cells is None else cells[cells["variant"] == vi]
        chal = vc[(vc["strategy"] != champ) & vc["diff_ci_low"].notna()]
        strategies = list(dict.fromkeys(chal["strategy"]))
        verdicts = []
        for s in strategies:
            rows = chal[chal["strategy"] == s].set_index("kpi")
            if obj not in rows.index:
                continue
            eff = _effect(_row(rows, obj), champ, currency, alpha)
            trade = [
                _effect(_row(rows, k), champ, currency, alpha)
                for k in TRADE_OFF_KPIS
                if k in rows.index
            ]
            outcome = {"better": "wins", "worse": "loses"}.get(eff.word, "no clear difference")
            verdicts.append(
                ChallengerVerdict(
                    s,
                    outcome,
                    eff,
                    trade,
                    _kept_draws(response, int(vi), s, obj) or _draws(vcells, s, champ, obj),
                )
            )
        winners = sorted(
            (v for v in verdicts if v.outcome == "wins"),
            key=lambda v: v.objective.diff * (1 if direction(obj) != "lower" else -1),
            reverse=True,
        )
        m = len(verdicts)
        adjustment = (
            f"Holm's adjustment over the {m} challengers (family-wise error 5 %)"
            if m > 1
            else "one challenger: no adjustment needed"
        )
        draws = next((v.draws for v in verdicts if v.draws is not None), None)
        uncertainty = (
            f"intervals over replications; the share won is also given over {draws.count} "
            f"{draws.what}"
            if draws is not None
            else "simulation noise only (replications of one parameter set: no response "
            "uncertainty in these intervals)"
        )
        notes: list[str] = []
        runner = None
        name = label(obj)
        if winners:
            best = winners[0]
            winner = best.strategy
            e = best.objective
            headline = (
                f"{winner} wins on {name}: {money(obj, e.diff, currency)} over the run against "
                f"{champ} (95 % interval {money(obj, e.low, currency)} to "
                f"{money(obj, e.high, currency)})"
            )
            if len(winners) > 1:
                second = winners[1].strategy
                runner = _runner_up(vcells, winner, second, obj, currency)
                others = ", ".join(w.strategy for w in winners[1:])
                notes.append(f"{others} also beat{'s' if len(winners) == 2 else ''} {champ}")
        else:
            winner = champ
            lead = max(
                verdicts,
                key=lambda v: v.objective.diff * (1 if direction(obj) != "lower" else -1),
                default=None,
            )
            headline = f"No challenger beats {champ} on {name}"
            if lead is not None and lead.objective.word != "worse":
                e = lead.objective
                headline = (
                    f"Closest: {lead.strategy}, {money(obj, e.diff, currency)} against {champ} "
                    f"over the run (95 % interval {money(obj, e.low, currency)} to "
                    f"{money(obj, e.high, currency)}"
                    + (
                        f", which excludes 0 on its own but not after {adjustment_short(m)}: "
                        f"adjusted p {e.p_adjusted:.3f})"
                        if e.word == "not significant after adjustment"
                        else ")"
                    )
                )
                needed = replications_needed(e, m, alpha)
                if needed is not None:
                    notes.append(
                        f"{lead.strategy}: a difference of this size would need about "
                        f"{needed} replications to be decided after the adjustment"
                    )
        out.append(
            Decision(
                variant=int(vi),
                variant_label=str(vlabel),
                champion=champ,
                objective=obj,
                currency=currency,
                winner=winner,
                challengers=verdicts,
                headline=headline,
                uncertainty=uncertainty,
                adjustment=adjustment,
                runner_up=runner,
                notes=notes,
            )
        )
    return out


def adjustment_short(tests: int) -> str:
    """``adjusting for 5 challengers``."""
    return f"adjusting for {tests} challengers"


def replications_needed(e: Effect, tests: int, alpha: float = 0.05) -> int | None:
    """Replications for the observed mean and spread of ``e`` to be significant at
    ``alpha / tests`` (Holm's strictest step, Bonferroni's level) with 80 % power; None
    where the difference is 0 or its spread unknown."""
    from scipy import stats

    if e.n < 2 or not (math.isfinite(e.low) and math.isfinite(e.high)) or e.diff == 0:
        return None
    t = stats.t.ppf(1 - alpha / 2, e.n - 1)
    sd = (e.high - e.low) / 2 / t * math.sqrt(e.n)
    z = stats.norm.ppf(1 - alpha / (2 * max(tests, 1))) + stats.norm.ppf(0.8)
    n = int(np.ceil((z * sd / abs(e.diff)) ** 2))
    return max(n, e.n + 1)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def decision_records(
    comp: pd.DataFrame, cells: pd.DataFrame | None, currency: str = "USD"
) -> list[dict]:
    """The decisions as JSON-ready records (``comparison.json``'s ``decision``): per variant
    the objective, the winner, the headline, and per challenger its outcome, the paired
    difference on the objective with interval, p-values and replications won, the draws,
    and the trade-offs."""

    def effect(e: Effect) -> dict:
        return {
            "kpi": e.kpi,
            "diff": _num(e.diff),
            "ci_low": _num(e.low),
            "ci_high": _num(e.high),
            "p_value": _num(e.p_value),
            "p_adjusted": _num(e.p_adjusted),
            "win_rate": _num(e.win_rate),
            "n": e.n,
            "verdict": e.word,
        }

    return [
        {
            "variant": d.variant,
            "variant_label": d.variant_label,
            "champion": d.champion,
            "objective": d.objective,
            "currency": d.currency,
            "winner": d.winner,
            "headline": d.headline,
            "adjustment": d.adjustment,
            "uncertainty": d.uncertainty,
            "challengers": [
                {
                    "strategy": v.strategy,
                    "outcome": v.outcome,
                    "objective": effect(v.objective),
                    "draws": None
                    if v.draws is None
                    else {
                        "what": v.draws.what,
                        "count": v.draws.count,
                        "won": v.draws.won,
                        "low": _num(v.draws.low),
                        "high": _num(v.draws.high),
                    },
                    "trade_offs": [effect(t) for t in v.trade_offs],
                }
                for v in d.challengers
            ],
        }
        for d in decide(comp, cells, currency=currency)
    ]
