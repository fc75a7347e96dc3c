"""Reading monthly status panels: one row per account and month, mapped onto the lab's states.

A panel is a :class:`pandas.DataFrame` with the columns

* ``account_id`` (str): ids are kept as text so that ``007`` and ``7`` stay different accounts;
* ``period`` (int64): a month number; consecutive months differ by 1 (``MONTHS_BALANCE`` -60..0
  works as is; ``YYYYMM`` integers and dates are read as calendar months, so 202412 -> 202501
  is one month: ``attrs["period_kind"]`` says how, :func:`period_index` converts a period the
  user writes);
* ``state`` (categorical, the seven states of :mod:`sim.calibration.states`, in order),

sorted by account and period, one row per account-period. Rows whose code maps to ``none`` (no
loan that month) are dropped, so the months around them are not consecutive:
``attrs["record_gaps"]`` counts the pairs of records no move is counted across.

Two input formats are read by :func:`load_panel`:

* ``long``: any CSV (or Parquet) with an id, a period and a status column, any column names and
  any status coding, translated by a mapping ``code -> state`` (see :func:`parse_mapping`);
  without a mapping the status must already be a lab state name (the lab's own panels);
* ``taiwan``: the wide Taiwan credit-card file, see :mod:`sim.calibration.taiwan` for the
  default mapping of its codes and its known coding artefact.

Every problem with the input raises :class:`PanelError`, a ``ValueError`` whose message names the
file and the problem in words a user can act on (the CLI prints it and exits with status 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sim.calibration import taiwan
from sim.calibration.states import MAPPING_TARGETS, NO_LOAN, STATE_DTYPE, STATES

PanelFormat = Literal["long", "taiwan"]
FORMATS: tuple[str, ...] = ("long", "taiwan")

#: Status codes of the "credit_record.csv" panel as documented in its SOURCE.md
#: (0 = 1-29 DPD, 1 = 30-59, 2 = 60-89, 3 = 90-119, 4 = 120-149, 5 = 150+ or written off).
CREDIT_RECORD_MAPPING: dict[str, str] = {
    "X": NO_LOAN,
    "C": "paid_off",
    "0": "1-30",
    "1": "31-60",
    "2": "61-90",
    "3": "91-120",
    "4": "charged_off",
    "5": "charged_off",
}

#: The same file read one bucket lower: ``0`` as ``current``. Code 0 is 46 % of the loan months
#: and rolls on at 2 %/month with 52 % of the next bucket curing back to it, the pattern of
#: current accounts (and of the design's starting ranges), so this reading is offered for
#: calibration; see the measured matrices in :mod:`sim.calibration.transitions`.
CREDIT_RECORD_SHIFTED_MAPPING: dict[str, str] = {
    "X": NO_LOAN,
    "C": "paid_off",
    "0": "current",
    "1": "1-30",
    "2": "31-60",
    "3": "61-90",
    "4": "91-120",
    "5": "charged_off",
}

#: Named mappings accepted by :func:`parse_mapping` in place of ``code=state`` pairs.
MAPPING_PRESETS: dict[str, dict[str, str]] = {
    "credit_record": CREDIT_RECORD_MAPPING,
    "credit_record_shifted": CREDIT_RECORD_SHIFTED_MAPPING,
    "taiwan": taiwan.TAIWAN_MAPPING,
    "taiwan_nominal": taiwan.TAIWAN_NOMINAL_MAPPING,
    "taiwan_91plus": taiwan.TAIWAN_91PLUS_MAPPING,
}

_ALLOWED = ", ".join(MAPPING_TARGETS)
_MAX_LISTED = 12  # codes or columns listed in one message before "..."


class PanelError(ValueError):
    """A status panel cannot be read or understood; the message is meant for the user."""


def parse_mapping(text: str) -> dict[str, str]:
    """Parse ``"X=none,C=paid_off,0=1-30"`` (or a preset name) into ``{code: state}``.

    Parameters
    ----------
    text : str
        Comma-separated ``code=state`` pairs. Codes are kept as text (``0`` stays ``"0"``);
        blanks around codes and states are ignored. A name from :data:`MAPPING_PRESETS`
        (``credit_record``, ``credit_record_shifted``, ``taiwan``,
        ``taiwan_nominal``, ``taiwan_91plus``) gives that mapping.

    Returns
    -------
    dict of str to str
        Code to lab state (or ``"none"``: rows with that code are dropped).

    Raises
    ------
    PanelError
        An item without ``=``, an empty code, a code given two different states, or a state
        that is not one of the lab's (the message lists the allowed ones).
    """
    stripped = text.strip()
    if stripped in MAPPING_PRESETS:
        return dict(MAPPING_PRESETS[stripped])
    mapping: dict[str, str] = {}
    for raw in stripped.split(","):
        item = raw.strip()
        if not item:
            continue  # tolerate a trailing comma
        if "=" not in item:
            raise PanelError(
                f"mapping item {item!r} has no '=': write code=state, e.g. 'C=paid_off' "
                f"(or use a preset: {', '.join(MAPPING_PRESETS)})"
            )
        code, _, target = (part.strip() for part in item.rpartition("="))
        if not code:
            raise PanelError(f"mapping item {item!r} has an empty status code")
        _check_target(code, target, where="mapping")
        if mapping.get(code, target) != target:
            raise PanelError(
                f"mapping gives status code {code!r} two states: {mapping[code]!r} and {target!r}"
            )
        mapping[code] = target
    if not mapping:
        raise PanelError("mapping is empty: write code=state pairs, e.g. 'X=none,C=paid_off'")
    return mapping


def load_panel(
    path: str | Path,
    id_col: str | None = None,
    period_col: str | None = None,
    status_col: str | None = None,
    mapping: Mapping[str, str] | str | None = None,
    fmt: PanelFormat = "long",
) -> pd.DataFrame:
    """Read a monthly status panel and map its codes onto the lab's states.

    Parameters
    ----------
    path : str or Path
        A CSV file (``.parquet`` is also read, for the lab's own panels).
    id_col, period_col, status_col : str, optional
        Column names. Defaults: ``account_id``, ``period``, ``state`` (the lab's own panel
        columns) for ``long``; ``ID`` for ``taiwan``, whose period and status come from the
        ``PAY_*`` columns (``period_col`` and ``status_col`` are ignored there).
    mapping : mapping or str, optional
        ``{code: state}`` or a ``"code=state,..."`` string (see :func:`parse_mapping`), applied
        on top of the format's default: lab state names map to themselves in ``long``, and
        :data:`sim.calibration.taiwan.TAIWAN_MAPPING` in ``taiwan``.
    fmt : {"long", "taiwan"}
        Input layout.

    Returns
    -------
    DataFrame
        ``account_id`` (str), ``period`` (int64), ``state`` (categorical), sorted by account
        and period; ``attrs["source"]`` holds the path.

    Raises
    ------
    PanelError
        Missing or empty file, missing columns, empty ids or statuses, non-integer periods,
        duplicate account-periods, status codes without a mapping, or a mapping target that is
        not a lab state. The message names the file.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise PanelError(f"{path}: unknown panel format {fmt!r}; choose one of {FORMATS}")
    user_mapping = _resolve_mapping(mapping, path)

    if fmt == "taiwan":
        raw = _read_taiwan(path, id_col or taiwan.TAIWAN_ID_COLUMN)
        full_mapping = {**taiwan.TAIWAN_MAPPING, **user_mapping}
        status_label = "PAY_*"
    else:
        id_col = id_col or "account_id"
        period_col = period_col or "period"
        status_col = status_col or "state"
        raw = _read_long(path, id_col, period_col, status_col)
        full_mapping = {**{s: s for s in MAPPING_TARGETS}, **user_mapping}
        status_label = status_col

    panel = _to_states(raw, full_mapping, path, status_label)
    panel.attrs["source"] = str(path)
    panel.attrs["period_kind"] = raw.attrs.get("period_kind", "month number")
    panel.attrs["record_gaps"] = record_gaps(panel)
    return panel


def record_gaps(panel: pd.DataFrame) -> int:
    """Pairs of an account's consecutive records more than one month apart (after the ``none``
    rows are dropped): no move is counted across them. Reported, never dropped silently."""
    acc = panel["account_id"].to_numpy()
    per = panel["period"].to_numpy(dtype=np.int64)
    same = acc[1:] == acc[:-1]
    return int((same & (per[1:] - per[:-1] > 1)).sum())


# --- reading ---------------------------------------------------------------------------------


def _read_long(path: Path, id_col: str, period_col: str, status_col: str) -> pd.DataFrame:
    """Read the three columns of a long panel: id and status as text, period parsed."""
    frame = _read_columns(path, [id_col, period_col, status_col], text=[id_col, status_col])
    periods, kind = _parse_periods(frame[period_col], path, period_col)
    out = pd.DataFrame(
        {"account_id": frame[id_col], "period": periods, "status": frame[status_col]}
    )
    out.attrs["period_kind"] = kind
    return out


def _read_taiwan(path: Path, id_col: str) -> pd.DataFrame:
    """Read the id and the six ``PAY_*`` columns of a Taiwan file and stack them."""
    present = _header(path)
    columns = taiwan.status_columns(present)
    frame = _read_columns(path, [id_col, *columns], text=[id_col, *columns], present=present)
    return taiwan.wide_to_long(frame, id_col, columns)


def _header(path: Path) -> list[str]:
    """Column names of the file, with the file-level errors turned into PanelError."""
    if not path.exists():
        raise PanelError(f"{path}: file not found")
    if not path.is_file():
        raise PanelError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise PanelError(f"{path}: file is empty")
    try:
        if _is_parquet(path):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise PanelError(f"{path}: file is empty (no header line)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise PanelError(f"{path}: cannot be read: {exc}") from None


def _read_columns(
    path: Path, columns: list[str], text: list[str], present: list[str] | None = None
) -> pd.DataFrame:
    """Read ``columns`` after checking they exist; ``text`` columns are read as strings.

    Only empty cells count as missing (``keep_default_na=False``): codes such as ``NA`` or
    ``null`` are kept as codes, to be mapped or reported, not silently turned into NaN.
    """
    present = _header(path) if present is None else present
    missing = [c for c in dict.fromkeys(columns) if c not in present]
    if missing:
        raise PanelError(
            f"{path}: missing column(s) {_quoted(missing)}; columns present: {_quoted(present)}"
        )
    wanted = list(dict.fromkeys(columns))
    try:
        if _is_parquet(path):
            frame = pd.read_parquet(path, columns=wanted)
        else:
            frame = pd.read_csv(
                path,
                usecols=wanted,
                dtype=dict.fromkeys(text, str),
                keep_default_na=False,
                na_values={c: [""] for c in wanted},
            )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise PanelError(f"{path}: cannot be read: {exc}") from None
    if frame.empty:
        raise PanelError(f"{path}: file has a header but no data rows")
    return frame


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _text(values: pd.Series | np.ndarray) -> pd.Categorical:
    """Text values as a categorical with sorted, blank-stripped categories; blanks are missing.

    Works on the distinct values only (a few codes, some thousand ids) and keeps the rest as
    integer codes, which makes the later sort, duplicate check and mapping cheap.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    cleaned = pd.Series([str(u).strip() for u in uniques], dtype=object)
    cleaned[cleaned == ""] = np.nan
    categories, new_codes = np.unique(cleaned.dropna().to_numpy(dtype=str), return_inverse=True)
    lookup = np.full(len(uniques) + 1, -1, dtype=np.int64)  # last slot: missing (code -1)
    lookup[np.flatnonzero(cleaned.notna().to_numpy())] = new_codes
    return pd.Categorical.from_codes(lookup[codes], categories=pd.Index(categories, dtype="str"))


def _parse_periods(values: pd.Series, path: Path, column: str) -> tuple[np.ndarray, str]:
    """Return periods as int64 month numbers and their kind (:data:`PERIOD_KINDS`).

    Plain integers are month numbers as they are (``MONTHS_BALANCE`` -60..0). Calendar periods
    become months since year 0 (``year * 12 + month - 1``), so that December 2024 and January
    2025 are one month apart: six-digit integers ``YYYYMM`` (every value with a month part
    1..12), eight-digit ``YYYYMMDD`` dates, and text dates (``2024-12``, ``2024-12-31``,
    ``Dec 2024``). Month names without a year (``Jan``) cannot be ordered across years and are
    refused, as is anything else that is not a whole month number.
    """
    if pd.api.types.is_integer_dtype(values) and not values.isna().any():
        return _integer_periods(values.to_numpy(dtype=np.int64), path, column)
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.astype(str).str.strip()
    if numbers.isna().all() and values.notna().all():
        return _text_periods(text, path, column)
    bad = numbers.isna() | (numbers != np.round(numbers))
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        kind = "non-numeric" if pd.isna(numbers.iloc[first]) else "non-integer"
        raise PanelError(
            f"{path}: column {column!r} has {int(bad.sum())} {kind} period value(s), "
            f"e.g. {str(values.iloc[first])!r} on data row {first + 1}; periods must be integer "
            "month numbers (consecutive months differ by 1), YYYYMM or dates"
        )
    return _integer_periods(numbers.to_numpy().astype(np.int64), path, column)


#: How a panel's periods were read (``panel.attrs["period_kind"]``).
PERIOD_KINDS: tuple[str, ...] = ("month number", "YYYYMM", "YYYYMMDD", "date")


def _integer_periods(p: np.ndarray, path: Path, column: str) -> tuple[np.ndarray, str]:
    """Month numbers as they are, or ``YYYYMM`` / ``YYYYMMDD`` read as calendar months."""
    if p.size and p.min() >= 100_000 and p.max() <= 999_999:
        month = p % 100
        bad = (month < 1) | (month > 12)
        if not bad.any():
            return (p // 100) * 12 + month - 1, "YYYYMM"
        if bad.mean() < 0.5:  # mostly YYYYMM: a typo, not a plain month count
            raise PanelError(
                f"{path}: column {column!r} looks like YYYYMM periods but {int(bad.sum())} "
                f"value(s) have a month part outside 1..12, e.g. {int(p[bad][0])}"
            )
    if p.size and p.min() >= 10_000_000 and p.max() <= 99_999_999:
        dates = pd.to_datetime(pd.Series(p.astype(str)), format="%Y%m%d", errors="coerce")
        if dates.notna().all():
            return _months(dates), "YYYYMMDD"
    return p, "month number"


def _text_periods(text: pd.Series, path: Path, column: str) -> tuple[np.ndarray, str]:
    """Text dates as calendar months; month names without a year refused."""
    bare = text.str.fullmatch(r"[A-Za-z]+\.?")
    if bare.any():
        example = text[bare].iloc[0]
        raise PanelError(
            f"{path}: column {column!r} has month names without a year, e.g. {example!r}: "
            "they cannot be ordered across years; write the year too (e.g. 'Jan 2025' or "
            "2025-01) or give month numbers"
        )
    dates = pd.to_datetime(text, errors="coerce", format="mixed")
    if dates.isna().any():
        first = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise PanelError(
            f"{path}: column {column!r} has {int(dates.isna().sum())} period value(s) that are "
            f"neither month numbers nor dates, e.g. {text.iloc[first]!r} on data row "
            f"{first + 1}; periods must be integer month numbers, YYYYMM or dates"
        )
    return _months(dates), "date"


def _months(dates: pd.Series) -> np.ndarray:
    return (dates.dt.year * 12 + dates.dt.month - 1).to_numpy(dtype=np.int64)


def period_index(value: int | str, kind: str) -> int:
    """A period the user wrote (e.g. ``--train-until 202406``) as the panel's month number.

    ``kind`` is the panel's ``attrs["period_kind"]``: ``YYYYMM`` reads ``202406`` as June 2024,
    ``date`` and ``YYYYMMDD`` read a date; month numbers are taken as they are.
    """
    if kind == "month number":
        return int(value)
    if kind == "YYYYMM":
        v = int(value)
        if not 1 <= v % 100 <= 12:
            raise PanelError(f"period {value!r} is not YYYYMM (month part outside 1..12)")
        return (v // 100) * 12 + v % 100 - 1
    fmt = "%Y%m%d" if kind == "YYYYMMDD" else "mixed"
    d = pd.to_datetime(str(value), format=fmt, errors="coerce")
    if pd.isna(d):
        raise PanelError(f"period {value!r} is not a date")
    return int(d.year * 12 + d.month - 1)


def period_label(index: int, kind: str) -> str:
    """The panel's month number as the user wrote periods (``YYYY-MM`` for calendar kinds)."""
    if kind == "month number":
        return str(int(index))
    return f"{int(index) // 12:04d}-{int(index) % 12 + 1:02d}"


# --- mapping and checks ----------------------------------------------------------------------


def _resolve_mapping(mapping: Mapping[str, str] | str | None, path: Path) -> dict[str, str]:
    """Turn the user's mapping into ``{code: state}``, naming the file in any error."""
    if mapping is None:
        return {}
    try:
        if isinstance(mapping, str):
            return parse_mapping(mapping)
        resolved = {str(code).strip(): str(target).strip() for code, target in mapping.items()}
        for code, target in resolved.items():
            _check_target(code, target, where="mapping")
        return resolved
    except PanelError as exc:
        raise PanelError(f"{path}: {exc}") from None


def _check_target(code: str, target: str, where: str) -> None:
    if target not in MAPPING_TARGETS:
        raise PanelError(
            f"{where} sends status code {code!r} to {target!r}, which is not a lab state; "
            f"allowed: {_ALLOWED}"
        )


def _to_states(
    raw: pd.DataFrame, mapping: dict[str, str], path: Path, status_label: str
) -> pd.DataFrame:
    """Check ids, statuses and duplicates, map codes to states, drop ``none``, sort."""
    accounts, statuses = _text(raw["account_id"]), _text(raw["status"])
    for values, what in ((accounts, "account id"), (statuses, "status")):
        missing = values.codes < 0
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            account = "" if pd.isna(accounts[row]) else f"account {accounts[row]!r} "
            raise PanelError(
                f"{path}: {int(missing.sum())} row(s) have an empty {what}, e.g. "
                f"{account}period {raw['period'].iloc[row]}"
            )

    # Sort once by (account, period) on integer codes: cheap even for millions of rows.
    # Categories are sorted, so account codes order the accounts by id.
    periods = raw["period"].to_numpy(dtype=np.int64)
    order = np.lexsort((periods, accounts.codes))
    account_codes, periods = accounts.codes[order], periods[order]

    duplicated = (account_codes[1:] == account_codes[:-1]) & (periods[1:] == periods[:-1])
    if duplicated.any():
        first = int(np.flatnonzero(duplicated)[0])
        raise PanelError(
            f"{path}: {int(duplicated.sum())} duplicate account-period row(s), e.g. account "
            f"{accounts.categories[account_codes[first]]!r} period {periods[first]} appears "
            "more than once"
        )

    status_codes, codes = statuses.codes[order], list(statuses.categories)
    unknown = [i for i, code in enumerate(codes) if code not in mapping]
    if unknown:
        counts = np.bincount(status_codes, minlength=len(codes))
        listed = sorted(unknown, key=lambda i: -counts[i])
        shown = ", ".join(f"{codes[i]!r} ({counts[i]:,} rows)" for i in listed[:_MAX_LISTED])
        more = f" and {len(listed) - _MAX_LISTED} more" if len(listed) > _MAX_LISTED else ""
        raise PanelError(
            f"{path}: status column {status_label!r} has code(s) with no mapping: {shown}{more}; "
            f"add code=state entries to the mapping (states: {_ALLOWED})"
        )

    # Map the few distinct codes, then broadcast by integer code: no per-row Python work.
    targets = np.array([mapping[code] for code in codes], dtype=object)
    state_of_code = np.array([STATES.index(t) if t != NO_LOAN else -1 for t in targets])
    state_index = state_of_code[status_codes]
    keep = state_index >= 0
    if not keep.any():
        raise PanelError(f"{path}: every row maps to {NO_LOAN!r}: no account has a loan")

    return pd.DataFrame(
        {
            "account_id": accounts.categories.array.take(account_codes[keep]),
            "period": periods[keep],
            "state": pd.Categorical.from_codes(state_index[keep], dtype=STATE_DTYPE),
        }
    )


def _quoted(names: list[str], limit: int = 60) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
