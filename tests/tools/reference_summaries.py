"""Reference outputs for a refactor that must not change results (issue 14).

Runs every shipped scenario under every library strategy (and ``none``) at a reduced size with
the vectorised engine, the agent model on small books, and a few larger configurations, and
writes one JSON file: per run the summary without its timing fields and a hash of the daily
frame. Run it with the old code and the new, then compare::

    PYTHONPATH=/path/to/old python tests/tools/reference_summaries.py old.json
    PYTHONPATH=$PWD python tests/tools/reference_summaries.py new.json
    python tests/tools/reference_summaries.py --compare old.json new.json

It imports whatever ``sim`` and ``strategies`` are first on the path, so the same file serves
both trees.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

TIMING = ("wall_seconds", "account_days_per_second")
SCENARIOS = (
    "baseline",
    "recession",
    "small",
    "status_panel",
    "status_panel_mild",
    "status_panel_severe",
    "taiwan_cards",
)


def _frame_hash(df) -> str:
    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode())
    for c in df.columns:
        h.update(df[c].to_numpy().tobytes())
    return h.hexdigest()


def _clean(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in TIMING}


def configurations(root: Path):
    """(name, scenario file, strategy, engine, accounts, days, seed, compliance)."""
    from strategies.registry import names

    strategies = [*names(), "none"]
    for sc in SCENARIOS:
        for st in strategies:
            for seed in (1, 2):
                yield (f"vec/{sc}/{st}/{seed}", sc, st, "vector", 1500, 120, seed, "us_reg_f")
            yield (f"abm/{sc}/{st}/1", sc, st, "abm", 400, 75, 1, "us_reg_f")
    yield ("big/baseline/standard", "baseline", "standard", "vector", 20000, 120, 1, "us_reg_f")
    yield ("big/baseline/standard/cn", "baseline", "standard", "vector", 20000, 120, 1, "cn")
    yield (
        "big/status_panel/aggressive",
        "status_panel",
        "aggressive",
        "vector",
        20000,
        120,
        3,
        "us_reg_f",
    )


def run_all(root: Path, only_engine: str | None = None) -> dict:
    from sim.abm.model import run_abm
    from sim.compliance import load_profile
    from sim.engine import simulate
    from sim.scenario import load_scenario
    from strategies.registry import resolve

    out = {}
    for name, sc, st, engine, n, days, seed, prof in configurations(root):
        if only_engine and engine != only_engine:
            continue
        scenario = load_scenario(root / "scenarios" / f"{sc}.yaml", accounts=n, days=days)
        strategy = None if st == "none" else resolve(st)
        run = simulate if engine == "vector" else run_abm
        res = run(scenario, strategy, seed, compliance=load_profile(prof))
        out[name] = {
            "summary": _clean(res.summary),
            "daily_hash": _frame_hash(res.daily),
            "roll_counts": res.roll_counts.tolist(),
        }
        print(name, res.summary["collected"], file=sys.stderr, flush=True)
    return out


def _diff(a, b, path="", tol=0.0):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                yield f"{path}/{k}: only in {'new' if k in b else 'old'}"
            else:
                yield from _diff(a[k], b[k], f"{path}/{k}", tol)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diff(x, y, f"{path}[{i}]", tol)
    elif isinstance(a, float) and isinstance(b, float):
        if not (a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol * max(1, abs(a))):
            yield f"{path}: {a!r} != {b!r}"
    elif a != b:
        yield f"{path}: {a!r} != {b!r}"


def compare(old: dict, new: dict) -> int:
    bad = 0
    for name in old:
        if name not in new:
            print(f"{name}: missing in new")
            bad += 1
            continue
        diffs = list(_diff(old[name], new[name]))
        if diffs:
            bad += 1
            print(f"{name}: {len(diffs)} differences, e.g. {diffs[:3]}")
    print(f"{len(old) - bad} of {len(old)} runs identical")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?")
    ap.add_argument("--compare", nargs=2)
    ap.add_argument("--engine", choices=("vector", "abm"))
    args = ap.parse_args()
    if args.compare:
        old, new = (json.loads(Path(f).read_text()) for f in args.compare)
        return compare(old, new)
    root = Path(__file__).resolve().parents[2]
    Path(args.out).write_text(json.dumps(run_all(root, args.engine), indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
