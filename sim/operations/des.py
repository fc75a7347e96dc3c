"""SimPy discrete-event model of a collections contact centre.

Processes are plain generators, one idea each:

* :func:`inbound_arrivals`: borrowers call in (Poisson) while the line is open;
* :func:`agent_shift`: an agent works through its floor blocks (shift minus breaks), taking the
  next inbound call first, else an outbound attempt or a field visit, else waiting idle;
* :func:`answer_call`, :func:`dial_attempt`, :func:`field_visit`: one piece of work each.

Abandonment is exact but lazy: a queued call carries its deadline (arrival + exponential
patience), and whoever reaches the head of the queue after that deadline is counted as
abandoned at the deadline. Nothing else depends on a waiting call, so this is the same sample
path as a timer per call, at a fraction of the events.

Statistics cover work *started* in the measured window (calls by arrival time); busy and
on-floor time are clipped to the window. Replications use independent random streams (see
:mod:`sim.operations.streams`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from heapq import heappop

import simpy

from sim.operations import streams
from sim.operations.model import (
    DAY_S,
    INBOUND,
    OUTBOUND,
    TEAM_NAMES,
    VISIT,
    CentreConfig,
    FloorBlock,
    Team,
    floor_blocks,
)
from sim.operations.results import OperationsResult

Process = Generator[simpy.Event, object, None]


@dataclass(frozen=True, slots=True)
class Window:
    """The measured part of a replication, ``[start, end)`` in seconds."""

    start: float
    end: float

    def overlap(self, begin: float, finish: float) -> float:
        """Length of ``[begin, finish]`` inside the window."""
        low = self.start if begin < self.start else begin
        high = self.end if finish > self.end else finish
        return high - low if high > low else 0.0


class Centre(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0
        # SimPy binds ``timeout``, ``event``... to the instance only for its own class; bind
        # them here too, or every ``env.timeout`` goes through a descriptor call.
        for name in ("process", "timeout", "event", "all_of", "any_of"):
            setattr(self, name, getattr(self, name))

    def run_until(self, stop: float) -> None:
        """Process every event scheduled before ``stop``, as ``run(until=stop)`` does.

        This is :meth:`simpy.Environment.step` inlined into one loop, with a counter: at a few
        hundred thousand events a second the per-event call, its exception guard and the stop
        event of ``run`` are a noticeable share of the time.
        """
        queue = self._queue
        processed = 0
        while queue and queue[0][0] < stop:
            self._now, _, _, event = heappop(queue)
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            processed += 1
            if not event._ok and not hasattr(event, "_defused"):
                raise event._value
        self._now = max(self._now, stop)
        self.processed += processed


class Agent:
    """One agent: its crew, its place in the roster, and since when it is on the floor."""

    __slots__ = ("crew", "index", "on_since")

    def __init__(self, crew: Crew, index: int) -> None:
        self.crew = crew
        self.index = index
        self.on_since: float | None = None


class Crew:
    """A team at work: its streams, its training-adjusted rates and its tallies."""

    def __init__(self, team: Team, config: CentreConfig, seed: int, replication: int) -> None:
        self.team = team
        effect = config.training_effect
        self.factor = effect.handle_factor(team.training)
        self.call_promise = effect.promise_rate(team.calls.promise_rate, team.training)
        self.visit_promise = effect.promise_rate(team.visits.promise_rate, team.training)
        calls, visits = team.calls, team.visits
        # Plain attributes: read once per attempt, faster than walking team.calls.*
        self.rpc_rate = calls.rpc_rate
        self.answer_rate = calls.rpc_rate + calls.wrong_party_rate
        self.wrong_party_wrap_s = calls.wrong_party_wrap_s
        self.no_answer_wrap_s = calls.no_answer_wrap_s
        self.contact_rate = visits.contact_rate
        self.notice_s = visits.notice_s
        self.inbound = INBOUND in team.skills
        self.outbound = OUTBOUND in team.skills
        self.visit = VISIT in team.skills
        owner = _owner(team, config)

        def stream(dist: int, sampler: streams.Sampler) -> streams.Draw:
            return streams.stream(streams.generator(seed, replication, owner, dist), sampler)

        self.dial = stream(0, streams.exponential(calls.dial_mean_s))
        self.outcome = stream(1, streams.unit())
        self.talk = stream(2, streams.uniform(calls.talk_min_s, calls.talk_max_s))
        self.wrong_talk = stream(3, streams.exponential(calls.wrong_party_talk_mean_s))
        self.wrap = stream(4, streams.exponential(calls.wrap_mean_s))
        self.promise = stream(5, streams.unit())
        self.travel = stream(6, streams.exponential(visits.travel_mean_s))
        self.met = stream(7, streams.unit())
        self.meeting = stream(8, streams.exponential(visits.meeting_mean_s))
        self.attempts = self.rpc = self.promises = self.visits = self.meetings = 0
        self.busy_s = self.floor_s = 0.0


def _owner(team: Team, config: CentreConfig) -> int:
    """Stream owner index: the line is 0, known teams keep their slot whatever the roster."""
    if team.name in TEAM_NAMES:
        return 1 + TEAM_NAMES.index(team.name)
    return 1 + len(TEAM_NAMES) + config.teams.index(team)


class InboundLine:
    """The inbound queue (FCFS), the idle agents waiting for it, and the call statistics."""

    def __init__(self, env: simpy.Environment, config: CentreConfig, seed: int, rep: int) -> None:
        demand = config.inbound
        assert demand is not None
        self.env = env
        self.window = Window(config.warmup_s, config.warmup_s + config.measure_s)
        self.start, self.end = self.window.start, self.window.end
        self.target_s = config.target_s
        self.aht_s = demand.aht_s
        self.queue: deque[tuple[float, float]] = deque()  # (arrival, deadline)
        self.idle: dict[Agent, simpy.Event] = {}  # insertion order: longest idle first
        patience = demand.patience_s
        self.gap = streams.stream(
            streams.generator(seed, rep, 0, 0), streams.exponential(3600.0 / demand.calls_per_hour)
        )
        self.patience = streams.stream(
            streams.generator(seed, rep, 0, 1),
            streams.exponential(patience) if patience else streams.constant(math.inf),
        )
        self.service = streams.stream(streams.generator(seed, rep, 0, 2), streams.exponential(1.0))
        self.offered = self.waited = self.answered_in_time = self.abandoned = 0
        self.wait_s = 0.0

    def arrive(self, now: float) -> None:
        """A call arrives: straight to the longest-idle agent, else to the back of the queue."""
        measured = self.start <= now < self.end
        if self.idle:
            agent = next(iter(self.idle))
            self.idle.pop(agent).succeed((now, math.inf))
            if measured:
                self.offered += 1
                self.answered_in_time += 1
            return
        self.queue.append((now, now + self.patience()))
        if measured:
            self.offered += 1
            self.waited += 1

    def next_call(self, now: float, arrived_before: float = math.inf) -> tuple[float, float] | None:
        """The call at the head of the queue, after writing off those whose patience ran out.

        Calls that arrived at or after ``arrived_before`` are left in the queue.
        """
        queue, start, end = self.queue, self.start, self.end
        while queue and queue[0][0] < arrived_before:
            arrival, deadline = queue.popleft()
            if deadline >= now:
                if start <= arrival < end:
                    wait = now - arrival
                    self.wait_s += wait
                    self.answered_in_time += wait <= self.target_s
                return arrival, deadline
            if start <= arrival < end:
                self.abandoned += 1
                self.wait_s += deadline - arrival
        return None

    def wait_for_call(self, agent: Agent, off: float) -> simpy.Event:
        """Register an idle agent; the event yields a call, or ``None`` when its block ends."""
        event = self.env.event()
        self.idle[agent] = event
        if off != math.inf:
            release = self.env.timeout(off - self.env.now)
            release.callbacks.append(lambda _: self._release(agent, event))
        return event

    def _release(self, agent: Agent, event: simpy.Event) -> None:
        if self.idle.get(agent) is event:
            del self.idle[agent]
            event.succeed(None)

    def close(self, stop: float) -> None:
        """Settle calls still queued at the end: abandoned if past their deadline, else waiting."""
        start, end = self.window.start, self.window.end
        for arrival, deadline in self.queue:
            if start <= arrival < end:
                if deadline <= stop:
                    self.abandoned += 1
                    self.wait_s += deadline - arrival
                else:
                    self.wait_s += stop - arrival
        self.queue.clear()


def inbound_arrivals(env: simpy.Environment, line: InboundLine, config: CentreConfig) -> Process:
    """Poisson arrivals while the line is open (memoryless, so each opening restarts cleanly)."""
    demand = config.inbound
    assert demand is not None
    timeout = env.timeout
    for day in range(math.ceil(config.stop_s / DAY_S)):
        opens = day * DAY_S + demand.open_from_h * 3600.0
        closes = min(opens + demand.open_hours * 3600.0, config.stop_s)
        if demand.open_hours >= 24:
            opens, closes = day * DAY_S, min((day + 1) * DAY_S, config.stop_s)
        if opens > env.now:
            yield timeout(opens - env.now)
        gap, arrive = line.gap, line.arrive
        while True:
            delay = gap()
            if env.now + delay >= closes:
                break
            yield timeout(delay)
            arrive(env.now)


def answer_call(crew: Crew, line: InboundLine, now: float) -> float:
    """Start an inbound call; return its handle time (exponential, shortened by training)."""
    duration = line.service() * line.aht_s * crew.factor
    crew.busy_s += line.window.overlap(now, now + duration)
    return duration


def dial_attempt(crew: Crew, now: float, window: Window) -> tuple[float, float, float]:
    """Start an outbound attempt: dial, then no answer, wrong party or a right-party talk.

    Returns
    -------
    tuple of float
        Dialling, talk (0 when nobody answers) and wrap-up durations.
    """
    dial = crew.dial()
    outcome = crew.outcome()
    if outcome < crew.rpc_rate:
        talk = crew.talk() * crew.factor
        wrap = crew.wrap() * crew.factor
    elif outcome < crew.answer_rate:
        talk, wrap = crew.wrong_talk(), crew.wrong_party_wrap_s
    else:
        talk, wrap = 0.0, crew.no_answer_wrap_s
    if window.start <= now < window.end:
        crew.attempts += 1
        if outcome < crew.rpc_rate:
            crew.rpc += 1
            crew.promises += crew.promise() < crew.call_promise
    crew.busy_s += window.overlap(now, now + dial + talk + wrap)
    return dial, talk, wrap


def field_visit(crew: Crew, now: float, window: Window) -> tuple[float, float]:
    """Start a field visit: travel, then meet the borrower or leave a notice.

    Returns
    -------
    tuple of float
        Travel and time at the address.
    """
    travel = crew.travel()
    met = crew.met() < crew.contact_rate
    stay = crew.meeting() * crew.factor if met else crew.notice_s
    if window.start <= now + travel < window.end:  # counted when the agent gets there
        crew.visits += 1
        if met:
            crew.meetings += 1
            crew.promises += crew.promise() < crew.visit_promise
    crew.busy_s += window.overlap(now, now + travel + stay)
    return travel, stay


def agent_shift(
    env: simpy.Environment,
    agent: Agent,
    blocks: list[FloorBlock],
    line: InboundLine | None,
    window: Window,
) -> Process:
    """Work every floor block: inbound first, else outbound or visits, else wait for a call.

    Work that has started is finished, even past the end of a block (no pre-emption); the
    break that follows is then taken in full and the overrun comes out of the next block, so
    floor time stays what the roster says. At the end of a shift, inbound agents answer the
    calls already on hold before leaving.
    """
    crew = agent.crew
    timeout = env.timeout
    takes_calls = crew.inbound and line is not None
    reserve = crew.team.inbound_reserve
    for i, (on, off, break_s) in enumerate(blocks):
        on = max(on, env.now + break_s) if break_s > 0 else on
        if on >= off:
            continue  # the overrun swallowed the whole block
        if on > env.now:
            yield timeout(on - env.now)
        agent.on_since = env.now
        while (now := env.now) < off:
            call = line.next_call(now) if takes_calls else None
            if call is None and takes_calls and (not crew.outbound or len(line.idle) < reserve):
                call = yield line.wait_for_call(agent, off)
                if call is None:
                    break
            if call is not None:
                yield timeout(answer_call(crew, line, env.now))
            elif crew.outbound:
                dial, talk, wrap = dial_attempt(crew, now, window)
                yield timeout(dial)
                if talk > 0:
                    yield timeout(talk)
                yield timeout(wrap)
            elif crew.visit:
                travel, stay = field_visit(crew, now, window)
                yield timeout(travel)
                yield timeout(stay)
            else:
                yield timeout(off - now)
        shift_ends = i + 1 == len(blocks) or blocks[i + 1].break_s == 0
        if takes_calls and shift_ends:
            while (call := line.next_call(env.now, arrived_before=off)) is not None:
                yield timeout(answer_call(crew, line, env.now))
        crew.floor_s += window.overlap(agent.on_since, env.now)
        agent.on_since = None


def run_replication(config: CentreConfig, seed: int, replication: int) -> dict[str, float]:
    """Simulate one replication and return its figures (see :data:`results.METRICS`)."""
    env = Centre()
    window = Window(config.warmup_s, config.warmup_s + config.measure_s)
    stop = config.stop_s
    line = None
    if config.inbound is not None and config.inbound.calls_per_hour > 0:
        line = InboundLine(env, config, seed, replication)
        env.process(inbound_arrivals(env, line, config))
    crews, agents = [], []
    for team in config.teams:
        crew = Crew(team, config, seed, replication)
        crews.append(crew)
        for index in range(team.agents):
            agent = Agent(crew, index)
            agents.append(agent)
            env.process(agent_shift(env, agent, floor_blocks(team, index, stop), line, window))
    started = time.perf_counter()
    env.run_until(stop)
    wall = time.perf_counter() - started
    for agent in agents:  # still on the floor at the end (round-the-clock teams)
        if agent.on_since is not None:
            agent.crew.floor_s += window.overlap(agent.on_since, stop)
    if line is not None:
        line.close(stop)
    return _figures(config, crews, line, env.processed, wall)


def _figures(
    config: CentreConfig,
    crews: list[Crew],
    line: InboundLine | None,
    events: int,
    wall: float,
) -> dict[str, float]:
    days = config.measured_days
    nan = math.nan
    busy = sum(c.busy_s for c in crews)
    floor = sum(c.floor_s for c in crews)
    paid = sum(c.team.agents * c.team.shift_hours * 3600.0 for c in crews) * days
    figures = {
        "offered_calls": float(line.offered) if line else 0.0,
        "p_wait": line.waited / line.offered if line and line.offered else nan,
        "mean_wait_s": line.wait_s / line.offered if line and line.offered else nan,
        "service_level": line.answered_in_time / line.offered if line and line.offered else nan,
        "abandon_rate": line.abandoned / line.offered if line and line.offered else nan,
        "occupancy": busy / floor if floor else nan,
        "utilisation": busy / paid if paid else nan,
        "inbound_calls_per_day": (line.offered if line else 0) / days,
        "call_attempts_per_day": sum(c.attempts for c in crews) / days,
        "right_party_contacts_per_day": sum(c.rpc for c in crews) / days,
        "visits_per_day": sum(c.visits for c in crews) / days,
        "meetings_per_day": sum(c.meetings for c in crews) / days,
        "promises_per_day": sum(c.promises for c in crews) / days,
        "staff_cost_per_day": sum(c.team.staff_cost_per_day for c in crews),
        "events": float(events),
        "wall_s": wall,
    }
    for crew in crews:
        name = crew.team.name
        figures[f"{name}.call_attempts_per_day"] = crew.attempts / days
        figures[f"{name}.right_party_contacts_per_day"] = crew.rpc / days
        figures[f"{name}.visits_per_day"] = crew.visits / days
        figures[f"{name}.occupancy"] = crew.busy_s / crew.floor_s if crew.floor_s else nan
    return figures


def simulate(config: CentreConfig, seed: int = 0, replications: int = 10) -> OperationsResult:
    """Run independent replications of a centre.

    Parameters
    ----------
    config : CentreConfig
        What to simulate (see :func:`~sim.operations.model.pure_inbound` and
        :func:`~sim.operations.model.collections_centre`).
    seed : int, default 0
        Root seed; replication ``r`` draws from its own spawned streams.
    replications : int, default 10
        Number of independent replications (>= 1; standard errors need >= 2).

    Returns
    -------
    OperationsResult
        Per-replication figures, their means and standard errors.
    """
    if replications < 1:
        raise ValueError("replications must be >= 1")
    runs = [run_replication(config, seed, r) for r in range(replications)]
    return OperationsResult.from_runs(runs)
