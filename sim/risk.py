"""Credit risk by segment: PD, LGD, EAD and expected loss, the risk classification matrix, and
concentration of exposure with limits.

Definitions (stated once, used by every table here):

- **Default**: an account reaches 91+ DPD (the ``91-120`` bucket) or is charged off, whichever
  comes first (the usual 90-days-past-due definition, Basel II para. 452, with the engine's
  bucket edge at 91). The first day of default is kept per account.
- **PD over the horizon**: defaults among the accounts *performing at the start* (open, under
  91 DPD) divided by those accounts. **12-month PD**: the same with defaults in the first 360
  days (12 months of the engine's 30-day calendar); given only when the horizon has 360 days.
- **EAD**: per defaulted account, what it owed when it defaulted (principal, interest and fees
  in arrears: the claim it takes to recovery when charged off that day). For expected loss,
  the segment's exposure at the start (outstanding principal of its performing accounts).
- **LGD** (workout LGD): per charged-off account, ``1 - PV(recoveries net of costs) / claim``,
  the recoveries discounted from the day their cash arrives back to the charge-off day at
  ``discount_rate`` a year, *including cash due beyond the horizon* (the summary's
  ``recovery_beyond_horizon``, attributed account by account from
  :meth:`sim.recovery.RecoveryBook.ledger`); costs: the agency commission on the cash
  (discounted with it) and the path's fixed cost at placement. A segment's LGD is the
  claim-weighted mean over its charged-off accounts; a segment with none takes the book's.
- **Expected loss**: ``EL = PD x LGD x EAD`` per segment.

The default discount rate, 8 % a year, follows the European Banking Authority's guidelines on
PD and LGD estimation (EBA/GL/2017/16, para. 143: an interbank rate plus a 5-point add-on),
with an interbank rate of about 3 % assumed (recalled, not re-read: pass your own).

Risk grades (the classification matrix) follow the five-category loan classification by days
past due at the end of the run (as in the CBRC 2007 guidelines' practice: pass, special
mention, substandard, doubtful, loss), collapsed to what a book with charge-off at 120 DPD can
show: ``pass`` (current), ``special_mention`` (1-90 DPD), ``substandard`` (91+ DPD, open),
``loss`` (charged off), and ``closed`` (paid off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.day_loop import Observer
from sim.portfolio import Bucket, Portfolio, Status
from sim.scenario import Scenario
from sim.segments import Segmentation, SegmentationSource, segmentations

#: Annual discount rate for LGD (EBA/GL/2017/16 para. 143: interbank rate + 5 points; an
#: interbank rate of about 3 % assumed).
DEFAULT_DISCOUNT_RATE = 0.08
#: Days of the 12-month PD window in the engine's 30-day calendar.
PD_12M_DAYS = 360
#: Risk grades of the classification matrix, in order.
RISK_GRADES = ("pass", "special_mention", "substandard", "loss", "closed")


def risk_grade(book: Portfolio, day: int) -> np.ndarray:
    """Every account's risk grade code (index into :data:`RISK_GRADES`) on ``day``."""
    b = book.bucket(day)
    grade = np.full(b.size, 1, np.int64)  # 1-90 DPD: special mention
    grade[b == Bucket.CURRENT] = 0
    grade[b == Bucket.DPD_91_120] = 2
    grade[b == Bucket.CHARGED_OFF] = 3
    grade[b == Bucket.PAID_OFF] = 4
    return grade


