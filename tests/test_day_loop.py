"""The one day loop (sim/day_loop.py): its hooks carry the right arrays, identically in both
engines; an observer that subscribes to nothing makes the engine do nothing more; the peer-effect
example runs through a hook in both engines; nothing in the loop's modules imports private names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from sim.abm import run_abm
from sim.channels import CHANNEL_NAMES
from sim.day_loop import EVENT_HOOKS, Observer
from sim.engine import run_days, simulate
from sim.peer import PeerEffects, borrower_network
from sim.portfolio import Status
from sim.scenario import Scenario, load_scenario
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]


class Everything(Observer):
    """Records every hook's arrays, and the accounts whose status became charged-off."""

    def __init__(self) -> None:
        self.calls: dict[str, list] = {}
        self.status_changed: dict[int, np.ndarray] = {}

    def _log(self, hook: str, *args) -> None:
        self.calls.setdefault(hook, []).append(tuple(np.copy(a) for a in args))

    def on_start(self, book, scenario) -> None:
        self.book = book
        self.status = book.status.copy()

    def on_new_delinquent(self, day, accounts):
        self._log("new_delinquent", day, accounts)

    def on_charge_off(self, day, accounts, claims):
        self._log("charge_off", day, accounts, claims)

    def on_contact(self, day, accounts, channels, rpc):
        self._log("contact", day, accounts, channels, rpc)

    def on_promise(self, day, accounts, due_days, amounts):
        self._log("promise", day, accounts, due_days, amounts)

    def on_complaint(self, day, accounts):
        self._log("complaint", day, accounts)

    def on_churn(self, day, accounts):
        self._log("churn", day, accounts)

    def on_bucket_change(self, day, accounts, before, after):
        self._log("bucket_change", day, accounts, before, after)

    def on_payment(self, day, accounts, amounts):
        self._log("payment", day, accounts, amounts)

    def on_cure(self, day, accounts):
        self._log("cure", day, accounts)

    def on_day_end(self, day, events):
        self._log("day_end", day, events.kpi("collected_delinquent"))
        now = self.book.status
        self.status_changed[day] = np.flatnonzero(
            (self.status == Status.OPEN) & (now == Status.CHARGED_OFF)
        )
        self.status = now.copy()

    def on_month_end(self, month, day, roll, buckets):
        self._log("month_end", month, day, roll, buckets)


@pytest.fixture(scope="module")
def scenario():
    # restructurings, settlements, instalments paid in arrears, churn and charge-offs all
    # happen on this book under ``standard``
    data = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=800, days=150).model_dump()
    data["behaviour"] |= {"settlement_share": 0.2, "delinquent_instalment_pay": 0.3}
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def watched(scenario):
    vec, abm = Everything(), Everything()
    rv = simulate(scenario, resolve("standard"), 3, observers=[vec])
    ra = run_abm(scenario, resolve("standard"), 3, observers=[abm])
    return (rv, vec), (ra, abm)


def _per_day(calls, days, f) -> np.ndarray:
    out = np.zeros(days)
    for day, *arrays in calls:
        out[int(day)] += f(*arrays)
    return out


@pytest.mark.parametrize("engine", [0, 1], ids=["vector", "abm"])
def test_hooks_carry_the_days_events(watched, scenario, engine):
    result, obs = watched[engine]
    d, days = result.daily, scenario.days
    assert d["charge_offs"].sum() > 0 and d["churned"].sum() > 0 and d["restructures"].sum() > 0
    # payments add up to the day's cash from accounts in arrears, one entry per account
    paid = _per_day(obs.calls["payment"], days, lambda a, x: x.sum())
    np.testing.assert_allclose(paid, d["collected_delinquent"], rtol=1e-12, atol=1e-9)
    for _, acc, _ in obs.calls["payment"]:
        assert (np.diff(acc) > 0).all()
    # cures (payments and restructurings), churn and new misses: the day's counts
    counted = (
        ("cure", "cures"),
        ("churn", "churned"),
        ("new_delinquent", "new_delinquent"),
        ("promise", "promises_made"),
        ("complaint", "complaints"),
    )
    for hook, column in counted:
        n = _per_day(obs.calls[hook], days, lambda acc, *_: len(acc))
        np.testing.assert_array_equal(n, d[column], hook)
    # charge-offs: exactly the accounts whose status turned charged-off that day
    for day, acc, claim in obs.calls["charge_off"]:
        np.testing.assert_array_equal(acc, obs.status_changed[int(day)])
        assert (claim > 0).all()
    assert sum(len(a) for _, a, _ in obs.calls["charge_off"]) == d["charge_offs"].sum()
    # contacts: every attempt, by channel, and the right-party contacts among them
    for c, name in enumerate(CHANNEL_NAMES):
        n = _per_day(obs.calls["contact"], days, lambda a, ch, r, c=c: (ch == c).sum())
        rpc = _per_day(obs.calls["contact"], days, lambda a, ch, r, c=c: r[ch == c].sum())
        np.testing.assert_array_equal(n, d[f"attempts_{name}"], name)
        np.testing.assert_array_equal(rpc, d[f"rpc_{name}"], name)
    # promises fall due within promise_days_max days, for what is owed or one instalment
    for day, _, due, amount in obs.calls["promise"]:
        assert ((due > day) & (due <= day + scenario.behaviour.promise_days_max)).all()
        assert (amount > 0).all()
    # bucket changes: replayed from the start, they give every day's bucket counts
    buckets = result.initial_bucket.astype(np.int64).copy()
    columns = ["n_current", "n_1_30", "n_31_60", "n_61_90", "n_91_120", "n_charged_off"]
    for day, acc, before, after in obs.calls["bucket_change"]:
        np.testing.assert_array_equal(buckets[acc], before)
        buckets[acc] = after
        counts = np.bincount(buckets, minlength=7)
        np.testing.assert_array_equal(counts[:6], d[columns].iloc[int(day)].to_numpy(), str(day))
    # month ends: the run's roll counts, month by month, and every 30th day plus the last
    months = obs.calls["month_end"]
    assert [int(day) for _, day, _, _ in months] == [29, 59, 89, 119, 149]
    for m, _, roll, buckets in months:
        np.testing.assert_array_equal(roll, result.roll_counts[int(m)])
        assert buckets.size == scenario.accounts
    # one call a day per hook, never one per account
    assert len(obs.calls["day_end"]) == days
    assert all(len({int(c[0]) for c in v}) == len(v) for v in obs.calls.values())


