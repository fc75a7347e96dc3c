"""Fit a scenario's response parameters to the trial library (issue 16, point 4).

The fit itself is :func:`sim.calibration.response.fit_response` (minimum distance, common random
numbers); this module supplies the evaluation: every trial of a folder run on the candidate
scenario with fixed seeds, plus the candidate book's portfolio levels under ``standard``.

Reproduce the shipped illustrative scenarios' response (docs/behaviour.md, "Response to
contact")::

    python -m postloan.trials.calibrate trials/ --scenario scenarios/baseline.yaml \\
        --replications 2 --seed 1000 --budget 40 --out results/response_fit/baseline.json

then check on fresh seeds: ``postloan trial trials/ --scenario baseline --seed 20270101``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from postloan.trials.runner import run_trial
from sim.calibration.response import Target, fit_response, portfolio_targets
from sim.engine import simulate
from sim.scenario import Scenario, load_scenario
from strategies.registry import resolve

#: What the fit moves by default: fewer parameters than targets (8 trials + 3 portfolio levels).
DEFAULT_PATHS = (
    "behaviour.reminder_recall",
    "behaviour.promise_dpd_scale",
    "behaviour.promise_displacement",
    "channels.call.effect",
    "channels.call.promise_rate",
    "restructuring.take_up",
)


def trial_targets(
    folder: str | Path, scenario: Scenario, seed: int, replications: int | None
) -> list[Target]:
    """Every trial file of ``folder`` run on ``scenario`` (seeds ``seed + r``), as targets."""
    out = []
    for path in sorted(Path(folder).glob("*.yaml")):
        r = run_trial(path, replications=replications, seed=seed, scenario=scenario)
        pub = r.spec.published
        out.append(Target(r.spec.name, r.estimate.effect, pub.low, pub.high, pub.effect))
    return out


def book_targets(scenario: Scenario, seed: int, accounts: int | None = None) -> list[Target]:
    """The candidate book's portfolio levels under ``standard`` (seed ``seed``)."""
    sc = scenario if accounts is None else scenario.with_overrides(accounts=accounts)
    r = simulate(sc, resolve("standard"), seed)
    return portfolio_targets(r.summary, r.daily, sc.days)


def evaluator(folder, seed: int, replications: int | None, accounts: int | None):
    """``evaluate(scenario) -> targets`` for :func:`fit_response`."""

    def evaluate(scenario: Scenario) -> list[Target]:
        return trial_targets(folder, scenario, seed, replications) + book_targets(
            scenario, seed, accounts
        )

    return evaluate


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m postloan.trials.calibrate",
        description="Fit a scenario's response parameters to a trial folder (minimum distance, "
        "common random numbers) and the published portfolio ranges.",
    )
    ap.add_argument("folder", help="folder of trial files (e.g. trials/)")
    ap.add_argument("--scenario", required=True, help="scenario YAML whose response is fitted")
    ap.add_argument(
        "--params", default=",".join(DEFAULT_PATHS), help="dotted paths, comma-separated"
    )
    ap.add_argument("--replications", type=int, default=2, help="per trial (default 2)")
    ap.add_argument("--seed", type=int, default=1000, help="first seed of the fit (default 1000)")
    ap.add_argument("--accounts", type=int, default=30000, help="book size of the portfolio check")
    ap.add_argument("--budget", type=int, default=40, help="evaluations of the library")
    ap.add_argument("--out", help="write the fit (JSON) here")
    args = ap.parse_args(argv)
    base = load_scenario(args.scenario)
    paths = [p.strip() for p in args.params.split(",") if p.strip()]
    fit = fit_response(
        base,
        paths,
        evaluator(args.folder, args.seed, args.replications, args.accounts),
        max_evaluations=args.budget,
        log=lambda s: print(s, file=sys.stderr, flush=True),
    )
    doc = {
        "scenario": args.scenario,
        "trials": args.folder,
        "seed": args.seed,
        "replications": args.replications,
        **fit.to_dict(),
    }
    text = json.dumps(doc, indent=2)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
