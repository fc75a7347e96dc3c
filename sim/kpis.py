"""KPIs: the daily record of a run, monthly tables and roll-rate matrices, and the summary.

Names follow the design's KPI list and are used across the project:
``collected``, ``cost``, ``net_recovery``, ``net_value`` (the priced objective), ``cure_rate``,
``delinquency_rate_30p`` (31+ DPD share
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
    "interest_margin_lost",  # margin churned loans would have earned (sim.churn)
    "churn_departures",  # churned accounts that prepaid and closed
    "closures_after_cure",  # of which in arrears when they churned
    "prepaid_on_churn",  # principal prepaid by churned accounts (not income)
    "complaint_cost",  # complaints times their price (scenario.economics)
    "lever_cost",  # relationship levers (loyalty, counselling, follow-up): none yet, 0
    "compliance_breaches",
    "hardship_onsets",
    "outage_days",  # operational risk (sim/oprisk.py): contact systems down
    "wrong_number_contacts",
    "wrong_amount_contacts",
    *(f"dropped_{r}" for r in DROP_REASONS),
    *(f"attempts_{c}" for c in CHANNEL_NAMES),
    *(f"rpc_{c}" for c in CHANNEL_NAMES),
    *(f"cost_{c}" for c in CHANNEL_NAMES),
    *(f"unserved_{c}" for c in CHANNEL_NAMES),
)
#: Columns derived from the others in the daily table.
DERIVED_COLUMNS: tuple[str, ...] = (
    "cost_contact",
    "cost",
    "collected",
    "net_recovery",
    "net_value",
    "delinquency_rate_30p",
    "npl_ratio_90p",
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
        """The daily table: day and month, the stocks, the flows and the derived KPIs."""
        flows, stocks = self._flow_block, self._stock_block
        flow = dict(zip(FLOW_COLUMNS, flows.T, strict=True))
        stock = dict(zip(STOCK_COLUMNS, stocks, strict=True))
        cost_contact = _row_sum(flows[:, self._channel_columns["cost"]].T)
        cost = cost_contact + flow["cost_recovery"] + flow["cost_staff"]
        collected = flow["collected_delinquent"] + flow["collected_recovery"]
        late = _row_sum([stock[f"balance_{b}"] for b in _BUCKET_COLS[2:5]])
        npl = stock[f"balance_{_BUCKET_COLS[4]}"]
        outstanding = stock["outstanding"]
        positive = outstanding > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            rate_30p = np.where(positive, late / outstanding, 0.0)
            rate_90p = np.where(positive, npl / outstanding, 0.0)
        net = collected - cost
        value = net_value(net, flow)
        derived = (cost_contact, cost, collected, net, value, rate_30p, rate_90p)
        # one float block and one constructor call: a column at a time costs more than a
        # small run
        block = np.concatenate([stocks.T, flows, np.column_stack(derived)], axis=1)
        df = pd.DataFrame(block, columns=[*STOCK_COLUMNS, *FLOW_COLUMNS, *DERIVED_COLUMNS])
        days = np.arange(self.days)
        df.insert(0, "month", days // 30)
        df.insert(0, "day", days)
        return df


def net_value(net_recovery, flow):
    """The priced objective: ``net_recovery - lifetime_value_lost - interest_margin_lost -
    complaint_cost - lever_cost`` (cash collected less collection cost, less the value churn
    destroys, less what complaints and relationship levers cost). ``flow`` maps the flow
    columns to arrays (daily) or totals (summary); prepaid principal is in none of the terms."""
    return (
        net_recovery
        - flow["lifetime_value_lost"]
        - flow["interest_margin_lost"]
        - flow["complaint_cost"]
        - flow["lever_cost"]
    )


def _row_sum(columns) -> np.ndarray:
    """Sum of columns, added left to right (as pandas adds a row across columns)."""
    total = np.array(columns[0], dtype=float)
    for c in columns[1:]:
        total += c
    return total


def roll_matrix(counts: np.ndarray) -> np.ndarray:
    """Row-normalised transition matrix (NaN rows where nothing started in a bucket)."""
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)


def _months(daily: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The months of a daily table (in order) and the first row of each."""
    month = daily["month"].to_numpy()
    starts = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
    return month[starts], starts