def test_both_engines_fire_identical_hooks(watched):
    (_, vec), (_, abm) = watched
    assert vec.calls.keys() == abm.calls.keys()
    for hook in vec.calls:
        assert len(vec.calls[hook]) == len(abm.calls[hook]), hook
        for a, b in zip(vec.calls[hook], abm.calls[hook], strict=True):
            for x, y in zip(a, b, strict=True):
                if np.asarray(x).dtype.kind == "f":
                    np.testing.assert_allclose(x, y, rtol=1e-9, err_msg=hook)
                else:
                    np.testing.assert_array_equal(x, y, err_msg=hook)


class Nothing(Observer):
    """Overrides no event hook: asks the engines for nothing."""

    def on_day_end(self, day, events):
        assert events.payments is None and events.contacts is None


def test_an_observer_that_subscribes_to_nothing_costs_nothing(scenario):
    sc = scenario.with_overrides(days=60)
    loop = run_days(sc, resolve("standard"), 2, observers=[Nothing(), Observer()])
    # no event kind is collected: every engine check is a False flag
    assert loop.events.kinds == frozenset()
    assert not any(getattr(loop.events, kind) for kind in EVENT_HOOKS)
    plain = simulate(sc, resolve("standard"), 2)
    watched = simulate(sc, resolve("standard"), 2, observers=[Nothing()])
    assert plain.summary == watched.summary


def test_on_day_end_can_ask_for_events_without_hooks(scenario):
    class Payments(Observer):
        events = frozenset({"payments"})
        total = 0.0

        def on_day_end(self, day, events):
            self.total += events.payment_amounts.sum()

    obs = Payments()
    r = simulate(scenario, resolve("standard"), 2, observers=[obs])
    assert obs.total == pytest.approx(r.daily["collected_delinquent"].sum(), rel=1e-12)
    with pytest.raises(ValueError, match="unknown event kinds"):

        class Typo(Observer):
            events = frozenset({"payment"})

            def on_day_end(self, day, events):
                pass

        run_days(scenario, None, 1, observers=[Typo()])


# ---------------------------------------------------------------- peer effects (docs/extending.md)
PEER = dict(accounts=1500, days=180)


def _peer_run(seed: int, shock: float, engine=simulate):
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", **PEER)
    net = borrower_network(sc.accounts, degree=10, rewire=0.1, seed=seed)
    return engine(sc, resolve("standard"), seed, observers=[PeerEffects(net, shock)])


def test_peer_effects_are_identical_in_both_engines():
    vec, abm = _peer_run(11, 1.0), _peer_run(11, 1.0, run_abm)
    for k in ("new_delinquent", "charge_offs", "promises_made", "promises_kept", "churned"):
        assert abm.summary[k] == vec.summary[k], k
    for k in ("collected", "cost", "charge_off_amount"):
        assert abm.summary[k] == pytest.approx(vec.summary[k], rel=1e-9), k
    np.testing.assert_array_equal(abm.roll_counts, vec.roll_counts)
    assert vec.summary["new_delinquent"] != _peer_run(11, 0.0).summary["new_delinquent"]


def test_more_peer_shock_more_new_delinquencies():
    """Paired over seeds (same book, same luck): a shock raises new delinquencies, by more
    than three standard errors of the paired difference."""
    new = {
        (s, shock): _peer_run(s, shock).summary["new_delinquent"]
        for s in (11, 12, 13, 14, 15, 16)
        for shock in (0.0, 1.0)
    }
    diff = np.array([new[s, 1.0] - new[s, 0.0] for s in (11, 12, 13, 14, 15, 16)], float)
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert diff.mean() > 3 * se, (diff, se)


# ---------------------------------------------------------------- no private names across modules
LOOP_MODULES = [
    *sorted((ROOT / "sim" / "calibration").glob("*.py")),
    *sorted((ROOT / "sim" / "abm").glob("*.py")),
    ROOT / "sim" / "engine.py",
    ROOT / "sim" / "day_loop.py",
    ROOT / "sim" / "run_result.py",
    ROOT / "sim" / "peer.py",
]


@pytest.mark.parametrize("path", LOOP_MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_private_name_is_imported_across_modules(path):
    tree = ast.parse(path.read_text())
    bad = [
        f"{node.module}.{a.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for a in node.names
        if a.name.startswith("_")
    ]
    assert not bad, f"{path.name} imports private names: {bad}"
