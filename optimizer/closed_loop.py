"""Close the loop: turn a plan into a strategy (and staffing), simulate it, compare.

An allocation plan (segment -> treatment) becomes one rule table: each treatment's contact rules
restricted to its segments (purpose, credit and capacity filters), and its recovery rules
likewise (the base class's default paths for treatments without any). The strategy is then
simulated, on fresh seeds for an honest check, and the simulated totals are set against the
model's predictions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from optimizer.allocation import predict
from sim.actions import AccountView, ActionRequests, ChargeOffView
from sim.scenario import CAPACITIES, CREDIT_STANDINGS, Scenario, StaffingSpec
from strategies.base import NoContact, Strategy
from strategies.rules import RecoveryRule, RuleTable
from strategies.split import recovery_paths_by_group, requests_by_group

DEFAULT_RECOVERY = (
    RecoveryRule("sale", None, 500.0),
    RecoveryRule("legal", 15000.0, None),
    RecoveryRule("agency"),
)


def plan_strategy(
    plan: dict[str, str], treatments: dict[str, Strategy], name: str = "allocation"
) -> RuleTable:
    """One rule table applying each segment's treatment to that segment only."""
    rules, recovery = [], []
    for seg, tname in plan.items():
        purpose, credit, capacity = seg.split("/")
        strat = treatments[tname]
        if isinstance(strat, NoContact):
            contact, rec = (), (getattr(strat, "recovery", ()) or DEFAULT_RECOVERY)
        elif isinstance(strat, RuleTable):
            contact, rec = strat.rules, (strat.recovery or DEFAULT_RECOVERY)
        else:
            raise TypeError(f"treatment {tname!r} must be a rule table or 'none'")
        filt = {"purposes": (purpose,), "credits": (credit,), "capacities": (capacity,)}
        rules += [dataclasses.replace(r, **filt) for r in contact]
        recovery += [dataclasses.replace(r, **filt) for r in rec]
    desc = "; ".join(f"{s}: {t}" for s, t in plan.items())
    return RuleTable(name, rules, f"allocation plan ({desc})", recovery)


def _codes(purpose, credit, capacity) -> np.ndarray:
    return (
        np.asarray(purpose, np.int64) * len(CREDIT_STANDINGS) * len(CAPACITIES)
        + np.asarray(credit, np.int64) * len(CAPACITIES)
        + np.asarray(capacity, np.int64)
    )


class SegmentPlan(Strategy):
    """The same plan as :func:`plan_strategy`, evaluated treatment by treatment over the
    accounts of its segments (fast: no per-segment rule masks). For simulation; the rule table
    is the file form."""

    def __init__(self, plan: dict[str, str], treatments: dict[str, Strategy], name="allocation"):
        from optimizer.allocation import segment_names

        self.name = name
        names = list(dict.fromkeys(plan.values()))
        self.strategies = [treatments[n] for n in names]
        lookup = np.full(len(segment_names()), -1, np.int64)
        for i, seg in enumerate(segment_names()):
            if seg in plan:
                lookup[i] = names.index(plan[seg])
        self.lookup = lookup
        self.pre_due_days = max(getattr(s, "pre_due_days", 0) for s in self.strategies)

    def decide(self, view: AccountView) -> ActionRequests:
        which = self.lookup[_codes(view.purpose, view.credit, view.capacity)]
        return requests_by_group(view, which, self.strategies)

    def recovery_path(self, view: ChargeOffView) -> np.ndarray:
        path = Strategy.recovery_path(self, view)  # the default for segments not in the plan
        which = self.lookup[_codes(view.purpose, view.credit, view.capacity)]
        return recovery_paths_by_group(view, which, self.strategies, path)


def closed_loop(
    scenario: Scenario,
    table: pd.DataFrame,
    plan: dict[str, str],
    treatments: dict[str, Strategy],
    seeds: Sequence[int],
    staffing: StaffingSpec | None = None,
    executor=None,
    contacts: bool = True,
) -> pd.DataFrame:
    """Predicted (from ``table``) vs simulated totals of a plan, one row per KPI.

    Columns: ``predicted``, ``simulated`` (mean over ``seeds``), ``gap`` (simulated - predicted,
    relative to the prediction), ``gap_low`` / ``gap_high`` (95 % t-interval of the per-seed
    gaps: the simulation's own noise), ``pred_se`` (the prediction's standard error, relative,
    from the per-account spread in ``table``; net recovery only).

    For an honest check, ``seeds`` should be seeds the table was not estimated on and
    ``table`` one the plan was not chosen on (:attr:`Responses.predict`).
    """
    from optimizer.allocation import OutcomeTask, segment_sums
    from sim.statistics import mean_interval

    strat = plan_strategy(plan, treatments)
    fast = SegmentPlan(plan, treatments)
    sc = scenario
    if staffing is not None:
        sc = Scenario.model_validate({**scenario.model_dump(), "staffing": staffing.model_dump()})
    pred = predict(table, plan)
    tasks = [OutcomeTask(sc, fast, int(s), contacts) for s in seeds]
    if executor is None:
        from optimizer.search import SerialEvaluator

        executor = SerialEvaluator()
    results = dict(executor.imap_unordered(segment_sums, tasks))
    per_seed = []
    for i in range(len(tasks)):
        tot = results[i]["sums"].sum(axis=(0, 1))  # folds, segments
        row = {
            "collected": tot[1],
            "cost": tot[2],
            "churned": tot[3],
            "calls": tot[4],
            "visits": tot[5],
        }
        row["net_recovery"] = row["collected"] - row["cost"]
        per_seed.append(row)
    idx = table.set_index(["segment", "treatment"])
    var = 0.0
    if "se_net" in idx:
        for s, t in plan.items():
            r = idx.loc[(s, t)]
            var += float(r["accounts"] * r["se_net"]) ** 2 if np.isfinite(r["se_net"]) else 0.0
    rows = []
    for k in ("net_recovery", "collected", "cost", "churned", "calls", "visits"):
        p = pred[k]
        sims = np.array([r[k] for r in per_seed], float)
        gaps = (sims - p) / abs(p) if p else np.full(len(sims), np.nan)
        iv = mean_interval(gaps)
        g, lo, hi = iv.mean, iv.low, iv.high
        rows.append(
            {
                "kpi": k,
                "predicted": p,
                "simulated": float(sims.mean()),
                "gap": g,
                "gap_low": lo,
                "gap_high": hi,
                "pred_se": np.sqrt(var) / abs(p) if k == "net_recovery" and p else np.nan,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["strategy"] = strat
    out.attrs["seeds"] = [int(s) for s in seeds]
    out.attrs["summary_net_recovery"] = float(
        np.mean([results[i]["net_recovery"] for i in results])
    )
    return out
