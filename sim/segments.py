"""KPIs by segment: the run's daily figures broken down by purpose, credit standing, capacity,
value tier and any banding the caller passes (a behaviour-score band, say).

A :class:`Segmentation` gives every account one segment of one *kind*; :func:`segmentations`
builds the book's own (purpose, credit standing, capacity from the scenario's codes; a value
tier from the lifetime value's terciles at the start) and :func:`bands` turns any per-account
score into bands (``sim`` does not import ``strategies``: the caller computes the score and
passes the bands in).

:class:`SegmentObserver` counts, at each day's end, the day's flows and the evening's stocks
per segment of every kind (one ``bincount`` per kind and figure: a cost per day, not per
account) and gives them as tidy tables (``segment_kind``, ``segment``, KPI columns): daily,
monthly and a run summary, ready for Parquet. Within each kind the segments add up to the book:
every count and amount is the book's daily column summed over segments, and every rate is the
segments' rates weighted by their denominators (``tests/test_segments.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from sim.channels import CHANNEL_NAMES
from sim.day_loop import DayEvents, Observer
from sim.portfolio import MONTH_DAYS, Bucket, Portfolio, Status
from sim.scenario import CAPACITIES, CREDIT_STANDINGS, PURPOSES, Scenario

#: Value tiers: terciles of the lifetime value at the start of the run.
VALUE_TIERS = ("low", "mid", "high")


@dataclass(frozen=True)
class Segmentation:
    """One way of cutting the book: every account's segment code and the segments' names."""

    kind: str
    codes: np.ndarray  # int64, one per account, 0 .. len(names) - 1
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes)
        if codes.size and (codes.min() < 0 or codes.max() >= len(self.names)):
            raise ValueError(f"segmentation {self.kind!r}: codes outside 0..{len(self.names) - 1}")


#: A segmentation, or a function of the book at the start that returns one.
SegmentationSource = Segmentation | Callable[[Portfolio], Segmentation]


def bands(
    kind: str, values: np.ndarray, edges: Sequence[float], names: Sequence[str]
) -> Segmentation:
    """Bands of a per-account score: band ``k`` holds ``edges[k-1] <= value < edges[k]``.

    Parameters
    ----------
    kind : str
        The segmentation's name (``"score_band"``).
    values : ndarray
        One score per account.
    edges : sequence of float
        Increasing inner edges (``len(names) - 1`` of them).
    names : sequence of str
        The bands' names, lowest first.
    """
    edges = np.asarray(edges, float)
    if edges.size != len(names) - 1 or np.any(np.diff(edges) <= 0):
        raise ValueError("bands need increasing edges, one fewer than the names")
    codes = np.searchsorted(edges, np.asarray(values, float), side="right").astype(np.int64)
    return Segmentation(kind, codes, tuple(names))


def segmentations(
    book: Portfolio, extra: Sequence[SegmentationSource] = (), value_tier: bool = True
) -> list[Segmentation]:
    """The book's segmentations: purpose, credit standing, capacity, value tier (terciles of
    the lifetime value, read now: call it on the book at the start), then ``extra``: each a
    :class:`Segmentation` or a function of the book returning one (called here, on the book
    at the start: how a caller bands a score it computes from the book, e.g. the behaviour
    score of ``strategies/score.py``, without ``sim`` importing it)."""
    out = [
        Segmentation("purpose", book.purpose.astype(np.int64), PURPOSES),
        Segmentation("credit", book.credit.astype(np.int64), CREDIT_STANDINGS),
        Segmentation("capacity", book.capacity.astype(np.int64), CAPACITIES),
    ]
    if value_tier and book.n:
        cuts = np.quantile(book.lifetime_value, [1 / 3, 2 / 3])
        if cuts[1] > cuts[0]:
            out.append(bands("value_tier", book.lifetime_value, cuts, VALUE_TIERS))
    for source in extra:
        s = source(book) if callable(source) else source
        if np.asarray(s.codes).size != book.n:
            raise ValueError(
                f"segmentation {s.kind!r} has {np.asarray(s.codes).size} codes "
                f"for {book.n} accounts"
            )
        out.append(s)
    return out


#: Flows per segment (summed over days in monthly and summary tables); each equals the daily
#: table's column of the same name summed over the segments of a kind.
SEGMENT_FLOWS: tuple[str, ...] = (
    "new_delinquent",
    "cures",
    "charge_offs",
    "charge_off_amount",
    "collected_delinquent",
    "complaints",
    "churned",
    "attempts",
    "rpc",
)
#: Stocks per segment at the day's end (the last day's in monthly and summary tables).
SEGMENT_STOCKS: tuple[str, ...] = (
    "accounts",  # all accounts of the segment (open or closed)
    "n_open",
    "n_delinquent",  # 1+ DPD
    "n_charged_off",
    "outstanding",
    "balance_30p",  # 31+ DPD principal
    "balance_90p",  # 91+ DPD principal
)
#: Rates, with the column each is a weighted mean over (the denominator): the book's rate is
#: the segments' rates weighted by that column.
SEGMENT_RATES: dict[str, tuple[str, str]] = {
    "delinquency_rate_30p": ("balance_30p", "outstanding"),
    "npl_ratio_90p": ("balance_90p", "outstanding"),
    "rpc_rate": ("rpc", "attempts"),
}
#: The book's daily-table columns that match each segment figure (``None``: no book column).
BOOK_COLUMNS: dict[str, str | tuple[str, ...] | None] = {
    "new_delinquent": "new_delinquent",
    "cures": "cures",
    "charge_offs": "charge_offs",
    "charge_off_amount": "charge_off_amount",
    "collected_delinquent": "collected_delinquent",
    "complaints": "complaints",
    "churned": "churned",
    "attempts": tuple(f"attempts_{c}" for c in CHANNEL_NAMES),
    "rpc": tuple(f"rpc_{c}" for c in CHANNEL_NAMES),
    "n_charged_off": "n_charged_off",
    "outstanding": "outstanding",
    "balance_30p": ("balance_31_60", "balance_61_90", "balance_91_120"),
    "balance_90p": "balance_91_120",
}


def book_column(daily: pd.DataFrame, figure: str) -> np.ndarray:
    """The book's daily values of a segment figure (:data:`BOOK_COLUMNS`)."""
    cols = BOOK_COLUMNS[figure]
    cols = (cols,) if isinstance(cols, str) else cols
    return daily[list(cols)].to_numpy(float).sum(axis=1)


