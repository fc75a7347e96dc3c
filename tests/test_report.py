"""HTML reports: produced, self-contained (no network), and rendered by headless Chromium
without script errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from postloan import api
from postloan.cli import app
from postloan.reports.experiment import write_experiment_report
from postloan.reports.run import write_run_report
from postloan.storage.runs import save_run
from sim.engine import simulate
from sim.scenario import load_scenario
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    sc = load_scenario(SMALL, accounts=500, days=60)
    run = save_run(simulate(sc, resolve("default"), 1), results)
    comp = api.compare(
        SMALL,
        ["default", "none"],
        replications=3,
        accounts=500,
        days=30,
        out=results,
    )
    return run, Path(comp.attrs["folder"])


@pytest.fixture(scope="module")
def three_way(tmp_path_factory):
    """``postloan compare`` of three strategies against ``none``, amounts in EUR: the report
    is written by default. Both contact strategies beat no contact on net value."""
    out = tmp_path_factory.mktemp("compare")
    data = yaml.safe_load(SMALL.read_text())
    data["currency"] = "EUR"
    scenario = out / "small_eur.yaml"
    scenario.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(
        app,
        ["compare", str(scenario), "--strategies", "none,standard,light_touch",
         "--replications", "4", "--accounts", "1500", "--days", "60", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = next(p for p in out.iterdir() if p.is_dir())
    return folder, result.output


def _self_contained(html: str) -> None:
    assert not re.search(r"<script[^>]+src\s*=", html, re.I), "a script is loaded from a URL"
    assert not re.search(r"<link[^>]+href\s*=\s*['\"]?(https?:)?//", html, re.I)
    assert "Plotly.newPlot" in html
    assert "plotly.js v" in html  # the library itself is inlined


def test_run_report_is_self_contained(folders):
    run, _ = folders
    path = write_run_report(run)
    assert path == run / "report.html"
    html = path.read_text()
    _self_contained(html)
    for heading in ("Key figures", "DPD buckets", "Roll rates", "Cost by channel", "Churn"):
        assert heading in html
    # readable names with units and directions, labelled axes, the currency, definitions
    for text in (
        "net recovery (USD)</span>",
        "churned customers (accounts)",
        "lower is better",
        "from: bucket at month end",
        "to: bucket at the next month end",
        "Cost by channel (USD): lower is better",
        "lifetime value lost (USD, cumulative)",
        "day of the run",
        "Definitions",
        "class='report-header'",
    ):
        assert text in html, text
    assert not list(run.glob(".*.tmp"))


def _normalised(html: str) -> str:
    """A report without what changes between two writings: plot ids, the generation time."""
    html = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "ID", html)
    return re.sub(r"Generated [0-9: -]+UTC", "Generated", html)


def test_run_report_written_with_the_run_equals_one_written_from_its_files(tmp_path):
    """``save_run`` draws the report from the run's tables in memory, in the staged folder;
    ``postloan report`` reads them back from the finished folder: the same page."""
    from sim.management import ManagementViews

    sc = load_scenario(SMALL, accounts=500, days=60)
    views = ManagementViews(None)  # the risk table too
    result = simulate(sc, resolve("default"), 2, observers=views.observers)
    folder = save_run(result, tmp_path, views=views)
    with_run = (folder / "report.html").read_text()
    assert f"<title>PostLoan run {folder.name}</title>" in with_run
    assert "PD (horizon)" in with_run
    assert _normalised(write_run_report(folder).read_text()) == _normalised(with_run)


def test_run_report_figures_are_valid_plotly_figures(folders):
    """The run report's charts are plain figure dicts, written unvalidated for speed: plotly's
    own validation (``go.Figure``) must accept every one, with its title and axis titles."""
    import pandas as pd
    import plotly.graph_objects as go

    from postloan.reports import charts
    from postloan.reports.run import _roll_matrix_from_summary

    run, _ = folders
    summary = json.loads((run / "summary.json").read_text())
    daily = pd.read_parquet(run / "daily.parquet")
    monthly = pd.read_parquet(run / "monthly.parquet")
    figures = {
        "buckets": (charts.bucket_area(daily, "buckets"), "day", "accounts"),
        "flows": (charts.flows(daily, "flows"), "day", "accounts, last 7 days"),
        "rolls": (
            charts.roll_heatmap(_roll_matrix_from_summary(summary["roll_rates"]), "rolls"),
            "to (month end)",
            "from",
        ),
        "monthly": (charts.monthly_roll_heatmap(monthly, "monthly"), None, None),
        "costs": (
            charts.cost_bars({"run": summary["cost_by_channel"]}, "costs"),
            "channel",
            "cost",
        ),
        "churn": (charts.churn_lines(daily, "churn"), "day", "count (cumulative)"),
    }
    for title, (fig, x, y) in figures.items():
        assert isinstance(fig, dict), title
        valid = go.Figure(fig)  # raises ValueError on any property plotly does not know
        assert valid.layout.title.text == title
        assert valid.layout.xaxis.title.text == x and valid.layout.yaxis.title.text == y, title
        assert len(valid.data) == len(fig["data"]) >= 1, title
    churn = go.Figure(figures["churn"][0])
    assert [t.yaxis for t in churn.data] == ["y", "y", "y2"]
    assert churn.layout.yaxis2.title.text == "lifetime value lost"
    assert figures["buckets"][0]["data"][0]["y"] == daily["n_1_30"].tolist()


def test_figure_div_cannot_close_its_script():
    """A name from a user's file inside a chart's JSON cannot end the page's script."""
    from postloan.reports.html import figure_div

    name = "</script><script>alert(1)</script>"
    fig = {"data": [{"type": "bar", "x": ["a"], "y": [1.0], "name": name}], "layout": {}}
    out = figure_div(fig)
    assert out.count("</script>") == 1 and out.count("<script>") == 1
    data = json.loads(re.search(r'newPlot\("[^"]+", (\[.*?\]), \{', out).group(1))
    assert data[0]["name"] == name
    # NaN and infinities become null, as plotly writes them (a gap, not a broken page)
    fig["data"][0]["y"] = [float("nan"), float("inf"), 2.0]
    data = json.loads(re.search(r'newPlot\("[^"]+", (\[.*?\]), \{', figure_div(fig)).group(1))
    assert data[0]["y"] == [None, None, 2.0]