class RiskObserver(Observer):
    """Watches a run for defaults (first day at 91+ DPD or charged off) and the exposure at
    default; after the run, :meth:`measures`, :meth:`matrix` and :meth:`concentration` give
    the tables. The book it watches is the run's own, so no ``keep_portfolio`` is needed.

    Parameters
    ----------
    extra : sequence of Segmentation or callable
        Segmentations beyond the book's own (:func:`sim.segments.segmentations`).
    value_tier : bool
        Include the value tier.
    """

    def __init__(self, extra: Sequence[SegmentationSource] = (), value_tier: bool = True):
        self.extra = tuple(extra)
        self.value_tier = value_tier

    def on_start(self, book: Portfolio, scenario: Scenario) -> None:
        self.book, self.scenario = book, scenario
        self.days = int(scenario.days)
        self.segs = segmentations(book, self.extra, self.value_tier)
        b = book.bucket(0)
        self.performing = (b < Bucket.DPD_91_120) & (book.status == Status.OPEN)
        self.exposure_start = np.where(
            book.status == Status.OPEN, book.sched_balance + book.arrears_principal, 0.0
        )
        self.default_day = np.full(book.n, -1, np.int64)
        self.default_day[~self.performing & (b != Bucket.PAID_OFF)] = -2  # in default at start
        self.ead = np.zeros(book.n)

    def on_charge_off(self, day: int, accounts: np.ndarray, claims: np.ndarray) -> None:
        new = self.default_day[accounts] == -1
        self.default_day[accounts[new]] = day
        self.ead[accounts[new]] = claims[new]

    def on_bucket_change(
        self, day: int, accounts: np.ndarray, before: np.ndarray, after: np.ndarray
    ) -> None:
        hit = accounts[(after == Bucket.DPD_91_120) & (self.default_day[accounts] == -1)]
        if hit.size:
            p = self.book
            self.default_day[hit] = day
            self.ead[hit] = (
                p.sched_balance[hit] + p.arrears_principal[hit] + p.arrears_interest[hit]
            ) + p.fees_due[hit]

    # ------------------------------------------------------------------ tables
    def account_losses(
        self, recoveries: pd.DataFrame, discount_rate: float = DEFAULT_DISCOUNT_RATE
    ) -> pd.DataFrame:
        """Per charged-off account: ``claim``, recovery cash in and beyond the horizon, the
        present value of the net recoveries at the charge-off day, and ``lgd``.

        ``recoveries`` is the run's recovery ledger (``RunResult.recoveries``).
        """
        return account_losses(recoveries, self.days, discount_rate)

    def measures(
        self,
        recoveries: pd.DataFrame,
        discount_rate: float = DEFAULT_DISCOUNT_RATE,
    ) -> pd.DataFrame:
        """PD, LGD, EAD and EL per segment of every segmentation, and the book (kind
        ``"book"``, segment ``"all"``).

        Columns: ``segment_kind``, ``segment``, ``accounts``, ``performing`` (at the start),
        ``defaults``, ``pd_horizon``, ``defaults_12m``, ``pd_12m`` (NaN under 360 days),
        ``exposure_start``, ``ead_defaulted`` (sum of EAD of the defaults), ``charged_off``,
        ``claim``, ``recovered`` (cash in the horizon), ``recovered_beyond_horizon``,
        ``recovered_pv`` (net, discounted), ``lgd``, ``lgd_from`` (``"segment"`` or
        ``"book"``), ``expected_loss`` (``pd_horizon x lgd x exposure_start``), ``el_rate``.
        """
        loss = self.account_losses(recoveries, discount_rate)
        n = self.book.n
        per_acc = {
            "claim": np.zeros(n),
            "recovered": np.zeros(n),
            "recovered_beyond_horizon": np.zeros(n),
            "recovered_pv": np.zeros(n),
            "charged_off": np.zeros(n),
        }
        acc = loss["account"].to_numpy()
        for col in ("claim", "recovered", "recovered_beyond_horizon", "recovered_pv"):
            per_acc[col][acc] = loss[col].to_numpy()
        per_acc["charged_off"][acc] = 1.0
        d = self.default_day
        base = {
            "accounts": np.ones(n),
            "performing": self.performing.astype(float),
            "defaults": (self.performing & (d >= 0)).astype(float),
            "defaults_12m": (self.performing & (d >= 0) & (d < PD_12M_DAYS)).astype(float),
            "exposure_start": np.where(self.performing, self.exposure_start, 0.0),
            "ead_defaulted": np.where(self.performing & (d >= 0), self.ead, 0.0),
            **per_acc,
        }
        book_row = {k: float(v.sum()) for k, v in base.items()}
        rows = [{"segment_kind": "book", "segment": "all", **book_row}]
        for s in self.segs:
            sums = {
                k: np.bincount(s.codes, weights=v, minlength=len(s.names)) for k, v in base.items()
            }
            for j, name in enumerate(s.names):
                rows.append(
                    {"segment_kind": s.kind, "segment": name}
                    | {k: float(v[j]) for k, v in sums.items()}
                )
        df = pd.DataFrame(rows)
        return _risk_rates(df, self.days)

    def matrix(
        self, recoveries: pd.DataFrame, discount_rate: float = DEFAULT_DISCOUNT_RATE
    ) -> pd.DataFrame:
        """The risk classification matrix: segments x risk grades (:data:`RISK_GRADES`, the
        grade at the end of the run), with ``accounts``, ``exposure`` (outstanding at the end;
        the claim for charged-off accounts), ``performing``, ``defaults``, ``pd_horizon`` and
        ``expected_loss`` (the cell's PD x the segment's LGD x the cell's exposure at the
        start). Tidy: ``segment_kind``, ``segment``, ``grade``, then the figures."""
        grade = risk_grade(self.book, self.days - 1)
        seg_lgd = self.measures(recoveries, discount_rate).set_index(["segment_kind", "segment"])[
            "lgd"
        ]
        loss = self.account_losses(recoveries, discount_rate)
        claim = np.zeros(self.book.n)
        claim[loss["account"].to_numpy()] = loss["claim"].to_numpy()
        p = self.book
        exposure = np.where(p.status == Status.OPEN, p.sched_balance + p.arrears_principal, claim)
        d = self.default_day
        g = len(RISK_GRADES)
        rows = []
        for s in self.segs:
            k = len(s.names)
            cell = s.codes * g + grade

            def count(w, cell=cell, k=k):
                return np.bincount(cell, weights=w, minlength=k * g)

            accounts = count(None)
            expo = count(exposure)
            perf = count(self.performing.astype(float))
            dflt = count((self.performing & (d >= 0)).astype(float))
            start = count(np.where(self.performing, self.exposure_start, 0.0))
            for j, name in enumerate(s.names):
                lgd = float(seg_lgd[(s.kind, name)])
                for gi, gname in enumerate(RISK_GRADES):
                    c = j * g + gi
                    pd_cell = dflt[c] / perf[c] if perf[c] > 0 else 0.0
                    rows.append(
                        {
                            "segment_kind": s.kind,
                            "segment": name,
                            "grade": gname,
                            "accounts": int(accounts[c]),
                            "exposure": float(expo[c]),
                            "performing": int(perf[c]),
                            "defaults": int(dflt[c]),
                            "pd_horizon": float(pd_cell),
                            "expected_loss": float(pd_cell * lgd * start[c]),
                        }
                    )
        return pd.DataFrame(rows)

    def concentration(self, limits: ConcentrationLimits | None = None) -> Concentration:
        """Exposure shares and Herfindahl-Hirschman indices of the open book at the end, by
        every segmentation and by single account, checked against ``limits``."""
        p = self.book
        exposure = np.where(p.status == Status.OPEN, p.sched_balance + p.arrears_principal, 0.0)
        return concentration(exposure, self.segs, limits or ConcentrationLimits())