def _month_sums(daily: pd.DataFrame, columns: list[str], starts: np.ndarray) -> np.ndarray:
    """Sums of ``columns`` per month (months start at rows ``starts``): what
    ``daily.groupby("month")[columns].sum()`` gives, to the last bit, without its overhead
    (pandas sums sorted groups with ``numpy.add.reduceat`` over each column)."""
    values = daily[columns].to_numpy(dtype=float)
    if np.isnan(values).any():  # pandas skips NaN there: its own path
        return daily.groupby("month")[columns].sum().to_numpy()
    return np.add.reduceat(np.ascontiguousarray(values.T), starts, axis=1).T


def monthly_table(daily: pd.DataFrame, roll_counts: np.ndarray) -> pd.DataFrame:
    """Monthly KPIs: flows summed, stocks at month end, and that month's roll rates."""
    flows = [
        c
        for c in daily.columns
        if c in FLOW_COLUMNS
        or c in ("cost", "cost_contact", "collected", "net_recovery", "net_value")
    ]
    stocks = [c for c in daily.columns if c in STOCK_COLUMNS or c.endswith(("_30p", "_90p"))]
    month, starts = _months(daily)
    ends = np.r_[starts[1:], len(daily)]
    sums = _month_sums(daily, flows, starts)
    last = daily[stocks].to_numpy(dtype=float)[ends - 1]
    out = pd.DataFrame(np.concatenate([sums, last], axis=1), columns=[*flows, *stocks])
    out.insert(0, "month", month)
    out["days"] = ends - starts
    months = min(len(out), roll_counts.shape[0])
    rolls = np.full((len(out), 5 * len(BUCKET_NAMES)), np.nan)
    for m in range(months):
        rolls[m] = roll_matrix(roll_counts[m])[:5].ravel()
    names = [f"roll_{a}_to_{b}" for a in BUCKET_NAMES[:5] for b in BUCKET_NAMES]
    return pd.concat([out, pd.DataFrame(rolls, columns=names)], axis=1)


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


def skew_and_excess_kurtosis(a: np.ndarray) -> tuple[float, float]:
    """Sample skewness and excess kurtosis (biased, Fisher), as ``scipy.stats.skew`` and
    ``scipy.stats.kurtosis`` compute them, operation for operation (tested to the last bit),
    so that a run does not import ``scipy.stats`` (about 0.4 s of start-up).

    Central moments ``m_k = mean((a - mean(a))**k)``; ``skew = m3 / m2**1.5`` and
    ``kurtosis = m4 / m2**2 - 3``, both NaN when ``m2`` is zero to rounding.
    """
    a = np.asarray(a, dtype=np.float64)
    mean = np.mean(a, keepdims=True)
    d = a - mean
    d2 = d**2
    m2 = np.mean(d2)
    m3 = np.mean(d2 * d)
    m4 = np.mean(d2**2)
    with np.errstate(all="ignore"):
        zero = m2 <= (np.finfo(np.float64).eps * mean[0]) ** 2
        g = np.nan if zero else m3 / m2**1.5
        k = np.nan if zero else m4 / m2**2.0
    return float(g), float(k - 3)


