"""Answers with their response uncertainty: a comparison repeated over draws of the response.

An experiment with ``response_draws`` (or ``postloan compare --response-draws N``) runs every
strategy on the scenario as it is (uncertainty sample 0) and on ``N`` Latin-hypercube draws of
the response parameters (samples 1..N, each a set of scenario overrides from the range table
:mod:`sim.response_uncertainty`), with common random numbers throughout. Each draw is then
checked against the trial library (:mod:`postloan.trials`): it is **kept** only if every
trial's simulated effect, on a small book with the draw's response, lies inside the trial's
published interval. Per challenger the summary gives:

* at the scenario's own response, the paired 95 % interval of the difference to the champion:
  **simulation noise only**;
* over the kept draws, the share in which the challenger beats the champion on the objective
  and the range of the difference (each draw's mean over its replications): **response
  uncertainty** (and the noise left in each draw's mean);
* the same over all draws, unfiltered, for contrast.

The trial checks are saved after every draw (``response_draws.json``, atomically), so an
interrupted experiment resumes where it stopped, like its cells.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from sim.atomic import write_text as write_text_atomic
from sim.outcomes import OBJECTIVE, direction
from sim.response_uncertainty import ResponseRange, latin_hypercube_draws, load_response_ranges
from sim.scenario import Scenario
from sim.statistics import paired_columns

#: Where the trial checks of the draws are saved in the experiment folder.
CHECKS_FILE = "response_draws.json"
#: The fewest accounts a trial book is shrunk to.
MIN_TRIAL_ACCOUNTS = 1000


class ResponseDrawsSpec(BaseModel):
    """The ``response_draws`` block of an experiment file (``compare --response-draws``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    draws: int = Field(ge=1, le=1000, description="Latin-hypercube draws of the response")
    ranges: str | None = Field(
        default=None, description="range table (default: sim/response_ranges.yaml)"
    )
    trials: str = Field(default="trials", description="trial file or folder (default: library)")
    trial_scale: float = Field(
        default=0.25, gt=0, le=1, description="each trial's book, as a share of its own size"
    )
    trial_replications: int = Field(default=1, ge=1, le=50)
    objective: str = Field(
        default=OBJECTIVE, description="the KPI a win is judged on (default: the priced objective)"
    )


@dataclass(frozen=True)
class ResponsePlan:
    """A resolved ``response_draws`` block: the ranges read and the trial files found."""

    spec: ResponseDrawsSpec
    ranges: list[ResponseRange]
    trial_files: list[Path]


def resolve_plan(spec: ResponseDrawsSpec, root: Path, where: str) -> ResponsePlan:
    """Read the range table and find the trial files (paths relative to ``root`` first).

    Raises
    ------
    ValueError
        Naming ``where`` and the field, for a table or trial that cannot be used or an objective
        that is not a KPI.
    """
    from postloan.trials.spec import TrialError, trial_files
    from sim.outcomes import check_names
    from sim.user_input import UserInputError

    check_names([spec.objective], f"{where}.objective")
    table = None
    if spec.ranges is not None:
        table = root / spec.ranges if not Path(spec.ranges).is_absolute() else Path(spec.ranges)
    try:
        ranges = load_response_ranges(table)
    except UserInputError as exc:
        raise ValueError(f"{where}.ranges: {exc}") from None
    trials = Path(spec.trials)
    if not trials.is_absolute() and (root / trials).exists():
        trials = root / trials
    try:
        files = trial_files([trials])
    except TrialError as exc:
        raise ValueError(f"{where}.trials: {exc}") from None
    return ResponsePlan(spec, ranges, files)


def response_samples(plan: ResponsePlan, seed: int) -> list[dict[str, Any]]:
    """The experiment's uncertainty samples: the scenario as it is, then the draws."""
    return [{}, *latin_hypercube_draws(plan.ranges, plan.spec.draws, seed)]


# ---------------------------------------------------------------------------- trial checks
def check_draw(
    scenario: Scenario, plan: ResponsePlan, run_trial: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """Run every trial of ``plan`` on ``scenario`` (a draw's response set on it), each on its
    own book (the trial file's size, or its scenario's) shrunk by ``trial_scale``, with the
    scenario's seed (common random numbers across draws). Kept: every trial's simulated effect
    inside its published interval; a trial that cannot be estimated on the shrunk book (too
    few enrolled) is not verified, and the draw is not kept (its ``error`` says why)."""
    from postloan.trials.runner import run_trial as default_run
    from postloan.trials.runner import trial_scenario
    from postloan.trials.spec import TrialError, load_trial

    run = run_trial or default_run
    t0 = time.perf_counter()
    rows = []
    for path in plan.trial_files:
        spec = load_trial(path)
        # the trial's own book (its file's size, or its scenario's), shrunk
        size = trial_scenario(spec, path).accounts
        accounts = max(MIN_TRIAL_ACCOUNTS, round(size * plan.spec.trial_scale))
        row: dict[str, Any] = {
            "trial": spec.name,
            "low": spec.published.low,
            "high": spec.published.high,
            "accounts": accounts,
        }
        try:
            result = run(
                path,
                replications=plan.spec.trial_replications,
                scenario=scenario,
                accounts=accounts,
            )
        except TrialError as exc:  # e.g. too few enrolled on the shrunk book: not verified
            rows.append(row | {"within": False, "effect": None, "error": str(exc)})
            continue
        effect = result.estimate.effect
        rows.append(
            row
            | {
                "within": bool(result.within),
                "effect": effect if math.isfinite(effect) else None,
                "transport": result.transport.to_dict(),
            }
        )
    return {
        "kept": all(r["within"] for r in rows),
        "trials": rows,
        "seconds": time.perf_counter() - t0,
    }


def check_draws(
    exp: Any,
    folder: Path,
    progress: Callable[[int], None] | None = None,
    run_trial: Callable[..., Any] | None = None,
) -> list[dict[str, Any]]:
    """Check every draw of ``exp`` (samples 1..N, on its first variant) against the trials,
    saving ``response_draws.json`` after each one; draws already in the file (same values) are
    not run again."""
    path = folder / CHECKS_FILE
    done: dict[int, dict] = {}
    key = checks_key(exp.response)
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:  # the same trials and settings: its checks still hold
            for rec in saved.get("draws", []):
                done[int(rec["draw"])] = rec
    records = []
    for i in range(1, len(exp.samples)):
        values = exp.samples[i]
        rec = done.get(i)
        if rec is None or rec.get("values") != values:
            rec = {"draw": i, "values": values}
            rec |= check_draw(exp.scenario_for(0, i), exp.response, run_trial)
        records.append(rec)
        _save_checks(path, exp, records)
        if progress is not None:
            progress(1)
    return records


def checks_key(plan: ResponsePlan) -> str:
    """What a saved check depends on besides the draw's values: the trial files' contents and
    the check's settings (a resumed experiment re-checks draws when either changed)."""
    h = hashlib.sha256(json.dumps(plan.spec.model_dump(), sort_keys=True).encode())
    for p in plan.trial_files:
        h.update(p.name.encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()


def _save_checks(path: Path, exp: Any, records: list[dict]) -> None:
    plan: ResponsePlan = exp.response
    doc = {
        "key": checks_key(plan),
        "ranges": [r.__dict__ for r in plan.ranges],
        "trials": [str(p) for p in plan.trial_files],
        "settings": plan.spec.model_dump(),
        "draws": records,
    }
    write_text_atomic(path, json.dumps(doc, indent=2, allow_nan=False))


# ---------------------------------------------------------------------------- summary
def summarise(
    cells: pd.DataFrame, checks: list[dict], champion: str, objective: str
) -> list[dict[str, Any]]:
    """Per variant and challenger: the noise-only interval at the scenario's own response, and
    the share of wins and range of the difference over the kept draws (and over all draws)."""
    sign = -1.0 if direction(objective) == "lower" else 1.0
    kept = {int(c["draw"]) for c in checks if c["kept"]}
    checked = {int(c["draw"]) for c in checks}
    out = []
    for variant, vc in cells.groupby("variant", sort=True):
        wide = vc.pivot_table(
            index=["sample", "replication"], columns="strategy", values=objective, aggfunc="first"
        )
        if champion not in wide.columns:
            continue
        for strategy in wide.columns:
            if strategy == champion:
                continue
            d = (wide[strategy] - wide[champion]).dropna()
            own = wide[wide.index.get_level_values("sample") == 0]
            n, diff, low, high, _, _ = paired_columns(
                own[[strategy]].to_numpy(), own[[champion]].to_numpy(), sign > 0
            )
            per_draw = d.groupby(level="sample").mean().drop(index=0, errors="ignore")
            per_draw = per_draw[per_draw.index.isin(checked)]
            row = {
                "variant": int(variant),
                "strategy": str(strategy),
                "champion": champion,
                "objective": objective,
                "own_response": {
                    "replications": int(n[0]),
                    "difference": _f(diff[0]),
                    "low": _f(low[0]),
                    "high": _f(high[0]),
                    "covers": "simulation noise only",
                },
                "kept_draws": _over(per_draw[per_draw.index.isin(kept)], sign),
                "all_draws": _over(per_draw, sign),
            }
            row["kept_draws"]["covers"] = "response uncertainty (draws kept by the trial library)"
            row["all_draws"]["covers"] = "response uncertainty (every draw, unfiltered)"
            out.append(row)
    return out


def _f(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _over(per_draw: pd.Series, sign: float) -> dict[str, Any]:
    """Share of draws in which the challenger beats the champion, and the difference's range."""
    if per_draw.empty:
        return {"draws": 0, "share_better": None, "low": None, "high": None}
    return {
        "draws": int(per_draw.size),
        "share_better": float(((sign * per_draw) > 0).mean()),
        "low": float(per_draw.min()),
        "high": float(per_draw.max()),
    }


#: What each kind of interval of a response-draw experiment covers (reports repeat it).
COVERS = {
    "comparison": "simulation noise only: the paired 95 % intervals of the comparison table are "
    "at the scenario's own response (uncertainty sample 0)",
    "kept_draws": "response uncertainty: the range of the difference over the draws kept by "
    "the trial library (each draw's mean over its replications)",
    "all_draws": "response uncertainty, unfiltered: every draw, kept or not, for contrast",
}


def response_block(
    exp: Any,
    folder: Path,
    cells: pd.DataFrame,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Check the draws of ``exp`` against the trials and summarise the comparison over them:
    the ``response_draws`` entry of ``comparison.json``."""
    plan: ResponsePlan = exp.response
    first = len(exp.cells())
    total = first + len(exp.samples) - 1
    done = [0]

    def tick(_: int) -> None:
        done[0] += 1
        if progress is not None:
            progress(first + done[0], total)

    checks = check_draws(exp, folder, tick)
    out_of = {}
    for c in checks:
        for t in c["trials"]:
            out_of.setdefault(t["trial"], 0)
            out_of[t["trial"]] += 0 if t["within"] else 1
    return {
        "draws": len(checks),
        "kept": sum(bool(c["kept"]) for c in checks),
        "objective": plan.spec.objective,
        "trials": len(plan.trial_files),
        "draws_with_trial_outside": out_of,
        "covers": COVERS,
        "checks_file": CHECKS_FILE,
        "summary": summarise(cells, checks, exp.champion, plan.spec.objective),
    }


def response_draws_of(folder: str | Path) -> dict[str, Any] | None:
    """The ``response_draws`` summary in an experiment folder's ``comparison.json``, if any."""
    try:
        return json.loads((Path(folder) / "comparison.json").read_text()).get("response_draws")
    except (OSError, ValueError):
        return None
