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

Steps 2-4 are one compiled pass (:func:`sim.dispatch_kernels.dispatch_attempts`): a day's
dispatch costs one call, not a few dozen array operations.

The vectorised engine and the Mesa model share it, so both enforce exactly the same rules.
"""

from __future__ import annotations

import numpy as np

from sim import compliance as rules
from sim import kernels
from sim.actions import ActionRequests
from sim.channels import CHANNEL_NAMES, N_CHANNELS, Channel, Reachability
from sim.compliance import DROP_REASONS, ComplianceProfile, call_channel_mask, record_calls
from sim.dispatch_kernels import dispatch_attempts
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
    fields, dropped, unserved = dispatch_attempts(
        tuple(np.ascontiguousarray(v) for v in att.__dict__.values()),
        day,
        key,
        profile.enforce,
        (*profile.contact_hours, _or_absent(profile.quiet_days_after_conversation)),
        (
            _or_absent(profile.max_call_attempts_7d),
            _or_absent(profile.max_connected_calls_per_day),
            _or_absent(profile.max_unanswered_calls_per_day),
        ),
        profile.third_party_contact,
        ch.is_call,
        ch.talks,
        ch.third_party,
        ch.capacity,
        ch.reach,
        ch.reach_trait,
        p.last_conversation,
        p.call_ring,
        p.reach,
        kernels.account_slots(p.n),
    )
    dropped[0] += dup
    rec.add_by_channel(day, "unserved", unserved)
    rec.add(day, **{f"dropped_{r}": int(n) for r, n in zip(DROP_REASONS, dropped, strict=True)})
    att = rules.Attempts(*fields)
    if not len(att):
        return None
    rpc_of = rules.reach_draws(p, day, key, ch.reach, ch.reach_trait)
    acc = att.account
    before = kernels.gather(p.last_conversation, acc)
    n_breach = rules.breaches(att, rpc_of, before, day, profile, ch.is_call, ch.talks, p.n)
    n_breach += record_calls(p, acc[ch.is_call[att.channel]], day, profile)
    rec.add(day, compliance_breaches=n_breach)
    return att


def _or_absent(limit: int | None) -> int:
    """A profile's limit for the compiled dispatch: -1 when the profile has none."""
    return -1 if limit is None else int(limit)


__all__ = ["ChannelTable", "serve", "staffing_capacity"]
