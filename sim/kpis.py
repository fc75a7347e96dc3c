"""KPIs: the daily record of a run, monthly tables and roll-rate matrices, and the summary.

Names follow the design's KPI list and are used across the project:
``collected``, ``cost``, ``net_recovery``, ``cure_rate``, ``delinquency_rate_30p`` (31+ DPD share
of outstanding principal, 逾期率), ``npl_ratio_90p`` (91+ DPD share, 不良率), ``charge_off_amount``,
``churned``, ``lifetime_value_lost``, ``complaints``, ``compliance_breaches``, contacts and
right-party contacts per channel, and ``roll_rates`` between buckets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.channels import CHANNEL_NAMES
from sim.compliance import DROP_REASONS
from sim.portfolio import BUCKET_NAMES

_BUCKET_COLS = [b.replace("-", "_") for b in BUCKET_NAMES]

#: Flow columns of the daily table (summed over a month in the monthly table).
FLOW_COLUMNS: tuple[str, ...] = (
    "collected_delinquent",  # cash from accounts in arrears (fees, interest, principal)
    "collected_recovery",  # post-charge-off recoveries
    "scheduled_cash",  # on-time instalments of current accounts
    "cost_recovery",  # legal, agency commission, internal late stage
    "cost_staff",  # agents' paid time when a staffing plan is given (else in cost_call/visit)
    "new_delinquent",
    "cures",
    "self_cures",  # cures with no right-party contact during the episode
    "charge_offs",
    "charge_off_amount",
    "restructures",
    "concessions",
    "promises_made",
    "promises_kept",
    "promises_broken",
    "complaints",
    "churned",
    "lifetime_value_lost",
    "compliance_breaches",
    "hardship_onsets",
    *(f"dropped_{r}" for r in DROP_REASONS),
    *(f"attempts_{c}" for c in CHANNEL_NAMES),
    *(f"rpc_{c}" for c in CHANNEL_NAMES),
    *(f"cost_{c}" for c in CHANNEL_NAMES),
    *(f"unserved_{c}" for c in CHANNEL_NAMES),
)
#: Stock columns (end of day).
STOCK_COLUMNS: tuple[str, ...] = (
    *(f"n_{b}" for b in _BUCKET_COLS),
    *(f"balance_{b}" for b in _BUCKET_COLS[:5]),
    "outstanding",
    "unemployment",
)


def _consecutive(columns: list[int]) -> slice:
    """The slice of a run of consecutive column numbers."""
    if columns != list(range(columns[0], columns[0] + len(columns))):
        raise AssertionError("per-channel flow columns must be consecutive")
    return slice(columns[0], columns[0] + len(columns))


class DailyRecorder:
    """Preallocated daily KPI columns (one float per day and column)."""

    def __init__(self, days: int):
        self.days = days
        # flows are columns of one block, a row per day, so that the per-channel flows of a
        # day (consecutive columns) are one slice
        self._flow_block = np.zeros((days, len(FLOW_COLUMNS)))
        self.flows = dict(zip(FLOW_COLUMNS, self._flow_block.T, strict=True))
        self._stock_block = np.zeros((len(STOCK_COLUMNS), days))
        self.stocks = dict(zip(STOCK_COLUMNS, self._stock_block, strict=True))
        self._count_rows = np.array([STOCK_COLUMNS.index(f"n_{b}") for b in _BUCKET_COLS])
        self._balance_rows = np.array(
            [STOCK_COLUMNS.index(f"balance_{b}") for b in _BUCKET_COLS[:5]]
        )
        self._channel_columns = {
            prefix: _consecutive([FLOW_COLUMNS.index(f"{prefix}_{c}") for c in CHANNEL_NAMES])
            for prefix in ("attempts", "rpc", "cost", "unserved")
        }
        self._dropped_columns = _consecutive(
            [FLOW_COLUMNS.index(f"dropped_{r}") for r in DROP_REASONS]
        )

    def add(self, day: int, **values: float) -> None:
        for k, v in values.items():
            self.flows[k][day] += v

    def add_by_channel(self, day: int, prefix: str, values: np.ndarray) -> None:
        """Add one value per channel (in ``CHANNEL_NAMES`` order) to the ``prefix`` flows."""
        self._flow_block[day, self._channel_columns[prefix]] += values

    def add_dropped(self, day: int, counts: np.ndarray) -> None:
        """Add the attempts dropped by reason (``sim.compliance.DROP_REASONS`` order)."""
        self._flow_block[day, self._dropped_columns] += counts

    def set_stocks(self, day: int, counts: np.ndarray, balances: np.ndarray, **values) -> None:
        """End-of-day stocks: accounts per bucket (7), balances of the open buckets (5), and
        named values."""
        self._stock_block[self._count_rows, day] = counts
        self._stock_block[self._balance_rows, day] = balances
        for k, v in values.items():
            self.stocks[k][day] = v

    def frame(self) -> pd.DataFrame:
        days = np.arange(self.days)
        # one constructor call: inserting ~100 columns one by one costs more than a small run
        df = pd.DataFrame({"day": days, "month": days // 30, **self.stocks, **self.flows})
        df["cost_contact"] = df[[f"cost_{c}" for c in CHANNEL_NAMES]].sum(axis=1)
        df["cost"] = df["cost_contact"] + df["cost_recovery"] + df["cost_staff"]
        df["collected"] = df["collected_delinquent"] + df["collected_recovery"]
        df["net_recovery"] = df["collected"] - df["cost"]
        late = df[[f"balance_{b}" for b in _BUCKET_COLS[2:5]]].sum(axis=1)
        npl = df[[f"balance_{b}" for b in _BUCKET_COLS[4:5]]].sum(axis=1)
        denom = df["outstanding"].where(df["outstanding"] > 0)
        df["delinquency_rate_30p"] = (late / denom).fillna(0.0)
        df["npl_ratio_90p"] = (npl / denom).fillna(0.0)
        return df


def roll_matrix(counts: np.ndarray) -> np.ndarray:
    """Row-normalised transition matrix (NaN rows where nothing started in a bucket)."""
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)


def monthly_table(daily: pd.DataFrame, roll_counts: np.ndarray) -> pd.DataFrame:
    """Monthly KPIs: flows summed, stocks at month end, and that month's roll rates."""
    flows = [
        c
        for c in daily.columns
        if c in FLOW_COLUMNS or c in ("cost", "cost_contact", "collected", "net_recovery")
    ]
    stocks = [c for c in daily.columns if c in STOCK_COLUMNS or c.endswith(("_30p", "_90p"))]
    g = daily.groupby("month")
    out = g[flows].sum().join(g[stocks].last())
    out["days"] = g.size()
    months = min(len(out), roll_counts.shape[0])
    mats = [roll_matrix(roll_counts[m]) for m in range(months)]
    rolls = pd.DataFrame(
        {
            f"roll_{a}_to_{b}": [mat[i, j] for mat in mats]
            for i, a in enumerate(BUCKET_NAMES[:5])
            for j, b in enumerate(BUCKET_NAMES)
        },
        index=out.index[:months],
    )
    return pd.concat([out, rolls], axis=1).reset_index()