def account_losses(
    recoveries: pd.DataFrame, horizon: int, discount_rate: float = DEFAULT_DISCOUNT_RATE
) -> pd.DataFrame:
    """Per charged-off account of a recovery ledger (:meth:`sim.recovery.RecoveryBook.ledger`):
    ``account``, ``claim``, ``recovered`` (cash arriving within the horizon),
    ``recovered_beyond_horizon``, ``recovered_pv`` (cash less agency commission discounted
    over its lag at ``discount_rate`` a year, less the fixed cost) and ``lgd``
    (``1 - recovered_pv / claim``)."""
    if discount_rate <= -1:
        raise ValueError("discount_rate must be above -1")
    r = recoveries
    cash = r["cash"].to_numpy(float)
    beyond = r["arrives"].to_numpy() >= horizon
    factor = (1.0 + discount_rate) ** (-r["lag"].to_numpy(float) / 365.0)
    pv = cash * (1.0 - r["commission"].to_numpy(float)) * factor - r["fixed_cost"].to_numpy(float)
    claim = r["claim"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lgd = np.where(claim > 0, 1.0 - pv / np.where(claim > 0, claim, 1.0), np.nan)
    return pd.DataFrame(
        {
            "account": r["account"].to_numpy(np.int64),
            "claim": claim,
            "recovered": np.where(beyond, 0.0, cash),
            "recovered_beyond_horizon": np.where(beyond, cash, 0.0),
            "recovered_pv": pv,
            "lgd": lgd,
        }
    )


def _risk_rates(df: pd.DataFrame, days: int) -> pd.DataFrame:
    def ratio(num: str, den: str) -> np.ndarray:
        a, b = df[num].to_numpy(float), df[den].to_numpy(float)
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)

    df["pd_horizon"] = np.nan_to_num(ratio("defaults", "performing"))
    df["pd_12m"] = (
        np.nan_to_num(ratio("defaults_12m", "performing")) if days >= PD_12M_DAYS else np.nan
    )
    lgd = 1.0 - ratio("recovered_pv", "claim")
    book_lgd = lgd[0]
    df["lgd_from"] = np.where(np.isnan(lgd), "book", "segment")
    df["lgd"] = np.where(np.isnan(lgd), book_lgd, lgd)
    df["expected_loss"] = df["pd_horizon"] * df["lgd"] * df["exposure_start"]
    df["el_rate"] = df["pd_horizon"] * df["lgd"]
    for col in ("accounts", "performing", "defaults", "defaults_12m", "charged_off"):
        df[col] = df[col].round().astype(np.int64)
    return df