def bimodality(rates: np.ndarray) -> dict[str, float]:
    """Shape of the recovery-rate distribution: mass near 0 and near 1, and Sarle's bimodality
    coefficient (> 5/9 suggests two modes)."""
    if rates.size < 4:  # the bimodality coefficient needs n >= 4
        return {"n": int(rates.size)}
    g, k = skew_and_excess_kurtosis(rates)
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
) -> dict:
    """The run's summary KPIs (the content of ``summary.json``): a function of the inputs and
    the seed only (the machine's timing is apart, :func:`timing`)."""
    columns = [*FLOW_COLUMNS, "cost", "collected", "net_recovery", "net_value"]
    values = daily[columns].to_numpy(dtype=float)
    if np.isnan(values).any():  # pandas skips NaN: its own path
        tot = daily[columns].sum()
    else:  # the same sums (each column's, as pandas adds them) without pandas' overhead
        tot = dict(zip(columns, np.ascontiguousarray(values.T).sum(axis=1), strict=True))
    episodes = initial_delinquent + tot["new_delinquent"]
    last = {c: daily[c].iat[-1] for c in ("delinquency_rate_30p", "npl_ratio_90p")}
    _, starts = _months(daily)
    ends = np.r_[starts[1:], len(daily)]
    n_open_start = accounts  # every account starts open
    new_delinquent_monthly = _month_sums(daily, ["new_delinquent"], starts)[:, 0]
    # current accounts at the start of each month: the previous month's end
    current_start = np.r_[
        n_open_start - initial_delinquent, daily["n_current"].to_numpy()[ends[:-1] - 1]
    ]
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
        "net_value": float(tot["net_value"]),
        "cure_rate": float(tot["cures"] / episodes) if episodes else 0.0,
        "self_cure_share": float(tot["self_cures"] / tot["cures"]) if tot["cures"] else 0.0,
        "new_delinquent": int(tot["new_delinquent"]),
        "monthly_new_delinquency_rate": float(
            np.mean(new_delinquent_monthly / np.maximum(current_start, 1))
        ),
        "delinquency_rate_30p": float(last["delinquency_rate_30p"]),
        "delinquency_rate_30p_mean": float(np.mean(daily["delinquency_rate_30p"].to_numpy())),
        "npl_ratio_90p": float(last["npl_ratio_90p"]),
        "npl_ratio_90p_mean": float(np.mean(daily["npl_ratio_90p"].to_numpy())),
        "charge_offs": int(tot["charge_offs"]),
        "charge_off_amount": float(tot["charge_off_amount"]),
        "net_credit_loss": float(tot["charge_off_amount"] - tot["collected_recovery"]),
        "recovery_beyond_horizon": float(recovery_beyond_horizon),
        "recovery_rates": bimodality(recovery_rates),
        "restructures": int(tot["restructures"]),
        "churned": int(tot["churned"]),
        "lifetime_value_lost": float(tot["lifetime_value_lost"]),
        "interest_margin_lost": float(tot["interest_margin_lost"]),
        "churn_departures": int(tot["churn_departures"]),
        "closures_after_cure": int(tot["closures_after_cure"]),
        "prepaid_on_churn": float(tot["prepaid_on_churn"]),
        "complaints": int(tot["complaints"]),
        "complaint_cost": float(tot["complaint_cost"]),
        "lever_cost": float(tot["lever_cost"]),
        "compliance_breaches": int(tot["compliance_breaches"]),
        "compliance": {f"dropped_{r}": int(tot[f"dropped_{r}"]) for r in DROP_REASONS},
        "contacts": {c: int(tot[f"attempts_{c}"]) for c in CHANNEL_NAMES},
        "right_party_contacts": {c: int(tot[f"rpc_{c}"]) for c in CHANNEL_NAMES},
        "unserved": {c: int(tot[f"unserved_{c}"]) for c in CHANNEL_NAMES},
        "promises_made": int(tot["promises_made"]),
        "promises_kept": int(tot["promises_kept"]),
        "promises_broken": int(tot["promises_broken"]),
        "roll_rates": roll_rates_dict(pooled),
    }


#: The run's timing fields (``RunResult.timing``, the run manifest): they depend on the
#: machine, not on the inputs, so they are kept out of the summary.
TIMING_FIELDS = ("wall_seconds", "account_days_per_second")


def timing(accounts: int, days: int, wall_seconds: float) -> dict[str, float]:
    """The run's wall time and throughput (the keys of :data:`TIMING_FIELDS`)."""
    return {
        "wall_seconds": float(wall_seconds),
        "account_days_per_second": float(accounts * days / wall_seconds) if wall_seconds else 0.0,
    }
