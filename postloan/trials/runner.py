"""Run a trial: replications of one simulation each, pooled, set beside the published effect.

One replication is one simulated book (seed ``seed + r``) run under
:class:`~postloan.trials.arms.TrialStrategy` from day 0 to the end of the outcome window: every
account on the control strategy until ``start_day``, then the enrolled population randomised
between the arms (:mod:`postloan.trials.observe`). Outcomes of all replications are pooled and
each treatment arm is compared with the control (:mod:`postloan.trials.estimate`). Same trial,
seed and replications: the same numbers, bit for bit (every draw is counter-based).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from postloan.trials.arms import TrialStrategy, build_arms
from postloan.trials.estimate import Estimate, Transport, difference, transport, wald
from postloan.trials.observe import Outcomes, TrialObserver
from postloan.trials.spec import TrialError, TrialSpec, load_trial
from sim.engine import simulate
from sim.population import generate
from sim.rng import seed_key
from sim.scenario import Scenario, ScenarioError, load_scenario
from sim.shipped import find_scenario, scenarios_folder
from strategies.base import Strategy

#: The shipped scenarios, found by name (``scenario: baseline``).
SCENARIOS = scenarios_folder()


def scenario_path(name: str, trial_file: Path) -> Path:
    """A shipped scenario by name, or a YAML path (relative to the trial file's folder first)."""
    if not name.endswith((".yaml", ".yml")):
        return SCENARIOS / f"{name}.yaml"
    local = trial_file.parent / name
    return local if local.exists() else find_scenario(name)


def trial_scenario(spec: TrialSpec, trial_file: Path, scenario: Scenario | None = None) -> Scenario:
    """The scenario a trial runs: the named one (or ``scenario``, e.g. a calibration candidate
    with other response parameters), with the trial's book size, over the window."""
    if scenario is not None:
        changes = {"days": spec.start_day + spec.outcome.days}
        if spec.accounts is not None:
            changes["accounts"] = spec.accounts
        return _behavioural(scenario.with_overrides(**changes), trial_file, scenario.name)
    path = scenario_path(spec.scenario, trial_file)
    if not path.exists():
        shipped = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
        raise TrialError(
            f"{trial_file}: field 'scenario': no scenario {spec.scenario!r} ({path}); "
            f"shipped: {shipped}, or give a YAML path"
        )
    try:
        sc = load_scenario(path, accounts=spec.accounts, days=spec.start_day + spec.outcome.days)
    except ScenarioError as exc:
        raise TrialError(f"{trial_file}: field 'scenario': {exc}") from None
    return _behavioural(sc, trial_file, str(path))


def _behavioural(sc: Scenario, trial_file: Path, what: str) -> Scenario:
    if sc.behaviour.mode == "markov":
        raise TrialError(
            f"{trial_file}: field 'scenario': {what} uses the Markov test mode, where contacts "
            "have no effect; a trial needs the behavioural mode"
        )
    return sc


@dataclass(frozen=True)
class TrialResult:
    """A trial's simulated effects beside the published one."""

    spec: TrialSpec
    file: str
    scenario: str
    seeds: list[int]
    estimate: Estimate  # the published treatment arm against the control
    by_arm: dict[str, Estimate]  # every treatment arm against the control
    transport: Transport
    enrolled: dict[str, int]  # accounts per arm, all replications
    eligible: list[int]  # accounts meeting the filter, per replication
    conversation_share: dict[str, float]
    contact_cost: dict[str, float]  # mean contact cost per enrolled account in the window
    wall_seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def within(self) -> bool:
        """The simulated point estimate lies inside the published [low, high]."""
        e, pub = self.estimate.effect, self.spec.published
        return bool(math.isfinite(e) and pub.low <= e <= pub.high)

    @property
    def counts(self) -> bool:
        """Only a transportable trial counts (a pass or a fail)."""
        return self.transport.transportable

    def to_dict(self) -> dict:
        pub = self.spec.published
        return {
            "name": self.spec.name,
            "source": self.spec.source,
            "file": self.file,
            "scenario": self.scenario,
            "seeds": self.seeds,
            "outcome": self.spec.outcome.measure,
            "window_days": self.spec.outcome.days,
            "start_day": self.spec.start_day,
            "estimand": self.spec.estimand,
            "treatment": self.spec.treatment,
            "control": self.spec.control,
            "published": pub.model_dump(),
            "simulated": self.estimate.to_dict(),
            "by_arm": {k: v.to_dict() for k, v in self.by_arm.items()},
            "within": self.within,
            "transport": self.transport.to_dict(),
            "counts": self.counts,
            "enrolled": self.enrolled,
            "eligible": self.eligible,
            "conversation_share": self.conversation_share,
            "contact_cost_per_account": self.contact_cost,
            "wall_seconds": self.wall_seconds,
            "notes": self.notes,
        }


def _arm_means(values: np.ndarray, arm: np.ndarray, names: list[str]) -> dict[str, float]:
    return {
        n: float(values[arm == i].mean()) if (arm == i).any() else 0.0 for i, n in enumerate(names)
    }


def run_replication(
    spec: TrialSpec, scenario: Scenario, strategies: list[Strategy], seed: int
) -> Outcomes:
    """One simulated book under the trial; the enrolled accounts' outcomes."""
    book = generate(scenario, seed)
    observer = TrialObserver(spec, book, seed_key(seed))
    strategy = TrialStrategy(spec, strategies, observer.on_day)
    simulate(scenario, strategy, seed, portfolio=book)
    return observer.outcomes(scenario.days - 1)


def estimate_arm(spec: TrialSpec, pooled: Outcomes, arm: str) -> Estimate:
    """One treatment arm against the control, on the study's scale and estimand."""
    names = [a.name for a in spec.arms]
    t = pooled.arm == names.index(arm)
    c = pooled.arm == names.index(spec.control)
    if t.sum() < 2 or c.sum() < 2:
        raise TrialError(
            f"trial {spec.name}: arm {arm!r} or the control has fewer than two enrolled accounts "
            "(widen the population or raise accounts)"
        )
    y, binary = pooled.y, spec.outcome.binary
    if spec.estimand == "per_contact":
        d = pooled.conversation
        return wald(y[t], d[t], y[c], d[c], binary)
    return difference(y[t], y[c], spec.published.scale, binary)


def run_trial(
    path: str | Path,
    replications: int | None = None,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    scenario: Scenario | None = None,
    accounts: int | None = None,
) -> TrialResult:
    """Load, run and estimate one trial file.

    Parameters
    ----------
    path : str or Path
    replications : int, optional
        Defaults to the file's ``replications``.
    seed : int, optional
        First seed (replication ``r`` uses ``seed + r``); defaults to the scenario's seed.
    progress : callable, optional
        Called with 1 after each replication.
    scenario : Scenario, optional
        Run on this scenario instead of the file's (the book size and horizon still come from
        the trial): how a calibration evaluates candidate response parameters on the library,
        with common random numbers when the seed is fixed.
    accounts : int, optional
        The book's size instead of the file's (staff capacity scaled with it): a quicker,
        noisier check, as for each response draw of ``postloan compare --response-draws``.

    Returns
    -------
    TrialResult
    """
    path = Path(path)
    t0 = time.perf_counter()
    spec = load_trial(path)
    scenario = trial_scenario(spec, path, scenario)
    if accounts is not None:
        scenario = scenario.with_overrides(accounts=int(accounts))
    strategies = build_arms(spec, path)
    reps = spec.replications if replications is None else int(replications)
    if reps < 1:
        raise TrialError("replications must be at least 1")
    first = scenario.seed if seed is None else int(seed)
    seeds = [first + r for r in range(reps)]
    runs = []
    for s in seeds:
        runs.append(run_replication(spec, scenario, strategies, s))
        if progress is not None:
            progress(1)
    pooled = Outcomes(
        account=np.concatenate([o.account for o in runs]),
        arm=np.concatenate([o.arm for o in runs]),
        y=np.concatenate([o.y for o in runs]),
        conversation=np.concatenate([o.conversation for o in runs]),
        contact_cost=np.concatenate([o.contact_cost for o in runs]),
        eligible=sum(o.eligible for o in runs),
    )
    names = [a.name for a in spec.arms]
    by_arm = {a.name: estimate_arm(spec, pooled, a.name) for a in spec.arms if not a.control}
    pub = spec.published
    control_y = pooled.y[pooled.arm == names.index(spec.control)]
    check = transport(
        control_y, pub.control_rate, pub.control_n, spec.outcome.binary, pub.control_sd
    )
    notes = []
    est = by_arm[spec.treatment]
    if est.weak_instrument:
        notes.append("weak first stage: the arms barely differ in conversations held")
    if not check.checked:
        notes.append("no published control rate: transportability unchecked")
    return TrialResult(
        spec=spec,
        file=str(path),
        scenario=scenario.name,
        seeds=seeds,
        estimate=est,
        by_arm=by_arm,
        transport=check,
        enrolled={n: int((pooled.arm == i).sum()) for i, n in enumerate(names)},
        eligible=[o.eligible for o in runs],
        conversation_share=_arm_means(pooled.conversation, pooled.arm, names),
        contact_cost=_arm_means(pooled.contact_cost, pooled.arm, names),
        wall_seconds=time.perf_counter() - t0,
        notes=notes,
    )