def test_experiment_report_is_self_contained(folders):
    _, exp = folders
    html = write_experiment_report(exp).read_text()
    _self_contained(html)
    for text in (
        "Which policy wins?",
        "Per-KPI differences against standard (adjusted)",
        "KPIs per strategy",
        "Paired differences against standard",
        "unpaired (Welch) interval",
        "Cost by channel (USD",
        "Delinquent accounts (1-120 DPD)",
        "from: bucket at month end",
        "to: bucket at the next month end",
        "net value (USD): higher is better",
        "churned customers (accounts): lower is better",
        "Definitions",
        "simulation noise only",
    ):
        assert text in html, text
    assert "plotly.graph_objects" not in html and "net_recovery vs" not in html


def test_compare_writes_its_decision_by_default(three_way):
    folder, output = three_way
    html = (folder / "report.html").read_text()
    comp = pd.read_csv(folder / "comparison.csv")
    net = comp[(comp.kpi == "net_value") & (comp.strategy != "none")].set_index("strategy")
    # the decision follows the adjusted p-values of the table: both win, standard by more
    assert {"p_holm", "p_holm_all", "p_adjusted", "significant_adjusted"} <= set(comp.columns)
    assert (net["p_holm"] >= net["p_value"]).all() and (net["p_holm"] <= 0.05).all()
    assert net.loc["standard", "diff"] > net.loc["light_touch", "diff"] > 0
    assert "Winner on net value: <b>standard</b>" in html
    assert "Winner on net value: standard" in output  # the terminal says it too
    assert "light_touch also beats none" in html  # ... and the runner-up, compared directly:
    assert "Best against second best, paired:" in html and "standard vs light_touch" in html
    assert "adjustment over the 2 challengers" in html
    # ... and comparison.json carries the decision for machines
    (decision,) = json.loads((folder / "comparison.json").read_text())["decision"]
    assert (decision["winner"], decision["objective"], decision["currency"]) == (
        "standard",
        "net_value",
        "EUR",
    )
    std = next(c for c in decision["challengers"] if c["strategy"] == "standard")
    assert std["outcome"] == "wins" and std["objective"]["diff"] == pytest.approx(
        net.loc["standard", "diff"],
        abs=0.01,  # comparison.csv is rounded to cents
    )
    assert [t["kpi"] for t in std["trade_offs"]] == ["cost", "churned", "complaints"]
    assert "USD" not in html.split("</header>")[1].split("What was run")[0]