def roll_rates_dict(counts: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Bucket x bucket rates as nested dicts (JSON-friendly; None where undefined)."""
    mat = roll_matrix(counts)
    return {
        a: {
            b: (None if np.isnan(mat[i, j]) else float(mat[i, j]))
            for j, b in enumerate(BUCKET_NAMES)
        }
        for i, a in enumerate(BUCKET_NAMES)
    }


def bimodality(rates: np.ndarray) -> dict[str, float]:
    """Shape of the recovery-rate distribution: mass near 0 and near 1, and Sarle's bimodality
    coefficient (> 5/9 suggests two modes)."""
    if rates.size < 4:  # the bimodality coefficient needs n >= 4
        return {"n": int(rates.size)}
    from scipy.stats import kurtosis, skew

    g = float(skew(rates))
    k = float(kurtosis(rates))  # excess
    n = rates.size
    bc = (g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    hist, _ = np.histogram(rates, bins=10, range=(0, 1))
    return {
        "n": int(n),
        "mean": float(rates.mean()),
        "share_below_10pct": float((rates < 0.1).mean()),
        "share_above_50pct": float((rates > 0.5).mean()),
        "bimodality_coefficient": float(bc),
        "histogram_deciles": [int(h) for h in hist],
    }


def summarise(
    daily: pd.DataFrame,
    roll_counts: np.ndarray,
    *,
    accounts: int,
    days: int,
    seed: int,
    initial_delinquent: int,
    recovery_rates: np.ndarray,
    recovery_beyond_horizon: float,
    wall_seconds: float,
) -> dict:
    """The run's summary KPIs (the content of ``summary.json``)."""
    tot = daily[[*list(FLOW_COLUMNS), "cost", "collected", "net_recovery"]].sum()
    episodes = initial_delinquent + tot["new_delinquent"]
    last = daily.iloc[-1]
    month_ends = daily.groupby("month").last()
    n_open_start = accounts  # every account starts open
    new_delinquent_monthly = daily.groupby("month")["new_delinquent"].sum()
    current_start = month_ends["n_current"].shift(1).fillna(n_open_start - initial_delinquent)
    pooled = roll_counts.sum(axis=0) if roll_counts.size else np.zeros((7, 7))
    return {
        "accounts": int(accounts),
        "days": int(days),
        "seed": int(seed),
        "collected": float(tot["collected"]),
        "collected_delinquent": float(tot["collected_delinquent"]),
        "collected_recovery": float(tot["collected_recovery"]),
        "cost": float(tot["cost"]),
        "cost_by_channel": {c: float(tot[f"cost_{c}"]) for c in CHANNEL_NAMES}
        | {"recovery": float(tot["cost_recovery"]), "staff": float(tot["cost_staff"])},
        "net_recovery": float(tot["net_recovery"]),
        "cure_rate": float(tot["cures"] / episodes) if episodes else 0.0,
        "self_cure_share": float(tot["self_cures"] / tot["cures"]) if tot["cures"] else 0.0,
        "new_delinquent": int(tot["new_delinquent"]),
        "monthly_new_delinquency_rate": float(
            (new_delinquent_monthly / current_start.clip(lower=1)).mean()
        ),
        "delinquency_rate_30p": float(last["delinquency_rate_30p"]),
        "delinquency_rate_30p_mean": float(daily["delinquency_rate_30p"].mean()),
        "npl_ratio_90p": float(last["npl_ratio_90p"]),
        "npl_ratio_90p_mean": float(daily["npl_ratio_90p"].mean()),
        "charge_offs": int(tot["charge_offs"]),
        "charge_off_amount": float(tot["charge_off_amount"]),
        "net_credit_loss": float(tot["charge_off_amount"] - tot["collected_recovery"]),
        "recovery_beyond_horizon": float(recovery_beyond_horizon),
        "recovery_rates": bimodality(recovery_rates),
        "restructures": int(tot["restructures"]),
        "churned": int(tot["churned"]),
        "lifetime_value_lost": float(tot["lifetime_value_lost"]),
        "complaints": int(tot["complaints"]),
        "compliance_breaches": int(tot["compliance_breaches"]),
        "compliance": {f"dropped_{r}": int(tot[f"dropped_{r}"]) for r in DROP_REASONS},
        "contacts": {c: int(tot[f"attempts_{c}"]) for c in CHANNEL_NAMES},
        "right_party_contacts": {c: int(tot[f"rpc_{c}"]) for c in CHANNEL_NAMES},
        "unserved": {c: int(tot[f"unserved_{c}"]) for c in CHANNEL_NAMES},
        "promises_made": int(tot["promises_made"]),
        "promises_kept": int(tot["promises_kept"]),
        "promises_broken": int(tot["promises_broken"]),
        "roll_rates": roll_rates_dict(pooled),
        "wall_seconds": float(wall_seconds),
        "account_days_per_second": float(accounts * days / wall_seconds) if wall_seconds else 0.0,
    }


#: Summary fields that depend on the machine, not on the inputs.
TIMING_FIELDS = ("wall_seconds", "account_days_per_second")
