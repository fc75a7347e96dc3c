"""Warnings about rule tables: rules that never fire, duplicates, contradictions, shadowing.

What "shadow" means follows how a rule table runs (``strategies.rules.RuleTable.decide`` and
``sim.dispatch``):

* **Contact rules are all-match.** Every rule whose conditions hold asks for its channel, then
  the engine keeps ONE request per account and channel a day: the highest priority, and among
  equal priorities the earliest rule. Contact spacing (``every_days``, ``once``) is measured on
  the channel, not on the rule. So a rule B is *shadowed* by a rule A on the same channel when
  every account B matches A matches too (B's conditions are inside A's), A is due whenever B is
  (A's spacing is not longer than B's), and A wins the tie (higher priority, or the same
  priority and earlier): B's requests are then always dropped as duplicates. Rules on different
  channels never shadow each other.
* **Recovery rules are first-match**: the first row whose balance range and segments hold
  chooses the path. A row whose conditions lie inside an earlier row's never applies.

Two rules with exactly the same conditions are *duplicates* when they also ask for the same
thing, and *contradict* each other when they ask for different things (for recovery rules:
different paths; for contact rules: different spacing, attempts, hours, priority or fallback,
with neither shadowing the other, so which settings apply depends on the day).

A rule can also never fire because of the scenario: accounts are charged off at the scenario's
``charge_off_dpd``, so a contact rule starting at that DPD or later never sees an account.
Ranges that are impossible as written (reversed, empty, past any charge-off, more than a
30-day cycle before the due date) are errors, refused by the loader (``strategies.registry``);
this module only warns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sim.user_input import Problem
from strategies.rules import RecoveryRule, Rule


@dataclass(frozen=True)
class ChargeOff:
    """A charge-off DPD and where it comes from (``"the default"``, ``"small, baseline"``)."""

    dpd: int
    label: str


def _inside_list(inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    """Every value ``inner`` admits is admitted by ``outer`` (empty: any value)."""
    return not outer or (bool(inner) and set(inner) <= set(outer))


def _inside_band(
    inner: tuple[float | None, float | None], outer: tuple[float | None, float | None]
) -> bool:
    lo_i, hi_i = inner
    lo_o, hi_o = outer
    low_ok = lo_o is None or (lo_i is not None and lo_i >= lo_o)
    high_ok = hi_o is None or (hi_i is not None and hi_i <= hi_o)
    return low_ok and high_ok


def _hardship_only(r: Rule) -> bool:
    return r.needs_hardship_seen


def _flags_inside(b: Rule, a: Rule) -> bool:
    """B's flag condition implies A's (A: any of its flags; empty: no condition)."""
    if _hardship_only(a) and not _hardship_only(b):
        return False
    if a.hardship_seen_only and not a.flags:
        return True
    return _inside_list(tuple(b.flags), tuple(a.flags))


def contact_inside(b: Rule, a: Rule) -> bool:
    """Every account rule ``b`` matches (on any day) is matched by rule ``a`` too, spacing
    aside."""
    return (
        a.dpd_min <= b.dpd_min
        and b.dpd_max <= a.dpd_max
        and _inside_list(b.purposes, a.purposes)
        and _inside_list(b.credits, a.credits)
        and _inside_list(b.capacities, a.capacities)
        and _inside_list(b.value_tiers, a.value_tiers)
        and _inside_band((b.score_min, b.score_max), (a.score_min, a.score_max))
        and _inside_band((b.balance_min, b.balance_max), (a.balance_min, a.balance_max))
        and _flags_inside(b, a)
        and (a.promise == "any" or a.promise == b.promise)
    )


def _spacing(r: Rule) -> int:
    return 10**5 if r.once else r.every_days


def _settings(r: Rule) -> dict[str, object]:
    return {
        "every_days": "once" if r.once else r.every_days,
        "attempts_per_day": r.attempts_per_day,
        "hours": f"{r.hours[0]}-{r.hours[1]}" if r.hours else "any",
        "priority": r.priority,
        "fallback": r.fallback,
    }


def _differences(a: Rule, b: Rule) -> str:
    sa, sb = _settings(a), _settings(b)
    return ", ".join(f"{k} {sa[k]} vs {sb[k]}" for k in sa if sa[k] != sb[k])


def _wins(a: Rule, ia: int, b: Rule, ib: int) -> bool:
    """A's request is kept over B's for the same account and channel on the same day."""
    return a.priority > b.priority or (a.priority == b.priority and ia < ib)


def _charge_off_warnings(
    r: Rule, i: int, source: str, charge_offs: list[ChargeOff]
) -> list[Problem]:
    never = [c for c in charge_offs if r.dpd_min >= c.dpd]
    if not never:
        return []
    where = " and ".join(f"{c.dpd} DPD ({c.label})" for c in never)
    fires = [c for c in charge_offs if r.dpd_min < c.dpd]
    tail = f"; it fires only where charge_off_dpd is above {r.dpd_min}"
    if fires:
        tail += " (" + ", ".join(f"{c.label}: {c.dpd}" for c in fires) + ")"
    return [
        Problem(
            source,
            f"rules.{i}.dpd",
            f"starts at {r.dpd_min} DPD, but accounts are charged off at {where}, so the "
            f"rule never fires there{tail}",
            where=f"rule {i + 1}, field 'dpd'",
        )
    ]


def contact_rule_warnings(
    rules: tuple[Rule, ...] | list[Rule], source: str, charge_offs: list[ChargeOff]
) -> list[Problem]:
    """Warnings about a table's contact rules (see the module docstring)."""
    out: list[Problem] = []
    for i, r in enumerate(rules):
        out += _charge_off_warnings(r, i, source, charge_offs)
    for j, b in enumerate(rules):
        for i, a in enumerate(rules):
            if i == j or a.channel != b.channel:
                continue
            where = f"rule {j + 1}"
            same = contact_inside(a, b) and contact_inside(b, a)
            if same and i < j and _settings(a) == _settings(b):
                out.append(
                    Problem(
                        source,
                        f"rules.{j}",
                        f"duplicates rule {i + 1} (same channel, conditions and settings)",
                        where=where,
                    )
                )
                break
            if contact_inside(b, a) and _spacing(a) <= _spacing(b) and _wins(a, i, b, j):
                out.append(
                    Problem(
                        source,
                        f"rules.{j}",
                        f"is shadowed by rule {i + 1}: every account it matches, rule {i + 1} "
                        f"matches too on the same channel ({b.channel}), is due at least as "
                        "often and wins the tie (higher priority, or the same priority and "
                        "earlier), and one request per account and channel is kept a day, so "
                        f"rule {j + 1} never makes an attempt",
                        where=where,
                    )
                )
                break
            b_shadows_a = contact_inside(a, b) and _spacing(b) <= _spacing(a) and _wins(b, j, a, i)
            if same and i < j and not b_shadows_a:
                out.append(
                    Problem(
                        source,
                        f"rules.{j}",
                        f"contradicts rule {i + 1}: the same accounts on the same channel "
                        f"({b.channel}) with different settings ({_differences(a, b)}); one "
                        "request per account and channel is kept a day (the higher priority, "
                        "then the earlier rule), so which settings apply changes from day to day",
                        where=where,
                    )
                )
                break
    return sorted(out, key=lambda p: int(p.field.split(".")[1]))  # by rule, stable