def _rates(df: pd.DataFrame) -> pd.DataFrame:
    for rate, (num, den) in SEGMENT_RATES.items():
        d = df[den].to_numpy(float)
        df[rate] = np.where(d > 0, df[num].to_numpy(float) / np.where(d > 0, d, 1.0), 0.0)
    return df


class SegmentObserver(Observer):
    """KPIs per segment of every segmentation, day by day.

    Parameters
    ----------
    extra : sequence of Segmentation or callable
        Segmentations beyond the book's own (:func:`segmentations`), e.g. score bands, or
        functions of the book at the start returning one.
    value_tier : bool
        Include the value tier (lifetime-value terciles at the start).

    After the run, :meth:`daily`, :meth:`monthly` and :meth:`summary` give tidy tables:
    ``segment_kind``, ``segment``, then :data:`SEGMENT_FLOWS`, :data:`SEGMENT_STOCKS` and the
    rates of :data:`SEGMENT_RATES` (daily and monthly also ``day``/``month``).
    """

    events: ClassVar[frozenset[str]] = frozenset(
        {"new_delinquent", "cures", "charge_offs", "payments", "complaints", "churn", "contacts"}
    )

    def __init__(self, extra: Sequence[SegmentationSource] = (), value_tier: bool = True):
        self.extra = tuple(extra)
        self.value_tier = value_tier
        self._rows: list[np.ndarray] = []

    def on_start(self, book: Portfolio, scenario: Scenario) -> None:
        self.book = book
        self.segs = segmentations(book, self.extra, self.value_tier)
        self._labels = [(s.kind, name) for s in self.segs for name in s.names]
        self._sizes = [len(s.names) for s in self.segs]
        self._accounts = np.concatenate(
            [np.bincount(s.codes, minlength=len(s.names)) for s in self.segs]
        ).astype(float)
        self.days = int(scenario.days)
        self._start_delinquent = np.flatnonzero(book.missed > 0)

    def _count(self, accounts: np.ndarray | None, weights: np.ndarray | None = None) -> np.ndarray:
        """Per segment of every kind: the number (or the ``weights`` sum) of ``accounts``."""
        if accounts is None or accounts.size == 0:
            return np.zeros(sum(self._sizes))
        w = None if weights is None else np.asarray(weights, float)
        return np.concatenate(
            [
                np.bincount(s.codes[accounts], weights=w, minlength=n)
                for s, n in zip(self.segs, self._sizes, strict=True)
            ]
        )

    def _stock(self, values: np.ndarray) -> np.ndarray:
        """Per segment of every kind: the sum of a per-account array over all accounts."""
        return np.concatenate(
            [
                np.bincount(s.codes, weights=values, minlength=n)
                for s, n in zip(self.segs, self._sizes, strict=True)
            ]
        )

    def on_day_end(self, day: int, events: DayEvents) -> None:
        p = self.book
        b = p.bucket(day)
        open_ = p.status == Status.OPEN
        out = np.where(open_, p.sched_balance + p.arrears_principal, 0.0)
        charged = events.charge_offs
        flows = [
            self._count(events.new_delinquent),
            self._count(events.cures),
            self._count(charged),
            self._count(charged, None if charged is None else p.principal_charged_off[charged]),
            self._count(events.payments, events.payment_amounts),
            self._count(events.complaints),
            self._count(events.churn),
            self._count(events.contacts),
            self._count(events.contacts, events.contact_rpc),
        ]
        stocks = [
            self._accounts,
            self._stock(open_.astype(float)),
            self._stock(((b >= Bucket.DPD_1_30) & (b <= Bucket.DPD_91_120)).astype(float)),
            self._stock((b == Bucket.CHARGED_OFF).astype(float)),
            self._stock(out),
            self._stock(np.where((b >= Bucket.DPD_31_60) & (b <= Bucket.DPD_91_120), out, 0.0)),
            self._stock(np.where(b == Bucket.DPD_91_120, out, 0.0)),
        ]
        self._rows.append(np.column_stack(flows + stocks))

    # ------------------------------------------------------------------ tables
    def _frame(self, block: np.ndarray, index: Mapping[str, np.ndarray]) -> pd.DataFrame:
        kinds = [k for k, _ in self._labels]
        names = [n for _, n in self._labels]
        reps = block.shape[0] // len(self._labels)
        df = pd.DataFrame(block, columns=[*SEGMENT_FLOWS, *SEGMENT_STOCKS])
        df.insert(0, "segment", np.tile(names, reps))
        df.insert(0, "segment_kind", np.tile(kinds, reps))
        for i, (name, values) in enumerate(index.items()):
            df.insert(i, name, np.repeat(values, len(self._labels)))
        return _rates(df)

    def daily(self) -> pd.DataFrame:
        """One row per day and segment: the day's flows, the evening's stocks, the rates."""
        days = np.arange(len(self._rows))
        block = np.concatenate(self._rows) if self._rows else np.zeros((0, 16))
        return self._frame(block, {"day": days, "month": days // MONTH_DAYS})

    def monthly(self) -> pd.DataFrame:
        """One row per month and segment: flows summed, stocks at the month's last day."""
        cube = np.stack(self._rows)  # day, segment, figure
        nf = len(SEGMENT_FLOWS)
        month = np.arange(cube.shape[0]) // MONTH_DAYS
        starts = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
        ends = np.r_[starts[1:], cube.shape[0]] - 1
        flows = np.add.reduceat(cube[:, :, :nf], starts, axis=0)
        stocks = cube[ends, :, nf:]
        block = np.concatenate([flows, stocks], axis=2).reshape(-1, cube.shape[2])
        df = self._frame(block, {"month": month[starts]})
        df.insert(1, "days", np.repeat(ends - starts + 1, len(self._labels)))
        return df

    def summary(self) -> pd.DataFrame:
        """One row per segment for the whole run: flows summed, stocks at the end, rates, and
        ``episodes`` (delinquent at the start plus new delinquencies) with ``cure_rate``
        (cures per episode, the summary's definition)."""
        cube = np.stack(self._rows)
        nf = len(SEGMENT_FLOWS)
        block = np.concatenate([cube[:, :, :nf].sum(axis=0), cube[-1, :, nf:]], axis=1)
        df = self._frame(block, {})
        start = self._count(self._start_delinquent)
        df["episodes"] = start + df["new_delinquent"].to_numpy()
        e = df["episodes"].to_numpy()
        df["cure_rate"] = np.where(e > 0, df["cures"].to_numpy() / np.where(e > 0, e, 1), 0.0)
        return df
