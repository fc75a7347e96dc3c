"""Executors: run an experiment's cells serially, in local processes, or on a Dask cluster.

One cell is one :func:`sim.engine.simulate` call (or, for a sharded book, one call per shard)
that comes back as a row of KPIs. Every input of a cell (scenario, strategy, seed) travels with
it and every random draw is a pure function of ``(seed, stream, day, account)``
(:mod:`sim.rng`), so a cell's result does not depend on which executor, worker or process ran
it, nor on the order cells finish in: serial, ``-j N`` and Dask give identical cells (only the
timing fields ``wall_seconds`` and ``account_days_per_second`` differ).

Sharding
--------
A book too large for one worker is split into ``shards`` sub-books by account ranges: shard
``i`` holds accounts ``[start_i, end_i)`` of sizes as equal as possible. Each shard is drawn
from the scenario's own segment mix with a seed derived from the cell seed and the shard index
(:func:`shard_seed`), so no worker ever holds the whole book, and the shard tasks run wherever
the executor puts them. The staff-limited capacity (``staff.call_attempts_per_day`` and
``staff.visits_per_day``) is divided between shards in proportion to shard size, as whole
attempts by largest remainder, so the shards together have exactly the whole team's daily
capacity. The shards' daily tables, month-end roll counts and recovery rates are then added up
and the summary is computed from the totals, as for one book.

What is and is not identical under sharding:

* identical: a sharded cell gives the same result on every executor and every run, and every
  strategy of a replication sees the same shards (common random numbers hold);
* not identical: a sharded book is a different draw of the same book distribution than the
  unsharded one (other borrowers, other luck), so its KPIs agree with the unsharded run only
  statistically; and capacity is rationed inside each shard, so when calls run short a
  high-priority account of one shard can go unserved while another shard still serves a
  lower-priority one (a global queue would not do that). With capacity to spare, sharding
  changes nothing but the draw.
"""

from __future__ import annotations

import copy
import itertools
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.scenario import Scenario
from strategies.base import Strategy

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class ShardTask:
    """One simulate() call: a whole cell, or one shard of it."""

    cell: int  # position of the cell in the list being run
    shard: int
    n_shards: int
    scenario: Scenario
    strategy: Strategy
    seed: int
    compliance: Any = None  # a ComplianceProfile; None: the engine's default
    segments: bool = False  # watch the run with the management views (cell_views)


@dataclass
class ShardOutput:
    cell: int
    shard: int
    summary: dict
    daily: pd.DataFrame
    monthly: pd.DataFrame
    roll_counts: np.ndarray
    recovery_rates: np.ndarray
    initial_delinquent: int
    recovery_beyond_horizon: float
    wall_seconds: float
    views: dict[str, pd.DataFrame] | None = None  # postloan.experiments.cell_views tables


def run_shard(task: ShardTask) -> ShardOutput:
    """Run one task (in whatever process or worker the executor chose)."""
    from sim.engine import simulate
    from sim.population import generate

    strategy = copy.deepcopy(task.strategy)  # a fresh strategy for every run
    book = generate(task.scenario, task.seed)
    initial_delinquent = int((book.missed > 0).sum())
    extra = {} if task.compliance is None else {"compliance": task.compliance}
    views = None
    if task.segments:
        from sim.management import ManagementViews

        views = ManagementViews()
        extra["observers"] = views.observers
    r = simulate(task.scenario, strategy, task.seed, portfolio=book, **extra)
    if views is not None:
        from postloan.experiments.cell_views import cell_views

        views = cell_views(views, r)
    return ShardOutput(
        cell=task.cell,
        shard=task.shard,
        summary=r.summary,
        daily=r.daily,
        monthly=r.monthly,
        roll_counts=r.roll_counts,
        recovery_rates=r.recovery_rates,
        initial_delinquent=initial_delinquent,
        recovery_beyond_horizon=float(r.summary["recovery_beyond_horizon"]),
        # timings: RunResult.timing where the engine has it, else the summary (older engines)
        wall_seconds=float((getattr(r, "timing", None) or r.summary).get("wall_seconds", 0.0)),
        views=views,
    )


