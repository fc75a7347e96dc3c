"""From a strategy's requests to the attempts made today.

The strategy asks; this module decides what is done, in the order a contact centre would:

1. ``expand``: one request per account and channel (the highest priority kept), expanded into
   its attempts;
2. the compliance checks that need no other attempt (hours, third parties, the quiet period
   after an earlier day's conversation);
3. staff-limited channels served by priority up to the day's capacity; what staff cannot serve
   moves to its rule's fall-back channel where there is room;
4. the caps that depend on today's earlier attempts (7-day call cap, daily connected and
   unanswered caps, the quiet period after a conversation earlier today);
5. breaches of the profile among the attempts made, counted by separate code, and the calls
   written into each account's ring of recent attempt days.

The vectorised engine and the Mesa model share it, so both enforce exactly the same rules.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim import compliance as rules
from sim import kernels
from sim.actions import ActionRequests
from sim.capacity import allocate_mask
from sim.channels import CHANNEL_NAMES, N_CHANNELS, Channel, Reachability
from sim.compliance import ComplianceProfile, call_channel_mask, record_calls
from sim.kpis import DailyRecorder
from sim.operations import DailyCapacity, StaffingPlan, daily_capacity
from sim.portfolio import Portfolio
from sim.scenario import Scenario


class ChannelTable:
    """The scenario's channel specs as arrays indexed by channel code."""

    def __init__(self, sc: Scenario):
        specs = [sc.channels[name] for name in CHANNEL_NAMES]
        self.cost_attempt = np.array([s.cost_per_attempt for s in specs])
        self.cost_contact = np.array([s.cost_per_contact for s in specs])
        self.reach = np.array([s.reach for s in specs])
        self.effect = np.array([s.effect for s in specs])
        self.promise_rate = np.array([s.promise_rate for s in specs])
        self.irritation = np.array([s.irritation for s in specs])
        self.reach_trait = np.array(
            [Reachability[s.reachability.upper()].value for s in specs], np.int64
        )
        self.is_call = call_channel_mask(sc.channels)
        # a telephone conversation: a call on which promises are made (Reg F's quiet period)
        self.talks = self.is_call & (self.promise_rate > 0)
        self.third_party = np.array([s.third_party for s in specs])
        self.capacity = np.full(N_CHANNELS, np.inf)
        self.capacity[Channel.CALL] = sc.staff.call_attempts_per_day
        self.capacity[Channel.VISIT] = sc.staff.visits_per_day
        self.staffing = None
        if sc.staffing is not None:
            # the operations model (SimPy) turns the staffing plan into daily capacity and a
            # daily staff cost; agent labour is then paid per day, not per attempt
            self.staffing = staffing_capacity(sc.staffing)
            self.capacity[Channel.CALL] = self.staffing.call_attempts_per_day
            self.capacity[Channel.VISIT] = self.staffing.visits_per_day
            staffed = np.array([sc.channels[n].staff_limited for n in CHANNEL_NAMES])
            self.cost_attempt = np.where(staffed, 0.0, self.cost_attempt)
            self.cost_contact = np.where(staffed, 0.0, self.cost_contact)


def fall_back(
    p: Portfolio,
    ch: ChannelTable,
    profile: ComplianceProfile,
    day: int,
    att: rules.Attempts,
    served: np.ndarray,
    dropped: dict[str, int],
) -> rules.Attempts:
    """Attempts staff could not serve move to their rule's fall-back channel, where there is
    one and it has room; an attempt already made on that channel today is not repeated."""
    out = att.take(served)
    fb = att.take(~served & (att.fallback >= 0))
    if not len(fb):
        return out
    fb = replace(fb, channel=fb.fallback.astype(np.int64), fallback=np.full(len(fb), -1, np.int8))
    fb, d = rules.static_filter(fb, p, day, profile, ch.is_call, ch.third_party)
    _merge(dropped, d)
    room = ch.capacity - np.bincount(out.channel, minlength=N_CHANNELS)
    keep, _ = allocate_mask(fb.channel, fb.priority, fb.value, fb.account, room)
    if not keep.any():
        return out
    both = rules.Attempts.concat([out, fb.take(keep)])
    key = (both.account * N_CHANNELS + both.channel) * 16 + np.minimum(both.attempt, 15)
    _, first = np.unique(key, return_index=True)
    if first.size < len(both):
        dropped["duplicate"] = dropped.get("duplicate", 0) + len(both) - first.size
        both = both.take(np.sort(first))
    return both


def staffing_capacity(spec) -> DailyCapacity:
    """Daily capacity and staff cost of a scenario's staffing plan (DES, cached per plan)."""
    fields = spec.model_dump()
    replications = fields.pop("replications")
    return daily_capacity(StaffingPlan(**fields), replications=replications)


def serve(
    requests: ActionRequests,
    p: Portfolio,
    ch: ChannelTable,
    profile: ComplianceProfile,
    day: int,
    key,
    rec: DailyRecorder,
    strategy_name: str = "strategy",
) -> rules.Attempts | None:
    """The attempts made today for a strategy's requests (see the module's steps).

    Records on ``rec`` the attempts staff could not serve, the attempts dropped by reason and
    the breaches; writes the calls made into the accounts' call rings. Returns the attempts
    made, in the order they are played out, or None when there are none.
    """
    if not len(requests):
        return None
    channel = requests.channel
    if channel.size and (channel.min() < 0 or channel.max() >= N_CHANNELS):
        raise ValueError(f"strategy {strategy_name!r} requested an unknown channel code")
    att, dup = rules.expand(requests, p.n)
    dropped = {"duplicate": dup}
    att, d = rules.static_filter(att, p, day, profile, ch.is_call, ch.third_party)
    _merge(dropped, d)
    keep, unserved = allocate_mask(att.channel, att.priority, att.value, att.account, ch.capacity)
    rec.add_by_channel(day, "unserved", unserved)
    if not keep.all():
        att = fall_back(p, ch, profile, day, att, keep, dropped)
    if not len(att):
        rec.add(day, **{f"dropped_{k}": v for k, v in dropped.items()})
        return None
    rpc_of = rules.reach_draws(p, day, key, ch.reach, ch.reach_trait)
    keep, d = rules.sequential_caps(att, p, day, profile, ch.is_call, ch.talks, rpc_of)
    _merge(dropped, d)
    rec.add(day, **{f"dropped_{k}": v for k, v in dropped.items()})
    if not keep.all():
        att = att.take(keep)
    if not len(att):
        return None
    acc = att.account
    before = kernels.gather(p.last_conversation, acc)
    n_breach = rules.breaches(att, rpc_of, before, day, profile, ch.is_call, ch.talks, p.n)
    n_breach += record_calls(p, acc[ch.is_call[att.channel]], day, profile)
    rec.add(day, compliance_breaches=n_breach)
    return att


def _merge(total: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


__all__ = ["ChannelTable", "fall_back", "serve", "staffing_capacity"]