def test_default_compare_report_can_be_switched_off(tmp_path):
    result = CliRunner().invoke(
        app,
        ["compare", str(SMALL), "--strategies", "standard,none", "--replications", "2",
         "--accounts", "300", "--days", "20", "--out", str(tmp_path), "--no-report"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    assert (folder / "comparison.csv").exists() and not (folder / "report.html").exists()


def test_report_cli(folders, tmp_path):
    run, exp = folders
    runner = CliRunner()
    for folder in (run, exp):
        result = runner.invoke(app, ["report", str(folder)])
        assert result.exit_code == 0, result.output
        assert (folder / "report.html").exists()
    bad = runner.invoke(app, ["report", str(tmp_path)])
    assert bad.exit_code == 2 and "neither a run folder nor an experiment" in bad.stderr
    assert "Traceback" not in bad.output


_PROBE = """<script>
window.__errors = [];
window.onerror = function (msg, src, line) { window.__errors.push(msg + ' @' + line); };
window.addEventListener('unhandledrejection', function (e) {
  window.__errors.push('unhandled rejection: ' + e.reason); });
window.addEventListener('load', function () { setTimeout(function () {
  var m = document.createElement('div');
  m.id = 'probe';
  m.setAttribute('data-errors', JSON.stringify(window.__errors));
  m.setAttribute('data-plots', document.querySelectorAll('.js-plotly-plot').length);
  m.setAttribute('data-svgs', document.querySelectorAll('svg.main-svg').length);
  document.body.appendChild(m); }, 500); });
</script>"""


def _render(html_path: Path, tmp: Path) -> dict:
    browser = chromium()
    probe = tmp / f"probe-{html_path.parent.name}.html"
    probe.write_text(html_path.read_text().replace("<head>", "<head>" + _PROBE, 1))
    from postloan.reports.browser import _FLAGS  # the flags the report's own browser uses

    cmd = [
        browser,
        *_FLAGS,
        f"--user-data-dir={tmp / 'profile'}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        probe.as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(
        r'<div id="probe" data-errors="([^"]*)" data-plots="(\d+)" data-svgs="(\d+)"', out.stdout
    )
    assert m, f"the page's scripts did not run: {out.stderr[-2000:]}"
    errors = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return {"errors": errors, "plots": int(m.group(2)), "svgs": int(m.group(3))}


@pytest.mark.skipif(
    chromium() is None and os.environ.get("CI") != "true",
    reason="headless Chromium is not installed (apt-get install chromium); required under CI",
)
def test_reports_render_in_headless_chromium(folders, tmp_path):
    assert chromium() is not None, "CI must install chromium (see .ci/run)"
    run, exp = folders
    for folder, writer, min_plots in (
        (run, write_run_report, 6),
        (exp, write_experiment_report, 6),
    ):
        page = writer(folder)
        got = _render(page, tmp_path)
        assert got["errors"] == [], got
        assert got["plots"] >= min_plots, got
        assert got["svgs"] >= got["plots"], got  # every chart was drawn


@pytest.mark.skipif(
    chromium() is None and os.environ.get("CI") != "true",
    reason="headless Chromium is not installed (apt-get install chromium); required under CI",
)
def test_first_screen_of_the_comparison_says_who_wins(three_way, tmp_path):
    """Issue 19: in a 1280 x 800 browser window, without scrolling, the comparison report shows
    the winner, its interval in the scenario's currency, and the trade-offs (cost, churn,
    complaints) for every challenger. Checked on the rendered DOM (each element's box inside
    the first screen, its text) and saved as a screenshot."""
    from postloan.reports import browser

    folder, _ = three_way
    page = folder / "report.html"
    seen = browser.look(page, ["winner", "headline", "trade-offs"])
    for element in ("winner", "headline", "trade-offs"):
        assert seen.in_first_screen(element), (element, seen.elements.get(element), seen.viewport)
    assert "Winner on net value: standard" in seen.elements["winner"]["text"]
    headline = seen.elements["headline"]["text"]
    assert re.search(r"95 % interval \+[\d,]+ EUR to \+[\d,]+ EUR", headline), headline
    table = seen.elements["trade-offs"]["text"]
    for text in ("collection cost (EUR)", "churned customers", "complaints", "light_touch",
                 "standard", "won"):  # fmt: skip
        assert text in table, (text, table)
    png = browser.screenshot(page, tmp_path / "first_screen.png")
    assert browser.png_size(png) == browser.VIEWPORT
    assert png.stat().st_size > 20_000  # a drawn page, not a blank one


def test_cn_profile_with_dollar_amounts_says_so(folders):
    """A comparison under the cn compliance profile whose scenario counts in USD tells the
    reader how to set the currency; one in CNY (or another profile) does not."""
    from postloan.reports.experiment import _about
    from postloan.storage.experiments import ExperimentStore

    _, exp = folders
    store = ExperimentStore(exp)
    man = {**store.manifest, "compliance": "cn"}
    assert "currency: CNY" in "".join(_about(man, store, ["standard"], "USD"))
    assert "currency: CNY" not in "".join(_about(man, store, ["standard"], "CNY"))
    assert "currency: CNY" not in "".join(_about(store.manifest, store, ["standard"], "USD"))
