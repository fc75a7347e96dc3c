"""Calibration data side: reading status panels and estimating monthly transition matrices."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.calibration import (
    STATES,
    PanelError,
    TransitionEstimate,
    load_panel,
    naive_forecast,
    parse_mapping,
    shares_by_period,
    transition_counts,
    transition_matrix,
)
from sim.calibration.panel import period_index, period_label

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CREDIT_RECORD = DATA / "credit_card_status_panel" / "credit_record.csv"
TAIWAN = DATA / "taiwan_credit_card_default" / "UCI_Credit_Card.csv"

CODES = "X=none,C=paid_off,0=1-30,1=31-60,2=61-90,3=91-120,4=charged_off,5=charged_off"


def write(tmp_path: Path, text: str, name: str = "panel.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def panel_frame(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    """A panel built directly (account, period, state), bypassing the file reader."""
    frame = pd.DataFrame(rows, columns=["account_id", "period", "state"])
    frame["state"] = pd.Categorical(frame["state"], categories=list(STATES), ordered=True)
    return frame


# A small long panel in a foreign coding. Consecutive pairs, by hand:
#   007: 0->0 (1-30 stay), 0->1 (1-30->31-60), 1->C (31-60->paid_off), C->C  (periods -4..0)
#   7:   0, X, 0, 1: the X month is dropped, so only the last pair 0->1 counts
#   A9:  2 at period 1 and 3 at period 3 (not consecutive: no pair), 3->4 (91-120->charged_off)
LONG_CSV = """acct,month,status
007,-4,0
007,-3,0
007,-2,1
007,-1,C
007,0,C
7,-3,0
7,-2,X
7,-1,0
7,0,1
A9,1,2
A9,3,3
A9,4,4
"""


@pytest.fixture
def long_panel(tmp_path: Path) -> pd.DataFrame:
    return load_panel(write(tmp_path, LONG_CSV), "acct", "month", "status", CODES)


# --- mapping ---------------------------------------------------------------------------------


def test_parse_mapping_keeps_codes_as_text() -> None:
    mapping = parse_mapping(" X=none, C = paid_off,0=1-30,1=31-60, ")
    assert mapping == {"X": "none", "C": "paid_off", "0": "1-30", "1": "31-60"}
    assert parse_mapping("credit_record")["0"] == "1-30"
    assert parse_mapping("taiwan")["3"] == "31-60"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("X=none,C=paid", "'paid', which is not a lab state; allowed: current, 1-30"),
        ("X", "has no '='"),
        ("=current", "empty status code"),
        ("1=1-30,1=31-60", "two states"),
        (" , ", "mapping is empty"),
    ],
)
def test_parse_mapping_errors(text: str, problem: str) -> None:
    with pytest.raises(PanelError, match=problem):
        parse_mapping(text)


# --- long format -----------------------------------------------------------------------------


def test_long_panel_columns_order_and_states(long_panel: pd.DataFrame) -> None:
    assert list(long_panel.columns) == ["account_id", "period", "state"]
    assert long_panel["period"].dtype == np.int64
    assert list(long_panel["state"].cat.categories) == list(STATES)
    assert len(long_panel) == 11  # 12 rows, one X dropped
    # Ids are text: "007" and "7" stay two accounts; sorted by account then period.
    assert list(long_panel["account_id"].unique()) == ["007", "7", "A9"]
    first = long_panel[long_panel["account_id"] == "007"]
    assert first["state"].tolist() == ["1-30", "1-30", "31-60", "paid_off", "paid_off"]
    assert long_panel.attrs["source"].endswith("panel.csv")


def test_transition_counts_by_hand(long_panel: pd.DataFrame) -> None:
    counts = transition_counts(long_panel)
    expected = pd.DataFrame(0, index=list(STATES), columns=list(STATES))
    expected.loc["1-30", "1-30"] = 1
    expected.loc["1-30", "31-60"] = 2
    expected.loc["31-60", "paid_off"] = 1
    expected.loc["paid_off", "paid_off"] = 1
    expected.loc["91-120", "charged_off"] = 1
    assert (counts.to_numpy() == expected.to_numpy()).all()
    assert list(counts.index) == list(STATES) and list(counts.columns) == list(STATES)


def test_transition_counts_window(long_panel: pd.DataFrame) -> None:
    # until=-1: pairs ending at or before -1 -> 007's first three pairs only.
    assert transition_counts(long_panel, until=-1).to_numpy().sum() == 3
    # since=-1: pairs starting at or after -1 -> 007 C->C, 7 0->1, A9 3->4.
    since = transition_counts(long_panel, since=-1)
    assert since.to_numpy().sum() == 3
    assert since.loc["91-120", "charged_off"] == 1


def test_lab_state_names_need_no_mapping_and_parquet_is_read(tmp_path: Path) -> None:
    frame = panel_frame([("a", 1, "current"), ("a", 2, "1-30"), ("b", 1, "paid_off")])
    path = tmp_path / "panel.parquet"
    frame.to_parquet(path)
    panel = load_panel(path)
    assert panel["state"].tolist() == ["current", "1-30", "paid_off"]
    assert transition_counts(panel).loc["current", "1-30"] == 1


def test_integral_float_periods_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "id,t,s\na,1.0,current\na,2.0,1-30\n")
    assert load_panel(path, "id", "t", "s")["period"].tolist() == [1, 2]


# --- calendar periods ------------------------------------------------------------------------
def test_yyyymm_panel_counts_every_move(tmp_path: Path) -> None:
    """202410 .. 202503 is six calendar months: every account's five moves count, December to
    January included (read as plain numbers, 202412 -> 202501 would be 89 apart and lost)."""
    months = [202410, 202411, 202412, 202501, 202502, 202503]
    states = ["current", "1-30", "current", "1-30", "31-60", "61-90"]
    lines = ["acct,month,status"] + [
        f"{a},{m},{s}" for a in ("x", "y", "z") for m, s in zip(months, states, strict=True)
    ]
    panel = load_panel(write(tmp_path, "\n".join(lines) + "\n"), "acct", "month", "status")
    assert panel.attrs["period_kind"] == "YYYYMM" and panel.attrs["record_gaps"] == 0
    counts = transition_counts(panel)
    assert int(counts.to_numpy().sum()) == 3 * 5
    assert counts.loc["current", "1-30"] == 6  # Oct -> Nov and Dec -> Jan
    assert np.diff(np.sort(panel["period"].unique())).tolist() == [1] * 5
    assert period_label(int(panel["period"].max()), "YYYYMM") == "2025-03"
    assert period_index(202501, "YYYYMM") == period_index("2025-01-31", "date") == 2025 * 12


def test_dates_are_calendar_months_and_bare_month_names_are_refused(tmp_path: Path) -> None:
    text = "acct,month,status\na,2024-11-30,current\na,Dec 2024,1-30\na,2025-01,current\n"
    panel = load_panel(write(tmp_path, text), "acct", "month", "status")
    assert panel.attrs["period_kind"] == "date"
    assert int(transition_counts(panel).to_numpy().sum()) == 2
    eight = "acct,month,status\na,20241231,current\na,20250131,1-30\n"
    panel = load_panel(write(tmp_path, eight, "d.csv"), "acct", "month", "status")
    assert panel.attrs["period_kind"] == "YYYYMMDD"
    assert int(transition_counts(panel).to_numpy().sum()) == 1
    bare = "acct,month,status\na,Jan,current\na,Feb,1-30\n"
    with pytest.raises(PanelError, match=r"month names without a year, e\.g\. 'Jan'"):
        load_panel(write(tmp_path, bare, "b.csv"), "acct", "month", "status")
    typo = "acct,month,status\na,202411,current\na,202412,1-30\na,202413,1-30\n"
    with pytest.raises(PanelError, match=r"month part outside 1\.\.12, e\.g\. 202413"):
        load_panel(write(tmp_path, typo, "t.csv"), "acct", "month", "status")


def test_months_without_a_record_are_counted_as_gaps_not_dropped_silently(tmp_path: Path) -> None:
    text = "acct,month,status\na,1,0\na,2,X\na,3,0\na,4,1\nb,1,0\nb,2,0\n"
    panel = load_panel(write(tmp_path, text), "acct", "month", "status", mapping=CODES)
    assert panel.attrs["record_gaps"] == 1  # a: 1 -> 3 across the no-loan month
    assert int(transition_counts(panel).to_numpy().sum()) == 2


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kwargs", "problem"),
    [
        ("", {}, "file is empty"),
        ("\n\n", {}, "file is empty"),
        ("acct,month,status\n", {}, "header but no data rows"),
        (
            "acct,month,state\n1,1,0\n",
            {},
            r"missing column\(s\) 'status'; columns present: 'acct', 'month', 'state'",
        ),
        (
            "acct,month,status\n1,1,0\n1,2,Z\n2,1,Z\n2,2,Q\n",
            {"mapping": "0=current"},
            r"code\(s\) with no mapping: 'Z' \(2 rows\), 'Q' \(1 rows\)",
        ),
        (
            "acct,month,status\n1,1,0\n1,1,1\n2,3,0\n2,3,0\n",
            {"mapping": CODES},
            r"2 duplicate account-period row\(s\), e.g. account '1' period 1",
        ),
        (
            "acct,month,status\n1,1,0\n1,Jan,0\n",
            {"mapping": CODES},
            r"1 non-numeric period value\(s\), e.g. 'Jan' on data row 2",
        ),
        (
            "acct,month,status\n1,1.5,0\n",
            {"mapping": CODES},
            r"non-integer period value\(s\), e.g. '1.5'",
        ),
        (
            "acct,month,status\n1,1,0\n1,2,\n",
            {"mapping": CODES},
            r"1 row\(s\) have an empty status, e.g. account '1' period 2",
        ),
        (
            "acct,month,status\n1,1,0\n",
            {"mapping": {"0": "late"}},
            "'late', which is not a lab state; allowed: current, 1-30, 31-60",
        ),
        (
            "acct,month,status\n1,1,0\n",
            {"mapping": "0=delinquent"},
            "'delinquent', which is not a lab state",
        ),
        ("acct,month,status\n1,1,X\n", {"mapping": CODES}, "every row maps to 'none'"),
    ],
)
def test_errors_name_the_file_and_the_problem(
    tmp_path: Path, content: str, kwargs: dict, problem: str
) -> None:
    path = write(tmp_path, content, "bad_panel.csv")
    with pytest.raises(PanelError, match=problem) as info:
        load_panel(path, "acct", "month", "status", **kwargs)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(PanelError, match="file not found") as info:
        load_panel(path, "acct", "month", "status")
    assert str(path) in str(info.value)


def test_codes_that_look_missing_are_kept_as_codes(tmp_path: Path) -> None:
    # "NA" and "0" are codes, not missing values or numbers: they are reported, not coerced.
    path = write(tmp_path, "acct,month,status\n1,1,NA\n1,2,00\n")
    with pytest.raises(PanelError, match=r"'00' \(1 rows\), 'NA' \(1 rows\)"):
        load_panel(path, "acct", "month", "status", {"0": "current"})


# --- Taiwan adapter --------------------------------------------------------------------------

TAIWAN_HEADER = (
    "ID,LIMIT_BAL,SEX,EDUCATION,MARRIAGE,AGE,PAY_0,PAY_2,PAY_3,PAY_4,PAY_5,PAY_6,"
    "BILL_AMT1,PAY_AMT1,default.payment.next.month\n"
)
# Client 1 (Apr..Sep = PAY_6..PAY_0): -2, -1, 0, 2, 3, 1 -> cur, cur, cur, 1-30, 31-60, 1-30
# Client 2: 0, 2, 3, 4, 5, 6 -> cur, 1-30, 31-60, 61-90, 91-120, charged_off
TAIWAN_CSV = TAIWAN_HEADER + (
    "1,5e+05,2,2,1,24,1,3,2,0,-1,-2,3913,0,1\n2,120000,2,2,2,26,6,5,4,3,2,0,2682,1e+03,0\n"
)


def test_taiwan_wide_to_long(tmp_path: Path) -> None:
    panel = load_panel(write(tmp_path, TAIWAN_CSV), fmt="taiwan")
    assert len(panel) == 12
    assert panel["period"].tolist() == [1, 2, 3, 4, 5, 6] * 2
    client1 = panel[panel["account_id"] == "1"]["state"].tolist()
    client2 = panel[panel["account_id"] == "2"]["state"].tolist()
    assert client1 == ["current", "current", "current", "1-30", "31-60", "1-30"]
    assert client2 == ["current", "1-30", "31-60", "61-90", "91-120", "charged_off"]
    counts = transition_counts(panel)
    assert counts.to_numpy().sum() == 10
    assert counts.loc["current", "current"] == 2
    assert counts.loc["current", "1-30"] == 2
    assert counts.loc["1-30", "31-60"] == 2
    assert counts.loc["31-60", "1-30"] == 1
    assert counts.loc["91-120", "charged_off"] == 1


def test_taiwan_user_mapping_overrides_defaults_and_pay1_alias(tmp_path: Path) -> None:
    text = TAIWAN_CSV.replace("PAY_0", "PAY_1")
    panel = load_panel(write(tmp_path, text), fmt="taiwan", mapping="3=61-90,-2=paid_off")
    client1 = panel[panel["account_id"] == "1"]["state"].tolist()
    assert client1 == ["paid_off", "current", "current", "1-30", "61-90", "1-30"]


def test_taiwan_errors(tmp_path: Path) -> None:
    missing = write(tmp_path, TAIWAN_CSV.replace("PAY_4", "PAY_X"), "no_pay4.csv")
    with pytest.raises(PanelError, match=r"missing column\(s\) 'PAY_4'.*'PAY_X'") as info:
        load_panel(missing, fmt="taiwan")
    assert str(missing) in str(info.value)
    unknown = write(tmp_path, TAIWAN_CSV.replace(",6,5,4,", ",10,5,4,"), "code10.csv")
    with pytest.raises(PanelError, match=r"'PAY_\*' has code\(s\) with no mapping: '10'"):
        load_panel(unknown, fmt="taiwan")
    with pytest.raises(PanelError, match="unknown panel format 'wide'"):
        load_panel(unknown, fmt="wide")  # type: ignore[arg-type]


# --- estimates -------------------------------------------------------------------------------


def test_probabilities_and_standard_errors() -> None:
    counts = np.zeros((7, 7), dtype=int)
    counts[0, :2] = [3, 1]  # current: 3 stay, 1 roll -> p = 0.75 / 0.25, n = 4
    counts[1, 1] = 5  # 1-30: all stay -> p = 1, se = 0
    est = transition_matrix(counts)
    assert est.row_totals.tolist() == [4, 5, 0, 0, 0, 0, 0]
    assert est.rate("current", "1-30") == pytest.approx((0.25, math.sqrt(0.25 * 0.75 / 4)))
    assert est.rate("current", "current")[1] == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert est.rate("1-30", "1-30") == (1.0, 0.0)
    assert np.isnan(est.probabilities[2:]).all() and np.isnan(est.standard_errors[2:]).all()
    assert est.roll_rates()["current->1-30"] == 0.25
    with pytest.raises(ValueError, match="read-only"):
        est.counts[0, 0] = 9


def test_estimate_serialises() -> None:
    counts = np.zeros((7, 7), dtype=int)
    counts[0, :2] = [3, 1]
    est = transition_matrix(counts)
    data = json.loads(json.dumps(est.to_dict()))
    assert data["probabilities"][0][:2] == [0.75, 0.25]
    assert data["probabilities"][6] == [None] * 7
    again = TransitionEstimate.from_dict(data)
    assert (again.counts == est.counts).all()
    frame = est.to_frame()
    assert len(frame) == 49
    row = frame[(frame["from_state"] == "current") & (frame["to_state"] == "1-30")].iloc[0]
    assert (row["count"], row["row_total"], row["probability"]) == (1, 4, 0.25)


def test_transition_matrix_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="7 x 7"):
        transition_matrix(np.zeros((6, 6)))
    with pytest.raises(ValueError, match="non-negative integers"):
        transition_matrix(-np.ones((7, 7)))


def test_shares_and_naive_forecast_by_hand() -> None:
    # Period 1: a, b current; c 1-30. Period 2: a current, b 1-30, c current.
    # Last training matrix (1 -> 2): current -> {current 1/2, 1-30 1/2}; 1-30 -> current.
    rows = [("a", 1, "current"), ("b", 1, "current"), ("c", 1, "1-30")]
    rows += [("a", 2, "current"), ("b", 2, "1-30"), ("c", 2, "current")]
    rows += [("a", 3, "current"), ("b", 3, "current"), ("c", 3, "current")]
    panel = panel_frame(rows)
    shares = shares_by_period(panel)
    assert shares.loc[1, "current"] == pytest.approx(2 / 3)
    assert np.allclose(shares.sum(axis=1), 1.0)
    forecast = naive_forecast(panel, train_until=2)
    # start (2/3, 1/3) -> current: 2/3 * 1/2 + 1/3 * 1 = 2/3; 1-30: 1/3.
    assert forecast.index.tolist() == [3]
    assert forecast.loc[3, "current"] == pytest.approx(2 / 3)
    assert forecast.loc[3, "1-30"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="not a period"):
        naive_forecast(panel, train_until=7)


# --- property: counts are the consecutive pairs ----------------------------------------------


@st.composite
def random_panels(draw: st.DrawFn) -> pd.DataFrame:
    cells = draw(
        st.dictionaries(
            keys=st.tuples(st.sampled_from("abcde"), st.integers(-3, 5)),
            values=st.sampled_from(STATES),
            min_size=1,
            max_size=40,
        )
    )
    return panel_frame([(acct, period, state) for (acct, period), state in cells.items()])


@settings(max_examples=60, deadline=None)
@given(panel=random_panels())
def test_counts_are_consecutive_pairs(panel: pd.DataFrame) -> None:
    cells = {(a, p): s for a, p, s in panel.itertuples(index=False)}
    pairs = [(s, cells[(a, p + 1)]) for (a, p), s in cells.items() if (a, p + 1) in cells]
    counts = transition_counts(panel.sample(frac=1.0, random_state=0))  # any row order
    assert counts.to_numpy().sum() == len(pairs)
    for state in STATES:
        assert counts.loc[state].sum() == sum(1 for s, _ in pairs if s == state)
    est = transition_matrix(counts)
    observed = est.row_totals > 0
    assert np.allclose(est.probabilities[observed].sum(axis=1), 1.0)
    assert np.isnan(est.probabilities[~observed]).all()


# --- the real data sets (skipped where ../shared/data is absent) -----------------------------


@pytest.fixture(scope="module")
def credit_record() -> pd.DataFrame:
    if not CREDIT_RECORD.exists():
        pytest.skip(f"real data not found at {CREDIT_RECORD} (the shared data folder is absent)")
    return load_panel(CREDIT_RECORD, "ID", "MONTHS_BALANCE", "STATUS", mapping="credit_record")


@pytest.fixture(scope="module")
def taiwan() -> pd.DataFrame:
    if not TAIWAN.exists():
        pytest.skip(f"real data not found at {TAIWAN} (the shared data folder is absent)")
    return load_panel(TAIWAN, fmt="taiwan")


def test_credit_record_panel(credit_record: pd.DataFrame) -> None:
    # 1,048,575 rows less 209,230 "X" months; periods -60..0.
    assert len(credit_record) == 839_345
    assert credit_record["period"].between(-60, 0).all()
    est = transition_matrix(transition_counts(credit_record))
    assert est.counts.sum() == 777_966
    assert est.row_totals[STATES.index("current")] == 0  # the coding has no current state
    assert est.rate("1-30", "31-60")[0] == pytest.approx(0.0204, abs=5e-4)
    assert est.rate("91-120", "charged_off")[0] == pytest.approx(0.631, abs=5e-3)


def test_taiwan_panel(taiwan: pd.DataFrame) -> None:
    assert len(taiwan) == 180_000
    counts = transition_counts(taiwan)
    assert counts.to_numpy().sum() == 150_000
    assert counts.loc["current", "1-30"] == 8_069
    apr_aug = transition_matrix(transition_counts(taiwan, until=5))
    assert apr_aug.rate("current", "1-30")[0] == pytest.approx(0.0493, abs=5e-4)
    # Statuses never rise more than one step a month: no current -> 31-60 or worse.
    assert counts.loc["current", "31-60":"charged_off"].sum() == 0
    forecast = naive_forecast(taiwan, train_until=4)
    assert forecast.index.tolist() == [5, 6]
    assert np.allclose(forecast.sum(axis=1), 1.0)
