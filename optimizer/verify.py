"""Verify a chosen policy against a reference strategy on fresh seeds (paired, common random
numbers).

The search picks its compromise on the seeds it searched with, so the compromise's KPIs there
are optimistic (it was picked *because* it looked good on those seeds: the winner's curse).
:func:`verify` re-runs the compromise and the reference (``standard`` by default) on seeds the
search never saw (:func:`verification_seeds`), each seed once for each, so both face the same
books and the same luck, and reports per KPI the paired difference with its 95 % t-interval.

Net recovery is reported as the run summary defines it (``collected - cost``: cash from
accounts in arrears plus post-charge-off recoveries, less contact, staff and recovery costs;
on-time instalments of current accounts are *not* in it) and split into its two parts:

``net_before_charge_off``
    ``collected_delinquent - (cost - cost_recovery)``: cash from delinquent accounts less what
    it cost to work them (contacts and staff), the part the contact strategy drives.
``net_after_charge_off``
    ``collected_recovery - cost_recovery``: post-charge-off recoveries less their cost.

``scheduled_cash`` (instalments paid on time) is shown for information: a strategy that cures
more accounts earns more of it later, and it is not counted in net recovery.

With ``no_contact=True`` the verification also runs ``none`` (nobody contacted: the self-cure
baseline) on the same seeds, so an uplift can be read against what the reference strategy
itself adds over doing nothing (``uplift_vs_effect``), as well as against the reference's
whole net recovery (``uplift``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.search import EvalTask
from sim.engine import simulate
from sim.outcomes import direction
from sim.scenario import Scenario
from sim.statistics import holm, paired_difference

#: KPIs of the verification table, in order.
KPIS = (
    "net_value",
    "net_recovery",
    "net_before_charge_off",
    "net_after_charge_off",
    "collected",
    "collected_delinquent",
    "collected_recovery",
    "cost",
    "cost_contact_and_staff",
    "cost_recovery",
    "churned",
    "complaints",
    "compliance_breaches",
    "scheduled_cash",
)
#: The claims the verdict makes at once (KPI, the direction that is a win): a policy "beats the
#: reference" only if all hold, so their p-values are adjusted together (Holm), which keeps the
#: chance of any false claim in the verdict at most 5 % (the family-wise error rate).
VERDICT_FAMILY = (("net_value", "higher"), ("cost", "lower"), ("churned", "lower"))
_FAMILY_NAMES = tuple(k for k, _ in VERDICT_FAMILY)
#: Offset of the verification seeds from the search seeds (a prime; see verification_seeds).
FRESH_OFFSET = 104729


def verify_task(task: EvalTask) -> dict:
    """One run's verification KPIs (a top-level function: picklable for the executors)."""
    kw = {} if task.compliance is None else {"compliance": task.compliance}
    res = simulate(task.scenario, task.strategy, task.seed, check=False, **kw)
    s = res.summary
    cost_rec = float(s["cost_by_channel"]["recovery"])
    return {
        "net_value": s["net_value"],
        "net_recovery": s["net_recovery"],
        "net_before_charge_off": s["collected_delinquent"] - (s["cost"] - cost_rec),
        "net_after_charge_off": s["collected_recovery"] - cost_rec,
        "collected": s["collected"],
        "collected_delinquent": s["collected_delinquent"],
        "collected_recovery": s["collected_recovery"],
        "cost": s["cost"],
        "cost_contact_and_staff": s["cost"] - cost_rec,
        "cost_recovery": cost_rec,
        "churned": float(s["churned"]),
        "complaints": float(s["complaints"]),
        "compliance_breaches": float(s["compliance_breaches"]),
        "scheduled_cash": float(res.daily["scheduled_cash"].sum()),
    }


def verification_seeds(scenario: Scenario, n: int) -> list[int]:
    """``n`` seeds that no search or response table uses: the search runs on
    ``seed + 7919 r``; these are ``seed + 104729 + 7919 r`` (104729 is not a multiple of 7919,
    so the two sets never meet)."""
    return [int(scenario.seed) + FRESH_OFFSET + 7919 * r for r in range(n)]


