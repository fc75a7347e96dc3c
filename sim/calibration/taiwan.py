"""Adapter for the Taiwan credit-card file (Yeh & Lien 2009, UCI "default of credit card clients").

The file is wide: one row per client, the repayment status of six months in ``PAY_0`` (Sep 2005)
and ``PAY_2`` .. ``PAY_6`` (Aug .. Apr; there is no ``PAY_1``; some copies rename ``PAY_0`` to
``PAY_1`` and both spellings are accepted). :func:`wide_to_long` turns it into the long form
``account_id, period, status`` with periods 1..6 = Apr..Sep 2005, so that a transition from
period t to t+1 is one calendar month.

Status codes (UCI): -2 no balance, -1 paid duly, 0 revolving with the minimum paid, 1..8 payment
delayed 1..8 months, 9 delayed 9 months or more.

The default mapping, and why
----------------------------
Known artefact: status 1 almost never appears in ``PAY_2..PAY_6`` (28, 4, 2, 0, 0 cases against
3,688 in ``PAY_0``): a first missed payment is coded 2 directly. The file itself shows how the
codes behave from month to month (measured on the 30,000 clients, pairs Apr->Aug):

* an account in -2, -1 or 0 moves to 2 (never to 1 or 3): 2 is the first delinquent code;
* from k >= 2 the status rises by exactly one code a month (2 -> 3 -> 4 -> ...), never more;
* even in Sep, 0 -> 2 (865 cases) not 0 -> 1 (3 cases): the Sep code 1 comes mostly from -2
  (1,221), -1 (612) and 2 (1,672), so it is not a clean "first month late" either.

Read literally ("2 = delayed 2 months = 31-60 DPD"), a current account would be two months late
one month later, which a monthly status cannot do. We therefore read the codes as a delinquency
*step counter* that starts at 2, and merge 1 and 2 into the one early-delinquency state (the
merge the data's documentation recommends for month-to-month transitions):

=========== ===============  ==================================================
code        lab state        note
=========== ===============  ==================================================
-2, -1, 0   ``current``      no balance, paid in full, or minimum paid
1, 2        ``1-30``         first missed payment (1 and 2 merged)
3           ``31-60``        second consecutive month late
4           ``61-90``
5           ``91-120``
6, 7, 8, 9  ``charged_off``  beyond the lab's 120-DPD charge-off (cards are
                             charged off at 180 DPD: codes 6-7 still move, so
                             this row is not absorbing in the data)
=========== ===============  ==================================================

With this reading each roll in the file is one bucket a month, as in the lab's chain, so the
empirical roll rates are comparable bucket by bucket with simulated ones. The literal reading is
available as :data:`TAIWAN_NOMINAL_MAPPING` (1, 2 -> ``1-30``, 3 -> ``61-90``, 4 -> ``91-120``,
5+ -> ``charged_off``; ``31-60`` then stays empty). The rejected alternative, "use only the
Aug->Sep pair for the 1-month state", gives a single month of data and the Sep code 1 above is
dominated by moves from -2 and 2, so it is not a cleaner estimate.

For calibration the lab uses :data:`TAIWAN_91PLUS_MAPPING` (preset ``taiwan_91plus``): the
same, except that codes 5-9 all map to ``91-120`` read as "91+ days" (see its comment), with a
charge-off DPD of 360 so that the simulated book, like the bank, writes nothing off within the
observed months.

Users can override any code: user entries are applied on top of :data:`TAIWAN_MAPPING`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Status columns from the oldest (period 1 = Apr 2005) to the newest (period 6 = Sep 2005).
TAIWAN_STATUS_COLUMNS: tuple[str, ...] = ("PAY_6", "PAY_5", "PAY_4", "PAY_3", "PAY_2", "PAY_0")
#: Accepted alternative spelling of the September column in some redistributions.
TAIWAN_SEP_ALIAS = "PAY_1"
TAIWAN_ID_COLUMN = "ID"
TAIWAN_PERIOD_LABELS: dict[int, str] = {1: "Apr", 2: "May", 3: "Jun", 4: "Jul", 5: "Aug", 6: "Sep"}

TAIWAN_MAPPING: dict[str, str] = {
    "-2": "current",
    "-1": "current",
    "0": "current",
    "1": "1-30",
    "2": "1-30",
    "3": "31-60",
    "4": "61-90",
    "5": "91-120",
    "6": "charged_off",
    "7": "charged_off",
    "8": "charged_off",
    "9": "charged_off",
}

TAIWAN_NOMINAL_MAPPING: dict[str, str] = {
    **{code: "current" for code in ("-2", "-1", "0")},
    "1": "1-30",
    "2": "1-30",
    "3": "61-90",
    "4": "91-120",
    **{str(code): "charged_off" for code in range(5, 10)},
}


#: The mapping used for calibration: codes 5-9 (delayed 5 to 9+ months) stay in the lab's last
#: open bucket (``91-120`` read as "91+"), because the bank did not write these cards off within
#: the six months (accounts at codes 6-8 move back to 2 and to -1..0, 24 % of them a month), so
#: with a charge-off DPD beyond the observation window (e.g. 360) the lab's ``91-120`` bucket
#: plays the role of "91+ days, not yet charged off". No ``charged_off`` state is observed.
TAIWAN_91PLUS_MAPPING: dict[str, str] = {
    **TAIWAN_MAPPING,
    **{str(code): "91-120" for code in range(5, 10)},
}


def status_columns(present: list[str]) -> tuple[str, ...]:
    """Return the six status columns as spelled in a file (``PAY_0`` or its alias ``PAY_1``)."""
    if "PAY_0" not in present and TAIWAN_SEP_ALIAS in present:
        return (*TAIWAN_STATUS_COLUMNS[:-1], TAIWAN_SEP_ALIAS)
    return TAIWAN_STATUS_COLUMNS


def normalise_codes(values: pd.Series) -> pd.Series:
    """Write numeric codes canonically ("2.0", " 2", "2e0" -> "2"); leave other text as is.

    The status columns are read as text so that nothing is silently coerced; the codes are
    integers by definition, so any integral number is written without decimals.
    """
    text = values.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    integral = numbers.notna() & np.isfinite(numbers) & (numbers == np.round(numbers))
    out = text.astype(object)
    out[integral] = numbers[integral].astype("int64").astype(str)
    return out


def wide_to_long(wide: pd.DataFrame, id_col: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """Stack the six status columns into ``account_id, period, status`` (periods 1..6).

    Parameters
    ----------
    wide : DataFrame
        One row per client; ``id_col`` and the six ``columns`` read as text.
    id_col : str
        The client id column.
    columns : tuple of str
        Status columns from the oldest to the newest month (see :func:`status_columns`).

    Returns
    -------
    DataFrame
        ``account_id`` (str), ``period`` (int64, 1 = Apr .. 6 = Sep), ``status`` (str codes).
    """
    n = len(wide)
    # Column-major stacking keeps this a handful of array copies, no Python loop over rows.
    statuses = pd.concat([wide[c] for c in columns], ignore_index=True)
    return pd.DataFrame(
        {
            "account_id": np.tile(wide[id_col].to_numpy(dtype=object), len(columns)),
            "period": np.repeat(np.arange(1, len(columns) + 1, dtype=np.int64), n),
            "status": normalise_codes(statuses).to_numpy(dtype=object),
        }
    )