# ---------------------------------------------------------------------------- sharding
def shard_sizes(accounts: int, shards: int) -> list[int]:
    """Account counts of the shards: as equal as possible, larger ones first."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    if shards > accounts:
        raise ValueError(f"cannot split {accounts} accounts into {shards} shards")
    q, r = divmod(accounts, shards)
    return [q + (1 if i < r else 0) for i in range(shards)]


def shard_ranges(accounts: int, shards: int) -> list[tuple[int, int]]:
    """``[start, end)`` account ranges of the shards."""
    bounds = np.concatenate([[0], np.cumsum(shard_sizes(accounts, shards))])
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def divide_capacity(total: float, sizes: Sequence[int]) -> list[int]:
    """Whole daily attempts per shard, in proportion to shard size, summing to ``floor(total)``
    (the engine serves ``floor(capacity)`` attempts a day; largest remainder, ties to the first
    shards)."""
    whole = int(np.floor(total))
    n = np.asarray(sizes, dtype=np.float64)
    raw = whole * n / n.sum()
    out = np.floor(raw).astype(np.int64)
    short = whole - int(out.sum())
    if short:
        order = np.argsort(-(raw - out), kind="stable")
        out[order[:short]] += 1
    return [int(x) for x in out]


def shard_seed(seed: int, shard: int, shards: int) -> int:
    """The seed of one shard; the cell seed itself when the book is not sharded."""
    if shards == 1:
        return int(seed)
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(0x5AD, shards, shard))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def shard_scenarios(scenario: Scenario, shards: int) -> list[Scenario]:
    """The scenario of every shard: its account count and its share of staff capacity."""
    if shards == 1:
        return [scenario]
    sizes = shard_sizes(scenario.accounts, shards)
    calls = divide_capacity(scenario.staff.call_attempts_per_day, sizes)
    visits = divide_capacity(scenario.staff.visits_per_day, sizes)
    out = []
    for i, n in enumerate(sizes):
        data = scenario.model_dump()
        data["accounts"] = n
        data["staff"]["call_attempts_per_day"] = float(calls[i])
        data["staff"]["visits_per_day"] = float(visits[i])
        out.append(Scenario.model_validate(data))
    return out


def combine_shards(scenario: Scenario, seed: int, outputs: list[ShardOutput]):
    """Add the shards of one cell up into one summary, daily and monthly table.

    Returns
    -------
    summary : dict
    daily, monthly : pandas.DataFrame
    """
    from sim.kpis import FLOW_COLUMNS, STOCK_COLUMNS, DailyRecorder, monthly_table, summarise

    outputs = sorted(outputs, key=lambda o: o.shard)
    if len(outputs) == 1:
        o = outputs[0]
        return o.summary, o.daily, o.monthly
    rec = DailyRecorder(scenario.days)
    for c in FLOW_COLUMNS:
        rec.flows[c][:] = np.sum([o.daily[c].to_numpy() for o in outputs], axis=0)
    for c in STOCK_COLUMNS:
        if c == "unemployment":  # the macro path is shared, not additive
            rec.stocks[c][:] = outputs[0].daily[c].to_numpy()
        else:
            rec.stocks[c][:] = np.sum([o.daily[c].to_numpy() for o in outputs], axis=0)
    daily = rec.frame()
    roll = np.sum([o.roll_counts for o in outputs], axis=0)
    rates = np.concatenate([o.recovery_rates for o in outputs])
    summary = summarise(
        daily,
        roll,
        accounts=scenario.accounts,
        days=scenario.days,
        seed=seed,
        initial_delinquent=sum(o.initial_delinquent for o in outputs),
        recovery_rates=rates,
        recovery_beyond_horizon=sum(o.recovery_beyond_horizon for o in outputs),
    )
    summary["shards"] = len(outputs)
    return summary, daily, monthly_table(daily, roll)


# ---------------------------------------------------------------------------- executors
class Executor:
    """Runs tasks and yields ``(index, result)`` as they finish (any order)."""

    name = "executor"
    workers = 1

    def imap_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers."""

    def abort(self) -> None:
        """Release workers at once, abandoning running tasks (on Ctrl-C or an error)."""
        self.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.abort()
        else:
            self.close()

    def describe(self) -> dict:
        return {"kind": self.name, "workers": self.workers}


class SerialExecutor(Executor):
    """Everything in this process, one task after another."""

    name = "serial"

    def imap_unordered(self, fn, items):
        for i, item in enumerate(items):
            yield i, fn(item)


