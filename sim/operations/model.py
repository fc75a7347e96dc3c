"""What the operations model simulates: teams, their skills and shifts, and the work they meet.

All durations are in seconds, rates per hour, money in USD. Defaults follow the ranges of the
design (right-party contact rate per attempt about 25 %, talk 3-6 min, wrap-up 45 s, shrinkage
30 %, agent labour 0.25 USD/min). Field and training figures are assumptions and are marked as
such: replace them with calibrated values where data exist.

Two ready-made configurations:

* :func:`pure_inbound`: one round-the-clock team answering an inbound line, no outbound work,
  no shifts, no shrinkage, untrained agents. With exponential handle times this is exactly
  M/M/n, and M/M/n+M when a mean patience is given: the case the Erlang formulas describe.
* :func:`collections_centre`: early-stage (blended inbound and outbound), late-stage and legal
  (outbound) and field (visits) teams on day shifts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

#: Team names used across the project (the order fixes their random-stream positions).
TEAM_NAMES = ("early_stage", "late_stage", "field", "legal")
#: Skills an agent can have.
INBOUND, OUTBOUND, VISIT = "inbound", "outbound", "visit"
SKILLS = frozenset({INBOUND, OUTBOUND, VISIT})
DAY_S = 86_400.0
#: Breaks a shift's shrinkage is spread over (breaks, coaching, admin).
BREAKS_PER_SHIFT = 3


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class CallProfile:
    """One outbound attempt: dial, then no answer, wrong party or right-party contact.

    Attributes
    ----------
    rpc_rate : float
        Chance that an attempt reaches the right party (design: about 25 %).
    wrong_party_rate : float
        Chance that someone else answers (family, colleague, wrong number).
    dial_mean_s : float
        Mean time ringing or connecting (exponential).
    no_answer_wrap_s : float
        Fixed disposition time after no answer or voicemail.
    wrong_party_talk_mean_s, wrong_party_wrap_s : float
        Mean talk (exponential) and fixed wrap-up after a wrong-party call.
    talk_min_s, talk_max_s : float
        Right-party talk time, uniform (design: 3-6 min), for an untrained agent.
    wrap_mean_s : float
        Mean wrap-up after a right-party contact (exponential; design: 45 s).
    promise_rate : float
        Chance that a right-party contact ends with a promise to pay, untrained agent.
    """

    rpc_rate: float = 0.25
    wrong_party_rate: float = 0.15
    dial_mean_s: float = 20.0
    no_answer_wrap_s: float = 5.0
    wrong_party_talk_mean_s: float = 40.0
    wrong_party_wrap_s: float = 10.0
    talk_min_s: float = 180.0
    talk_max_s: float = 360.0
    wrap_mean_s: float = 45.0
    promise_rate: float = 0.35

    def __post_init__(self) -> None:
        _check(0 <= self.rpc_rate and 0 <= self.wrong_party_rate, "rates must be >= 0")
        _check(self.rpc_rate + self.wrong_party_rate <= 1, "rpc + wrong-party rate must be <= 1")
        _check(0 < self.talk_min_s <= self.talk_max_s, "need 0 < talk_min_s <= talk_max_s")
        _check(0 <= self.promise_rate <= 1, "promise_rate must be in [0, 1]")


#: Legal team calls: pre-litigation conversations are longer (assumption).
LEGAL_CALLS = CallProfile(rpc_rate=0.30, talk_min_s=360.0, talk_max_s=720.0, promise_rate=0.30)


@dataclass(frozen=True)
class VisitProfile:
    """One field visit: travel, then the borrower is met or a notice is left (assumptions).

    Attributes
    ----------
    travel_mean_s : float
        Mean travel time to the next address (exponential).
    contact_rate : float
        Chance of meeting the right party at the address.
    meeting_mean_s : float
        Mean length of a meeting (exponential).
    notice_s : float
        Fixed time spent when nobody is met (leaving a notice, asking neighbours).
    promise_rate : float
        Chance that a meeting ends with a promise to pay, untrained agent.
    """

    travel_mean_s: float = 1500.0
    contact_rate: float = 0.55
    meeting_mean_s: float = 1200.0
    notice_s: float = 300.0
    promise_rate: float = 0.45

    def __post_init__(self) -> None:
        _check(self.travel_mean_s > 0 and self.meeting_mean_s > 0, "durations must be > 0")
        _check(0 <= self.contact_rate <= 1, "contact_rate must be in [0, 1]")
        _check(0 <= self.promise_rate <= 1, "promise_rate must be in [0, 1]")


@dataclass(frozen=True)
class TrainingEffect:
    """What a training level of 1 does compared with 0 (linear in between; assumptions).

    Attributes
    ----------
    promise_uplift : float
        Added to the promise rate of right-party contacts and meetings.
    handle_time_cut : float
        Share of talk, wrap-up, meeting and inbound handle time saved.
    """

    promise_uplift: float = 0.15
    handle_time_cut: float = 0.20

    def promise_rate(self, base: float, level: float) -> float:
        """Promise rate of an agent with training ``level`` (0..1)."""
        return min(1.0, base + self.promise_uplift * level)

    def handle_factor(self, level: float) -> float:
        """Multiplier on handle times for training ``level`` (0..1)."""
        return 1.0 - self.handle_time_cut * level


@dataclass(frozen=True)
class Team:
    """A team of identical agents.

    Attributes
    ----------
    name : str
        Team name, one of :data:`TEAM_NAMES` in the collections centre.
    agents : int
        Rostered agents (head count, before shrinkage).
    skills : frozenset of str
        Work the team does: ``"inbound"``, ``"outbound"``, ``"visit"``. Inbound calls come
        before outbound dialling; an agent with both only dials while at least
        ``inbound_reserve`` inbound agents stand idle.
    shift_start_h, shift_hours : float
        Daily shift; ``shift_hours = 24`` with ``shrinkage = 0`` means always on the floor.
    shrinkage : float
        Share of paid time off the floor, taken as breaks staggered across agents.
    training : float
        Training level, 0 (none) to 1 (fully trained).
    labour_cost_per_min : float
        Paid cost per agent-minute of shift (USD).
    calls : CallProfile
        Outbound attempt profile.
    visits : VisitProfile
        Field visit profile.
    inbound_reserve : int
        Idle inbound agents kept free of outbound work.
    """

    name: str
    agents: int
    skills: frozenset[str]
    shift_start_h: float = 8.0
    shift_hours: float = 8.0
    shrinkage: float = 0.30
    training: float = 0.5
    labour_cost_per_min: float = 0.25
    calls: CallProfile = field(default_factory=CallProfile)
    visits: VisitProfile = field(default_factory=VisitProfile)
    inbound_reserve: int = 0

    def __post_init__(self) -> None:
        _check(self.agents >= 0, f"team {self.name}: agents must be >= 0")
        _check(self.skills <= SKILLS, f"team {self.name}: skills must be among {sorted(SKILLS)}")
        _check(0 < self.shift_hours <= 24, f"team {self.name}: shift_hours must be in (0, 24]")
        _check(0 <= self.shift_start_h < 24, f"team {self.name}: shift_start_h must be in [0, 24)")
        _check(0 <= self.shrinkage < 1, f"team {self.name}: shrinkage must be in [0, 1)")
        _check(0 <= self.training <= 1, f"team {self.name}: training must be in [0, 1]")
        _check(self.labour_cost_per_min >= 0, f"team {self.name}: labour cost must be >= 0")
        _check(self.inbound_reserve >= 0, f"team {self.name}: inbound_reserve must be >= 0")

    @property
    def always_on(self) -> bool:
        """Whether agents never leave the floor (round-the-clock, no shrinkage)."""
        return self.shift_hours >= 24 and self.shrinkage == 0

    @property
    def staff_cost_per_day(self) -> float:
        """Paid shift time of the whole team per day (USD); shrinkage is paid time too."""
        return self.agents * self.shift_hours * 60.0 * self.labour_cost_per_min


@dataclass(frozen=True)
class InboundDemand:
    """Borrowers calling in: Poisson arrivals, exponential handle time and patience.

    Attributes
    ----------
    calls_per_hour : float
        Arrival rate while the line is open.
    aht_s : float
        Mean handle time of an untrained agent (exponential).
    patience_s : float or None
        Mean patience (exponential); ``None``: callers never hang up.
    open_from_h, open_hours : float
        Daily opening; ``open_hours = 24`` means always open.
    """

    calls_per_hour: float
    aht_s: float
    patience_s: float | None = None
    open_from_h: float = 8.0
    open_hours: float = 8.0

    def __post_init__(self) -> None:
        _check(self.calls_per_hour >= 0, "calls_per_hour must be >= 0")
        _check(self.aht_s > 0, "aht_s must be > 0")
        _check(self.patience_s is None or self.patience_s > 0, "patience_s must be > 0")
        _check(0 < self.open_hours <= 24, "open_hours must be in (0, 24]")


@dataclass(frozen=True)
class CentreConfig:
    """A contact centre and how long to watch it.

    Attributes
    ----------
    teams : tuple of Team
        The teams.
    inbound : InboundDemand or None
        The inbound line, answered by teams with the ``"inbound"`` skill.
    warmup_s : float
        Simulated time discarded before measuring (the centre starts empty).
    measure_s : float
        Length of the measured window.
    drain_s : float
        Time simulated after the window so that calls arriving in it are resolved.
    target_s : float
        Service-level threshold for inbound calls.
    training_effect : TrainingEffect
        How training changes promise rates and handle times.
    """

    teams: tuple[Team, ...]
    inbound: InboundDemand | None = None
    warmup_s: float = 0.0
    measure_s: float = DAY_S
    drain_s: float = 0.0
    target_s: float = 20.0
    training_effect: TrainingEffect = field(default_factory=TrainingEffect)

    def __post_init__(self) -> None:
        names = [t.name for t in self.teams]
        _check(len(set(names)) == len(names), "team names must be unique")
        _check(self.warmup_s >= 0 and self.drain_s >= 0, "warmup_s and drain_s must be >= 0")
        _check(self.measure_s > 0, "measure_s must be > 0")
        _check(self.target_s >= 0, "target_s must be >= 0")
        if self.inbound is not None and self.inbound.calls_per_hour > 0:
            answering = sum(t.agents for t in self.teams if INBOUND in t.skills)
            _check(answering > 0, "an inbound line needs at least one agent with that skill")

    @property
    def stop_s(self) -> float:
        """Simulated time at which a replication ends."""
        return self.warmup_s + self.measure_s + self.drain_s

    @property
    def measured_days(self) -> float:
        """Length of the measured window in days (per-day figures divide by it)."""
        return self.measure_s / DAY_S


def pure_inbound(
    calls_per_hour: float,
    aht_s: float,
    agents: int,
    patience_s: float | None = None,
    *,
    hours: float = 8.0,
    warmup_hours: float = 1.0,
    target_s: float = 20.0,
) -> CentreConfig:
    """An inbound-only line that is exactly M/M/n, or M/M/n+M with a mean patience.

    Parameters
    ----------
    calls_per_hour : float
        Poisson arrival rate.
    aht_s : float
        Mean of the exponential handle time.
    agents : int
        Agents, always on the floor.
    patience_s : float, optional
        Mean of the exponential patience; ``None`` for no abandonment.
    hours : float, default 8
        Measured window per replication.
    warmup_hours : float, default 1
        Discarded start-up period.
    target_s : float, default 20
        Service-level threshold.

    Returns
    -------
    CentreConfig
        The configuration the Erlang validation runs on.
    """
    team = Team(
        name="inbound",
        agents=agents,
        skills=frozenset({INBOUND}),
        shift_start_h=0.0,
        shift_hours=24.0,
        shrinkage=0.0,
        training=0.0,
    )
    demand = InboundDemand(calls_per_hour, aht_s, patience_s, open_from_h=0.0, open_hours=24.0)
    # Calls arriving late in the window may still be queued at its end: run on, with arrivals
    # continuing, for long enough to settle them (50 handle times, or an hour).
    return CentreConfig(
        teams=(team,),
        inbound=demand,
        warmup_s=warmup_hours * 3600.0,
        measure_s=hours * 3600.0,
        drain_s=max(3600.0, 50.0 * aht_s),
        target_s=target_s,
    )


def collections_centre(
    *,
    early_stage: int = 12,
    late_stage: int = 8,
    field: int = 6,
    legal: int = 2,
    shift_hours: float = 8.0,
    shrinkage: float = 0.30,
    training: float = 0.5,
    labour_cost_per_min: float = 0.25,
    inbound_calls_per_hour: float = 30.0,
    inbound_aht_s: float = 240.0,
    inbound_patience_s: float | None = 180.0,
    days: float = 1.0,
    target_s: float = 20.0,
) -> CentreConfig:
    """The four-team collections centre on a day shift starting at 08:00.

    Parameters
    ----------
    early_stage, late_stage, field, legal : int
        Head count per team. Early stage answers the inbound line and dials out when the line
        is quiet (one agent kept in reserve); late stage and legal dial out; field visits.
    shift_hours, shrinkage, training, labour_cost_per_min : float
        Shared by all teams.
    inbound_calls_per_hour, inbound_aht_s, inbound_patience_s : float
        Borrowers calling in during the shift (assumption: 30 calls/h, 4 min, 3 min patience).
    days : float, default 1
        Days measured per replication. Each day starts from an empty centre, so a day is a
        complete cycle and no warm-up is needed.
    target_s : float, default 20
        Inbound service-level threshold.

    Returns
    -------
    CentreConfig
        The configuration.
    """
    shared = {
        "shift_hours": shift_hours,
        "shrinkage": shrinkage,
        "training": training,
        "labour_cost_per_min": labour_cost_per_min,
    }
    teams = (
        Team(
            "early_stage", early_stage, frozenset({INBOUND, OUTBOUND}), inbound_reserve=1, **shared
        ),
        Team("late_stage", late_stage, frozenset({OUTBOUND}), **shared),
        Team("field", field, frozenset({VISIT}), **shared),
        Team("legal", legal, frozenset({OUTBOUND}), calls=LEGAL_CALLS, **shared),
    )
    inbound = None
    if inbound_calls_per_hour > 0 and early_stage > 0:
        inbound = InboundDemand(
            inbound_calls_per_hour,
            inbound_aht_s,
            inbound_patience_s,
            open_from_h=8.0,
            open_hours=min(shift_hours, 16.0),
        )
    return CentreConfig(teams=teams, inbound=inbound, measure_s=days * DAY_S, target_s=target_s)


class FloorBlock(NamedTuple):
    """A stretch of time an agent is scheduled on the floor.

    Attributes
    ----------
    on, off : float
        Scheduled start and end (seconds).
    break_s : float
        Length of the break just before the block; 0 for the first block of a shift.
    """

    on: float
    off: float
    break_s: float


def floor_blocks(team: Team, index: int, stop_s: float) -> list[FloorBlock]:
    """When one agent is scheduled on the floor, up to ``stop_s``.

    The shift's shrinkage is taken as :data:`BREAKS_PER_SHIFT` equal breaks between equal work
    blocks; agents' breaks are staggered by their index so that the floor never empties at once.

    Parameters
    ----------
    team : Team
        The agent's team.
    index : int
        The agent's position in the team (0-based).
    stop_s : float
        End of the simulation.

    Returns
    -------
    list of FloorBlock
        Blocks in time order; one endless block for an always-on team, one block per shift
        without shrinkage.
    """
    if team.always_on:
        return [FloorBlock(0.0, math.inf, 0.0)]
    shift = team.shift_hours * 3600.0
    breaks = team.shrinkage * shift
    pause = breaks / BREAKS_PER_SHIFT
    work = (shift - breaks) / (BREAKS_PER_SHIFT + 1)
    # Move the breaks by up to +-40 % of a work block: first block longer or shorter, last one
    # the opposite, floor time unchanged.
    stagger = (((index + 0.5) / max(team.agents, 1)) - 0.5) * 0.8 * work
    blocks = []
    for day in range(math.ceil(stop_s / DAY_S)):
        start = day * DAY_S + team.shift_start_h * 3600.0
        if breaks == 0:
            shift_blocks = [FloorBlock(start, start + shift, 0.0)]
        else:
            edges = [start + k * (work + pause) + stagger for k in range(BREAKS_PER_SHIFT + 1)]
            shift_blocks = [FloorBlock(start, edges[0] + work, 0.0)]
            shift_blocks += [FloorBlock(on, on + work, pause) for on in edges[1:-1]]
            shift_blocks.append(FloorBlock(edges[-1], start + shift, pause))
        blocks += [
            FloorBlock(b.on, min(b.off, stop_s), b.break_s) for b in shift_blocks if b.on < stop_s
        ]
    return blocks