def _recovery_inside(b: RecoveryRule, a: RecoveryRule) -> bool:
    return (
        _inside_band((b.balance_min, b.balance_max), (a.balance_min, a.balance_max))
        and _inside_list(b.purposes, a.purposes)
        and _inside_list(b.credits, a.credits)
        and _inside_list(b.capacities, a.capacities)
    )


def recovery_rule_warnings(
    recovery: tuple[RecoveryRule, ...] | list[RecoveryRule], source: str
) -> list[Problem]:
    """Recovery rows that never apply: inside an earlier row (first match wins)."""
    out: list[Problem] = []
    for j, b in enumerate(recovery):
        for i, a in enumerate(recovery[:j]):
            if not _recovery_inside(b, a):
                continue
            where = f"recovery rule {j + 1}"
            if _recovery_inside(a, b):
                what = (
                    f"duplicates recovery rule {i + 1}"
                    if a.path == b.path
                    else f"contradicts recovery rule {i + 1} (the same claims, path {a.path} "
                    f"vs {b.path}); the first match wins, so it never applies"
                )
            else:
                what = (
                    f"is shadowed by recovery rule {i + 1}: every claim it matches, rule "
                    f"{i + 1} matches first (first match wins), so it never applies"
                )
            out.append(Problem(source, f"recovery.{j}", what, where=where))
            break
    return out


def rule_table_warnings(
    rules: tuple[Rule, ...] | list[Rule],
    recovery: tuple[RecoveryRule, ...] | list[RecoveryRule],
    source: str,
    charge_offs: list[ChargeOff] | Mapping[str, int],
) -> list[Problem]:
    """Every warning about one rule table, contact rules first."""
    if isinstance(charge_offs, Mapping):
        charge_offs = [ChargeOff(v, k) for k, v in charge_offs.items()]
    return contact_rule_warnings(rules, source, list(charge_offs)) + recovery_rule_warnings(
        recovery, source
    )
