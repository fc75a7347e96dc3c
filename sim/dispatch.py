"""From a strategy's requests to the attempts made today.

The strategy asks; this module decides what is done, in the order a contact centre would:

1. one request per account and channel (the highest priority kept), expanded into its
   attempts (:func:`sim.dispatch_kernels.expand_requests`);
2. the compliance checks that need no other attempt (hours, third parties, the quiet period
   after an earlier day's conversation);
3. staff-limited channels served by priority up to the day's capacity; what staff cannot serve
   moves to its rule's fall-back channel where there is room;
4. the caps that depend on today's earlier attempts (7-day call cap, daily connected and
   unanswered caps, the quiet period after a conversation earlier today);
5. breaches of the profile among the attempts made, counted by separate code
   (:mod:`sim.breach_kernels`), and the calls written into each account's ring of recent
   attempt days.

Steps 2-4 are one compiled pass (:func:`sim.dispatch_kernels.dispatch_attempts`): a day's
dispatch costs one call, not a few dozen array operations.

The vectorised engine and the Mesa model share it, so both enforce exactly the same rules.
"""

from __future__ import annotations

import functools

import numpy as np

from sim import compliance as rules
from sim import kernels
from sim.actions import ActionRequests
from sim.book_staffing import ENGINE_ONLY, resolved_inbound
from sim.borrower.params import channel_records
from sim.breach_kernels import record_and_count_breaches
from sim.channels import CHANNEL_NAMES, CONVERSATION_CHANNELS, N_CHANNELS, Channel, Reachability
from sim.compliance import ComplianceProfile, call_channel_mask
from sim.dispatch_kernels import (
    DUPLICATES,
    UNKNOWN_ACCOUNT,
    UNKNOWN_CHANNEL,
    dispatch_attempts,
    expand_requests,
)
from sim.kpis import DailyRecorder
from sim.operations import DailyCapacity, StaffingPlan, daily_capacity
from sim.operations.training import STANDARD_LEVEL, TrainingProgramme
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
        # a right-party contact that is a conversation with a person (a collector's call or
        # visit, or any channel on which promises are made), not an automated message
        self.conversation = np.isin(np.arange(N_CHANNELS), CONVERSATION_CHANNELS) | (
            self.promise_rate > 0
        )
        self.third_party = np.array([s.third_party for s in specs])
        self.capacity = np.full(N_CHANNELS, np.inf)
        self.capacity[Channel.CALL] = sc.staff.call_attempts_per_day
        self.capacity[Channel.VISIT] = sc.staff.visits_per_day
        self.staffing = None
        self.callbacks = 0.0  # inbound call-backs answered over the run (staffing plans only)
        self.training: TrainingProgramme | None = None
        self.staff_cost_per_day = 0.0
        self._callback_rate = 0.0
        self._attempts_per_callback = 0.0
        if sc.staffing is not None:
            # the operations model (SimPy) turns the staffing plan into daily capacity and a
            # daily staff cost; agent labour is then paid per day, not per attempt
            spec = resolved_inbound(sc.staffing, sc)
            self.staffing = staffing_capacity(spec)
            self.capacity[Channel.CALL] = self.staffing.call_attempts_per_day
            self.capacity[Channel.VISIT] = self.staffing.visits_per_day
            self._call_capacity = self.staffing.call_attempts_per_day
            self._callback_rate = spec.callback_rate
            self._attempts_per_callback = attempts_per_callback(spec)
            self.training = TrainingProgramme(spec.training, spec.training_cost_per_agent_day)
            agents = spec.early_stage + spec.late_stage + spec.field + spec.legal
            self.staff_cost_per_day = self.staffing.staff_cost_per_day + (
                agents * self.training.extra_cost_per_agent_day()
            )
            # agent conversations: the channels whose promises the team's skill moves
            self._trained = np.array([sc.channels[n].staff_limited for n in CHANNEL_NAMES]) & (
                self.promise_rate > 0
            )
            staffed = np.array([sc.channels[n].staff_limited for n in CHANNEL_NAMES])
            self.cost_attempt = np.where(staffed, 0.0, self.cost_attempt)
            self.cost_contact = np.where(staffed, 0.0, self.cost_contact)

    def promise_rates(self, day: int) -> np.ndarray | None:
        """Today's promise rate per channel when the team's training moves it (agent calls and
        visits times :meth:`TrainingProgramme.promise_factor`); None when it does not (no
        staffing plan, or the standard level)."""
        if self.training is None or self.training.level == STANDARD_LEVEL:
            return None
        factor = self.training.promise_factor(day)
        return np.where(
            self._trained, np.minimum(self.promise_rate * factor, 1.0), self.promise_rate
        )

    def answer_callbacks(self, reached_by_sms_and_letter: float) -> float:
        """Tomorrow's call capacity after the call-backs today's SMS and letters provoke.

        Each call-back is an inbound call the early-stage team answers instead of dialling:
        it costs :func:`attempts_per_callback` outbound attempts of tomorrow's capacity (no
        staffing plan: nothing, the per-attempt costing has no team to load). Returns the
        call-backs.
        """
        if self.staffing is None:
            return 0.0
        calls = self._callback_rate * float(reached_by_sms_and_letter)
        self.callbacks += calls
        self.capacity[Channel.CALL] = max(
            0.0, self._call_capacity - calls * self._attempts_per_callback
        )
        return calls

    def records(self) -> np.ndarray:
        """The channels as the borrower rules read them (one record per channel code,
        :func:`sim.borrower.params.channel_records`)."""
        return channel_records(
            self.reach,
            self.reach_trait,
            self.cost_attempt,
            self.cost_contact,
            self.effect,
            self.promise_rate,
            self.irritation,
            self.conversation,
        )


