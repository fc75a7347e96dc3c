"""Run an experiment into its folder: resume, execute the missing cells, compare, finish.

Used by ``postloan experiment``, ``postloan compare`` and :mod:`postloan.api`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from postloan.experiments.cell_views import (
    alert_counts,
    consolidate_views,
    has_cell_views,
    save_cell_views,
)
from postloan.experiments.comparison import compare_cells
from postloan.experiments.decision import decision_records
from postloan.experiments.executors import CellJob, Executor, make_executor, run_cells
from postloan.experiments.spec import Cell, Experiment, ExperimentError
from postloan.storage.experiments import ExperimentStore, cell_row
from postloan.storage.provenance import MixedVersionsError, model_version


class NothingToResume(ExperimentError):
    """``--resume`` without an earlier folder of the same experiment."""


#: ``progress(done, total)``: called once at the start and after every finished cell.
Progress = Callable[[int, int], None]


@dataclass
class Outcome:
    """What an experiment run did."""

    store: ExperimentStore
    cells: pd.DataFrame
    comparison: pd.DataFrame
    computed: int  # cells computed by this call
    reused: int  # cells found finished (``--resume``)
    resumed: bool

    @property
    def folder(self) -> Path:
        return self.store.folder


def keeps_tables(cell: Cell) -> bool:
    """Whether a cell's daily and monthly tables are saved: replication 0 of uncertainty
    sample 0, one representative path per variant and strategy."""
    return cell.replication == 0 and cell.sample == 0


def execute_experiment(
    exp: Experiment,
    out_dir: str | Path = "results",
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    executor: Executor | None = None,
    progress: Progress | None = None,
    on_cell: Callable[[Cell], None] | None = None,
    allow_mixed_versions: bool = False,
    segments: bool = False,
) -> Outcome:
    """Run every cell not already saved, then write ``cells.parquet`` and the comparison.

    Parameters
    ----------
    exp : Experiment
    out_dir : path
        The folder that holds experiment folders (``results``).
    jobs, scheduler
        Executor choice (see :func:`postloan.experiments.executors.make_executor`), unless
        ``executor``.
    resume : bool
        Continue the newest folder made from the same spec (same hash), recomputing only the
        cells whose files are missing. Without a matching folder: :class:`NothingToResume`.
    allow_mixed_versions : bool
        Resume a folder whose cells a different model version computed (refused otherwise:
        :class:`MixedVersionsError`), pooling old and new cells.
    progress : callable, optional
    on_cell : callable, optional
        Called with every cell after it is saved (a hook for tests and notebooks).
    segments : bool
        Watch every cell with the management views and write ``segments.parquet``,
        ``risk.parquet``, ``risk_matrix.parquet`` and ``alerts.parquet`` into the folder, with
        the alerts counted per strategy in ``comparison.json``
        (:mod:`postloan.experiments.cell_views`). Needs ``shards: 1``.

    Raises
    ------
    NothingToResume, MixedVersionsError
        Before anything runs.
    KeyboardInterrupt and anything the cells raise, after marking the manifest
    ``interrupted``: the finished cells stay, and ``resume=True`` picks up from there.
    """
    t0 = time.perf_counter()
    if segments and exp.spec.shards > 1:
        raise ExperimentError(
            f"--segments: experiment {exp.name!r} splits its book into {exp.spec.shards} shards; "
            "segment views are kept for unsharded books only (shards: 1)"
        )
    store = ExperimentStore.find(Path(out_dir), exp.spec_hash) if resume else None
    if resume and store is None:
        raise NothingToResume(
            f"--resume: nothing to resume: no folder of experiment {exp.name!r} made from this "
            f"spec (hash {exp.spec_hash[:12]}) under {out_dir}; run without --resume to start one"
        )
    if store is not None and not allow_mixed_versions:
        theirs = store.manifest.get("model_version") or "unknown"
        if theirs != model_version():
            raise MixedVersionsError(
                f"--resume: {store.folder} was computed by model version {theirs}, this is "
                f"{model_version()}; pass --allow-mixed-versions to pool its cells with new ones"
            )
    resumed = store is not None
    own_executor = executor is None
    cells = exp.cells()
    hashes: dict[tuple[int, int], None] = {}
    for c in cells:  # warm the per-(variant, sample) scenario cache once
        if (c.variant, c.sample) not in hashes:
            exp.scenario_for(c.variant, c.sample)
            hashes[(c.variant, c.sample)] = None
    fingerprints = {c.key: exp.cell_fingerprint(c) for c in cells}
    if store is not None:
        store.clean_temporaries()
        done_keys = store.finished(fingerprints)
        if segments:  # cells finished without their views are run again
            done_keys = {k for k in done_keys if has_cell_views(store, k)}
    else:
        done_keys = set()
    todo = [c for c in cells if c.key not in done_keys]
    if executor is None and todo:
        executor = make_executor(jobs, scheduler)
    if store is None:
        store = ExperimentStore.create(
            Path(out_dir), exp, executor.describe() if executor else {"kind": "none"}
        )
    elif executor is not None:
        store.update_manifest(
            status="running",
            executor=executor.describe(),
            pid=os.getpid(),
            host=socket.gethostname(),
        )
    eid = store.experiment_id
    total = len(cells)
    count = len(done_keys)
    if progress:
        progress(count, total)

    def save(i: int, summary: dict, daily: pd.DataFrame, monthly: pd.DataFrame) -> None:
        nonlocal count
        cell = todo[i]
        row = cell_row(eid, cell, fingerprints[cell.key], summary)
        keep = keeps_tables(cell)
        store.save_cell(row, daily if keep else None, monthly if keep else None)
        count += 1
        store.update_manifest(cells_done=count)  # readers see the progress on disk
        if progress:
            progress(count, total)
        if on_cell:
            on_cell(cell)

    computed = 0
    failed = False
    try:
        if todo:
            jobs_ = [
                CellJob(
                    exp.scenario_for(c.variant, c.sample),
                    exp.strategies[c.strategy],
                    c.seed,
                    exp.spec.shards,
                    exp.compliance,
                    segments,
                )
                for c in todo
            ]

            def save_views(i: int, tables: dict[str, pd.DataFrame]) -> None:
                save_cell_views(store, todo[i].key, tables)

            computed = run_cells(jobs_, executor, save, save_views)
    except BaseException:
        failed = True
        # the manifest tells what is on disk, whatever the callbacks managed to count
        store.update_manifest(
            status="interrupted",
            cells_done=len(store.finished(fingerprints)),
            wall_seconds=float(store.manifest.get("wall_seconds") or 0.0)
            + time.perf_counter()
            - t0,
        )
        raise
    finally:
        if own_executor and executor is not None:
            executor.abort() if failed else executor.close()
    table = store.consolidate()
    meta_views: dict = {}
    compared = table
    if exp.response is not None and not table.empty:
        # the trial check of every draw (saved draw by draw); the comparison table is then the
        # scenario's own response (sample 0), noise only, and the draws are summarised apart
        from postloan.experiments.response_draws import response_block

        try:
            meta_views["response_draws"] = response_block(exp, store.folder, table, progress)
        except BaseException:  # the checks done so far are saved; --resume continues them
            store.update_manifest(status="interrupted")
            raise
        compared = table[table["sample"] == 0]
    comparison = (
        compare_cells(compared, exp.champion, None) if not compared.empty else pd.DataFrame()
    )
    if segments and not table.empty:
        views = consolidate_views(store, table)
        if "alerts" in views:
            meta_views["monitoring"] = {
                "monitoring": "default",
                "per_strategy": alert_counts(views["alerts"], table),
            }
    store.write_comparison(
        comparison,
        {
            "experiment_id": eid,
            "champion": exp.champion,
            "confidence": 0.95,
            "strategies": exp.strategy_names,
            "variants": [v.label for v in exp.variants],
            "units": (1 if exp.response is not None else len(exp.samples)) * exp.spec.replications,
            "headline_kpis": exp.spec.kpis,
            "decision": decision_records(comparison, table, exp.base.currency),
            **meta_views,
        },
    )
    store.finish(time.perf_counter() - t0, len(table))
    return Outcome(store, table, comparison, computed, len(done_keys), resumed)