def _process_context():
    """``fork`` on Linux: a worker starts as a copy of this process, with the engine already
    imported, and scripts and notebooks need no ``if __name__ == "__main__"`` guard. Elsewhere
    the platform's default (``spawn`` on macOS and Windows)."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class ProcessExecutor(Executor):
    """Local worker processes (``-j N``), via :class:`concurrent.futures.ProcessPoolExecutor`.

    On Linux workers are forked, so starting one costs a fork, not a fresh interpreter (and
    the engine's compiled kernels come along). At most ``2 * workers`` tasks are in flight, so
    a large experiment does not pickle every task up front.
    """

    name = "processes"

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError("-j must be at least 1")
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=_process_context(), initializer=_ignore_interrupts
        )

    def imap_unordered(self, fn, items):
        pending: dict[Future, int] = {}
        it = iter(enumerate(items))
        limit = 2 * self.workers
        try:
            while True:
                while len(pending) < limit:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    pending[self._pool.submit(fn, nxt[1])] = nxt[0]
                if not pending:
                    return
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: pending[f]):
                    i = pending.pop(fut)
                    yield i, fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop now (Ctrl-C): the workers ignore SIGINT, so they are terminated here rather
        than left to finish their cells or to print tracebacks of their own."""
        for proc in list(getattr(self._pool, "_processes", {}).values()):
            proc.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Worker initialiser: Ctrl-C reaches the whole process group, but only the parent acts
    on it (marks the manifest, prints one line, stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskExecutor(Executor):
    """Dask distributed: an existing scheduler (``tcp://host:8786``) or a local cluster.

    The workers must be able to import this project (same code, same versions); tasks carry
    their scenario and strategy with them, so no files need to be shared.
    """

    name = "dask"

    def __init__(self, address: str | None = None, workers: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise RuntimeError("Dask distributed is not installed") from exc
        self.address = address
        self._cluster = None
        if address in (None, "", "local"):
            self.workers = max(1, workers)
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster)
        else:
            self._client = Client(address, timeout="20s")
            info = self._client.scheduler_info()
            self.workers = max(1, len(info.get("workers", {})))

    def imap_unordered(self, fn, items):
        from distributed import as_completed

        futures = {}
        for i, item in enumerate(items):
            futures[self._client.submit(fn, item, pure=False)] = i
        try:
            for fut in as_completed(list(futures)):
                yield futures[fut], fut.result()
        finally:
            self._client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> dict:
        return {"kind": self.name, "workers": self.workers, "scheduler": self.address or "local"}


def make_executor(jobs: int = 1, scheduler: str | None = None) -> Executor:
    """Serial for ``jobs == 1``, local processes for ``jobs > 1``, Dask when ``scheduler`` is
    given (``"local"`` starts a local Dask cluster of ``jobs`` workers)."""
    if scheduler:
        return DaskExecutor(scheduler, workers=max(jobs, 1))
    if jobs <= 1:
        return SerialExecutor()
    return ProcessExecutor(min(jobs, os.cpu_count() or jobs))


# ---------------------------------------------------------------------------- cells
@dataclass
class CellJob:
    """What a cell needs: its scenario, strategy and seed, and how many shards."""

    scenario: Scenario
    strategy: Strategy
    seed: int
    shards: int = 1
    compliance: Any = None
    segments: bool = False  # keep the management views' tables (one shard only)


def run_cells(
    jobs: Sequence[CellJob],
    executor: Executor,
    on_cell: Callable[[int, dict, pd.DataFrame, pd.DataFrame], None],
    on_views: Callable[[int, dict[str, pd.DataFrame]], None] | None = None,
) -> int:
    """Run cells and call ``on_cell(index, summary, daily, monthly)`` as each one finishes.

    Shards of a cell are separate tasks (they may run on different workers); the cell is
    combined and reported when its last shard arrives. Returns the number of cells run.
    For a job with ``segments``, ``on_views(index, tables)`` is called just before
    ``on_cell`` with its :mod:`postloan.experiments.cell_views` tables; segment tables of
    shards are not combined, so such a job must have one shard (``ValueError`` otherwise).
    """
    for job in jobs:
        if job.segments and job.shards > 1:
            raise ValueError("segment views need an unsharded cell (shards: 1)")
    tasks: list[ShardTask] = []
    shard_cache: dict[tuple[str, int], list[Scenario]] = {}
    for ci, job in enumerate(jobs):
        key = (job.scenario.content_hash(), job.shards)
        if key not in shard_cache:
            shard_cache[key] = shard_scenarios(job.scenario, job.shards)
        for si, sc in enumerate(shard_cache[key]):
            seed = shard_seed(job.seed, si, job.shards)
            tasks.append(
                ShardTask(ci, si, job.shards, sc, job.strategy, seed, job.compliance, job.segments)
            )
    waiting: dict[int, list[ShardOutput]] = {}
    done = 0
    for _, out in executor.imap_unordered(run_shard, tasks):
        parts = waiting.setdefault(out.cell, [])
        parts.append(out)
        job = jobs[out.cell]
        if len(parts) == job.shards:
            del waiting[out.cell]
            summary, daily, monthly = combine_shards(job.scenario, job.seed, parts)
            if on_views is not None and parts[0].views is not None:
                on_views(out.cell, parts[0].views)
            on_cell(out.cell, summary, daily, monthly)
            done += 1
    return done


def simulate_sharded(
    scenario: Scenario,
    strategy: Strategy,
    seed: int,
    shards: int,
    executor: Executor | None = None,
    compliance: Any = None,
):
    """One book split into ``shards`` and run on ``executor`` (serial by default).

    Returns
    -------
    summary : dict
    daily, monthly : pandas.DataFrame
    """
    result: dict[str, Any] = {}

    def keep(_i, summary, daily, monthly):
        result.update(summary=summary, daily=daily, monthly=monthly)

    job = CellJob(scenario, strategy, seed, shards, compliance)
    run_cells([job], executor or SerialExecutor(), keep)
    return result["summary"], result["daily"], result["monthly"]