@dataclass
class Verification:
    """The paired comparison: ``table`` (one row per KPI), the per-seed ``runs`` and a
    verdict."""

    table: pd.DataFrame
    runs: pd.DataFrame
    seeds: list[int]
    candidate: str
    reference: str

    @property
    def beats_on_net_value(self) -> bool:
        """The paired 95 % interval of the net value difference (the priced objective,
        :data:`sim.outcomes.OBJECTIVE`) lies above 0."""
        return bool(self.table.loc["net_value", "ci_low"] > 0)

    @property
    def beats_on_net_recovery(self) -> bool:
        """The paired 95 % interval of the net recovery difference lies above 0."""
        return bool(self.table.loc["net_recovery", "ci_low"] > 0)

    @property
    def no_higher_cost(self) -> bool:
        """The mean cost difference is at most 0."""
        return bool(self.table.loc["cost", "diff"] <= 0)

    @property
    def cost_surely_not_higher(self) -> bool:
        """The paired 95 % interval of the cost difference lies at or below 0."""
        return bool(self.table.loc["cost", "ci_high"] <= 0)

    @property
    def significant(self) -> dict[str, bool]:
        """Per claim of :data:`VERDICT_FAMILY`: the difference lies in its good direction and
        its Holm-adjusted p-value is at most 5 %."""
        out = {}
        for kpi, good in VERDICT_FAMILY:
            row = self.table.loc[kpi]
            side = row["diff"] > 0 if good == "higher" else row["diff"] < 0
            out[kpi] = bool(side and row["p_holm"] <= 0.05)
        return out

    def verdict(self) -> str:
        """The comparison in words: each decision KPI with its interval read correctly (above,
        below or including 0) and its Holm-adjusted p-value, then the verdict."""
        v = self.table.loc["net_value"]
        n = self.table.loc["net_recovery"]
        parts = [
            f"{self.candidate} vs {self.reference}, {len(self.seeds)} fresh seeds, paired "
            f"(95% t-intervals; p adjusted by Holm over {', '.join(_FAMILY_NAMES)}):",
            _line("net value", v, uplift=True),
            _line("net recovery", n, uplift=True),
            _line("cost", self.table.loc["cost"], uplift=True),
            _line("churned", self.table.loc["churned"], uplift=False),
        ]
        if "uplift_vs_effect" in self.table and np.isfinite(n["uplift_vs_effect"]):
            parts.append(
                f"= {n['uplift_vs_effect']:+.1%} of the net recovery {self.reference} adds over "
                "no contact"
            )
        sig = self.significant
        cost_worse = self.table.loc["cost", "diff"] > 0 and self.table.loc["cost", "p_holm"] <= 0.05
        if sig["net_value"] and not cost_worse:
            text = "beats the reference on net value at no higher cost"
            if sig["cost"]:
                text += " (and at a lower cost)"
        elif sig["net_value"]:
            text = "higher net value than the reference, but at a higher cost"
        else:
            text = (
                "does NOT beat the reference on net value (not shown at the 5 % family-wise level)"
            )
        return "\n".join([*parts, "verdict: " + text])

    def summary(self) -> dict:
        return {
            "candidate": self.candidate,
            "reference": self.reference,
            "seeds": self.seeds,
            "replications": len(self.seeds),
            "beats_on_net_value": self.beats_on_net_value,
            "beats_on_net_recovery": self.beats_on_net_recovery,
            "no_higher_cost": self.no_higher_cost,
            "cost_surely_not_higher": self.cost_surely_not_higher,
            "significant_holm": self.significant,
            "verdict": self.verdict(),
            "kpis": {k: {c: _plain(v) for c, v in row.items()} for k, row in self.table.iterrows()},
        }