# ---------------------------------------------------------------------- concentration
@dataclass(frozen=True)
class ConcentrationLimits:
    """Limits on exposure concentration.

    Attributes
    ----------
    share : mapping
        Largest share of exposure allowed: ``{"purpose": 0.7}`` for every segment of a kind,
        ``{"purpose:business": 0.2}`` for one segment (the more specific wins).
    hhi : mapping
        Largest Herfindahl-Hirschman index (0-1, sum of squared shares) per kind; the kind
        ``"account"`` is single-name concentration.
    """

    share: Mapping[str, float] = field(default_factory=dict)
    hhi: Mapping[str, float] = field(default_factory=dict)


@dataclass
class Concentration:
    """Exposure shares (``segment_kind``, ``segment``, ``exposure``, ``share``, ``limit``,
    ``breach``), the indices (``segment_kind``, ``hhi``, ``segments``,
    ``equivalent_segments`` = 1/HHI, ``limit``, ``breach``) and the breaches as a list of
    dicts (for ``summary.json``)."""

    shares: pd.DataFrame
    indices: pd.DataFrame
    breaches: list[dict]


def hhi(exposure: np.ndarray) -> float:
    """Herfindahl-Hirschman index of exposures: the sum of squared shares (0-1; 1/n for n
    equal parts, 1 for one). Zero exposure gives 0."""
    e = np.asarray(exposure, float)
    total = e.sum()
    if total <= 0:
        return 0.0
    s = e / total
    return float(np.sum(s * s))


def concentration(
    exposure: np.ndarray, segs: Sequence[Segmentation], limits: ConcentrationLimits
) -> Concentration:
    """Shares and HHI of ``exposure`` (one value per account) by each segmentation and by
    single account, with ``limits`` checked (a breach: share or HHI above its limit)."""
    total = float(np.sum(exposure))
    share_rows, index_rows, breaches = [], [], []
    for s in segs:
        e = np.bincount(s.codes, weights=exposure, minlength=len(s.names))
        shares = e / total if total > 0 else np.zeros_like(e)
        for j, name in enumerate(s.names):
            limit = limits.share.get(f"{s.kind}:{name}", limits.share.get(s.kind))
            breach = limit is not None and shares[j] > limit
            share_rows.append(
                {
                    "segment_kind": s.kind,
                    "segment": name,
                    "exposure": float(e[j]),
                    "share": float(shares[j]),
                    "limit": np.nan if limit is None else float(limit),
                    "breach": bool(breach),
                }
            )
            if breach:
                breaches.append(
                    {
                        "measure": "share",
                        "segment_kind": s.kind,
                        "segment": name,
                        "value": float(shares[j]),
                        "limit": float(limit),
                    }
                )
        index_rows.append((s.kind, hhi(e), len(s.names)))
    index_rows.append(("account", hhi(exposure), int(np.sum(np.asarray(exposure) > 0))))
    rows = []
    for kind, h, n in index_rows:
        limit = limits.hhi.get(kind)
        breach = limit is not None and h > limit
        rows.append(
            {
                "segment_kind": kind,
                "hhi": h,
                "segments": n,
                "equivalent_segments": 1.0 / h if h > 0 else np.nan,
                "limit": np.nan if limit is None else float(limit),
                "breach": bool(breach),
            }
        )
        if breach:
            breaches.append(
                {
                    "measure": "hhi",
                    "segment_kind": kind,
                    "segment": None,
                    "value": h,
                    "limit": float(limit),
                }
            )
    return Concentration(pd.DataFrame(share_rows), pd.DataFrame(rows), breaches)