def staffing_capacity(spec) -> DailyCapacity:
    """Daily capacity and staff cost of a staffing plan whose inbound rate is set (DES, cached
    per plan; :func:`sim.book_staffing.resolved_inbound` sets an open rate from the book)."""
    fields = spec.model_dump()
    replications = fields["replications"]
    for name in ENGINE_ONLY:  # read by the engine, not by the operations model
        fields.pop(name)
    if fields["inbound_calls_per_hour"] is None:
        raise ValueError("the staffing plan's inbound rate is not set (resolve it from the book)")
    return daily_capacity(StaffingPlan(**fields), replications=replications)


def attempts_per_callback(spec) -> float:
    """Outbound attempts one inbound call-back displaces: its handle time over the expected
    agent time of an attempt (dial, no answer, wrong party or right-party talk and wrap-up,
    at the plan's training level; :class:`sim.operations.model.CallProfile`)."""
    from sim.operations.model import CallProfile, TrainingEffect

    c, factor = CallProfile(), TrainingEffect().handle_factor(spec.training)
    no_answer = 1.0 - c.rpc_rate - c.wrong_party_rate
    attempt_s = (
        c.dial_mean_s
        + no_answer * c.no_answer_wrap_s
        + c.wrong_party_rate * (c.wrong_party_talk_mean_s + c.wrong_party_wrap_s)
        + c.rpc_rate * factor * (0.5 * (c.talk_min_s + c.talk_max_s) + c.wrap_mean_s)
    )
    return spec.inbound_aht_s * factor / attempt_s


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
    slots = kernels.account_slots(p.n)
    att, dup = _attempts_of(requests, p.n, slots, strategy_name)
    hours_start, hours_end, quiet, cap_7d, connected, unanswered = _limits(profile)
    fields, dropped, unserved = dispatch_attempts(
        att,
        day,
        key,
        (
            profile.enforce,
            (hours_start, hours_end, quiet),
            (cap_7d, connected, unanswered),
            profile.third_party_contact,
        ),
        (ch.is_call, ch.talks, ch.third_party, ch.capacity, ch.reach, ch.reach_trait),
        (p.last_conversation, p.call_ring, p.reach),
        slots,
    )
    dropped[0] += dup
    rec.add_by_channel(day, "unserved", unserved)
    rec.add_dropped(day, dropped)
    att = rules.Attempts(*fields)
    if not len(att):
        return None
    n_breach = record_and_count_breaches(
        (att.account, att.channel, att.attempt, att.priority, att.hour_start, att.hour_end),
        day,
        key,
        (hours_start, hours_end, quiet, connected, unanswered),
        cap_7d,
        ch.is_call,
        ch.talks,
        (ch.reach, ch.reach_trait, p.reach),
        p.last_conversation,
        (p.call_ring, p.call_ring_pos),
        slots,
    )
    rec.add(day, compliance_breaches=n_breach)
    return att


_NO_FLOATS = np.empty(0)
_NO_SMALL_INTS = np.empty(0, np.int8)


def _fields(r: ActionRequests) -> tuple[np.ndarray, ...]:
    """The requests' eight fields for :func:`expand_requests` (empty: the default)."""
    return (
        kernels.as_ids(r.account),
        np.asarray(r.channel),
        np.asarray(r.priority, np.float64),
        _NO_FLOATS if r.value is None else np.asarray(r.value, np.float64),
        _NO_SMALL_INTS if r.attempts is None else np.asarray(r.attempts),
        _NO_SMALL_INTS if r.hour_start is None else np.asarray(r.hour_start),
        _NO_SMALL_INTS if r.hour_end is None else np.asarray(r.hour_end),
        _NO_SMALL_INTS if r.fallback is None else np.asarray(r.fallback),
    )


def _attempts_of(
    requests: ActionRequests, n_accounts: int, slots: np.ndarray, strategy_name: str
) -> tuple[tuple[np.ndarray, ...], int]:
    """Step 1: one request per account and channel (the highest priority kept, then the
    earliest), expanded into its attempts. Returns the attempts' eight fields and the number
    of duplicate requests dropped."""
    status, att = expand_requests(_fields(requests), n_accounts, N_CHANNELS, slots)
    dup = 0
    if status == DUPLICATES:
        account = kernels.as_ids(requests.account)
        key = account * 64 + np.asarray(requests.channel, np.int64)
        order = np.lexsort((-np.asarray(requests.priority, np.float64), key))
        first = np.ones(order.size, bool)
        first[1:] = key[order][1:] != key[order][:-1]
        dup = int((~first).sum())
        requests = requests.take(np.sort(order[first]))
        status, att = expand_requests(_fields(requests), n_accounts, N_CHANNELS, slots)
    if status == UNKNOWN_CHANNEL:
        raise ValueError(f"strategy {strategy_name!r} requested an unknown channel code")
    if status == UNKNOWN_ACCOUNT:
        raise IndexError(f"strategy {strategy_name!r} named an account id outside the book")
    return att, dup


@functools.lru_cache(maxsize=64)
def _limits(profile: ComplianceProfile) -> tuple[int, ...]:
    """A profile's rules for the compiled dispatch and breach count: ``(hours_start,
    hours_end, quiet, cap_7d, connected, unanswered)``, ``-1`` where the profile has none."""
    start, end = profile.contact_hours
    limits = (
        profile.quiet_days_after_conversation,
        profile.max_call_attempts_7d,
        profile.max_connected_calls_per_day,
        profile.max_unanswered_calls_per_day,
    )
    return (int(start), int(end), *(-1 if x is None else int(x) for x in limits))


__all__ = ["ChannelTable", "attempts_per_callback", "serve", "staffing_capacity"]