def with_holm(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``p_holm``: the p-values of the :data:`VERDICT_FAMILY` KPIs adjusted
    together by Holm's method (NaN for the other KPIs, which the verdict does not claim)."""
    family = [k for k, _ in VERDICT_FAMILY]
    table = table.copy()
    table["p_holm"] = math.nan
    table.loc[family, "p_holm"] = holm(table.loc[family, "p_value"].to_numpy())
    return table


def interval_reading(low: float, high: float) -> str:
    """Where a 95 % interval lies relative to 0: ``above 0``, ``below 0`` or ``includes 0``
    (``no interval`` when a bound is not finite)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval"
    if low > 0:
        return "above 0"
    if high < 0:
        return "below 0"
    return "includes 0"


def _line(label: str, row, *, uplift: bool) -> str:
    """One verdict line: difference, relative change, interval and how to read it, p (Holm)."""
    rel = f" ({row['uplift']:+.2%})" if uplift and np.isfinite(row["uplift"]) else ""
    p = f", p(Holm) {row['p_holm']:.3g}" if np.isfinite(row.get("p_holm", math.nan)) else ""
    return (
        f"{label} {row['diff']:+,.0f}{rel}, 95% CI [{row['ci_low']:+,.0f}, {row['ci_high']:+,.0f}]"
        f" ({interval_reading(row['ci_low'], row['ci_high'])}{p})"
    )


def _plain(v):
    v = float(v)
    return None if not math.isfinite(v) else v


def verify(
    scenario: Scenario,
    candidate,
    reference,
    seeds: list[int],
    executor=None,
    *,
    candidate_scenario: Scenario | None = None,
    compliance: Any = None,
    no_contact: bool = True,
    confidence: float = 0.95,
) -> Verification:
    """Paired comparison of ``candidate`` against ``reference`` on ``seeds``.

    ``candidate_scenario`` is the scenario the candidate runs on when it differs from the
    reference's (a staffing plan chosen with it); ``scenario`` is the reference's.
    """
    from strategies.base import NoContact

    if len(seeds) < 2:
        raise ValueError("a paired interval needs at least 2 seeds")
    cand_sc = candidate_scenario or scenario
    arms = [("candidate", cand_sc, candidate), ("reference", scenario, reference)]
    if no_contact:
        arms.append(("no_contact", scenario, NoContact()))
    tasks, owners = [], []
    for seed in seeds:
        for arm, sc, strat in arms:
            tasks.append(EvalTask(sc, strat, seed, compliance))
            owners.append((arm, seed))
    ex = executor
    if ex is None:
        from optimizer.search import SerialEvaluator

        ex = SerialEvaluator()
    rows = []
    for i, res in ex.imap_unordered(verify_task, tasks):
        arm, seed = owners[i]
        rows.append({"arm": arm, "seed": seed, **res})
    runs = pd.DataFrame(rows).sort_values(["seed", "arm"]).reset_index(drop=True)
    wide = {arm: runs[runs.arm == arm].set_index("seed").loc[seeds] for arm, _, _ in arms}
    out = []
    for k in KPIS:
        a, b = wide["candidate"][k].to_numpy(), wide["reference"][k].to_numpy()
        pd_ = paired_difference(a, b, direction(k) != "lower", confidence)
        m = pd_.diff
        ref = float(b.mean())
        row = {
            "kpi": k,
            "candidate": float(a.mean()),
            "reference": ref,
            "diff": m,
            "ci_low": pd_.low,
            "ci_high": pd_.high,
            "p_value": pd_.p_value,
            "uplift": m / abs(ref) if ref else math.nan,
            "share_higher": float(np.mean(a > b)),
            "win_rate": pd_.win_rate,
        }
        if no_contact:
            z = float(wide["no_contact"][k].mean())
            effect = ref - z
            row["no_contact"] = z
            row["uplift_vs_effect"] = m / abs(effect) if effect else math.nan
        out.append(row)
    table = with_holm(pd.DataFrame(out).set_index("kpi"))
    return Verification(
        table,
        runs,
        list(seeds),
        getattr(candidate, "name", "candidate"),
        getattr(reference, "name", "reference"),
    )
