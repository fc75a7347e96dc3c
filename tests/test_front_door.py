"""The front door on bad input and interruptions: one clear message, exit 2 (130 on Ctrl-C),
no traceback, nothing left behind; and output meant for people.

Each case of issue 15's "Tracebacks or worse" and "Silent acceptance" lists that is not a
file-loader case has a test here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from postloan.cli import COMMAND_MODULES, app
from postloan.experiments.runner import execute_experiment
from postloan.experiments.spec import load_experiment
from postloan.storage.experiments import ExperimentStore
from tests.cli_checks import user_error

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
TINY = ["--accounts", "300", "--days", "20"]
runner = CliRunner()


def invoke(*args: str, columns: int = 300):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a simulation starts: the error must come before it."""

    def refuse(*args, **kwargs):
        raise AssertionError("the simulation ran before the input was checked")

    import sim.engine

    monkeypatch.setattr(sim.engine, "simulate", refuse)


def scenario_named(tmp_path: Path, name: str) -> Path:
    data = yaml.safe_load(SMALL.read_text())
    data["name"] = name
    path = tmp_path / "named.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ------------------------------------------------------------------------------ the wrapper
def test_every_command_goes_through_the_one_error_wrapper():
    import typer.main

    seen = 0

    def walk(t):
        nonlocal seen
        for c in t.registered_commands:
            assert getattr(c.callback, "__guarded__", False), c.callback
            seen += 1
        for g in t.registered_groups:
            cb = g.typer_instance.registered_callback
            if cb is not None and cb.callback is not None:
                assert getattr(cb.callback, "__guarded__", False), cb.callback
            walk(g.typer_instance)

    walk(app)
    assert seen >= 16  # run, schedule, experiment, compare, ..., strategies list/show/validate
    assert typer.main.get_command(app) is not None
    # every command module is registered (errors and display are shared helpers, not commands)
    modules = {p.stem for p in (ROOT / "postloan" / "commands").glob("*.py")}
    assert {m.__name__.rsplit(".", 1)[1] for m in COMMAND_MODULES} == modules - {
        "__init__",
        "errors",
        "display",
    }


def test_interrupt_inside_a_compiled_kernel_is_a_clean_exit_130():
    """numba reports a Ctrl-C inside a kernel as SystemError("... returned a result with an
    exception set") whose context is the KeyboardInterrupt: still one line and exit 130."""
    import typer

    from postloan.commands.errors import command

    t = typer.Typer()

    def kernel_interrupted():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("<built-in function x> returned a result with an exception set")  # noqa: B904

    @command(t, "a")
    def a() -> None:
        kernel_interrupted()

    @command(t, "b")
    def b() -> None:
        raise SystemError("a genuine bug")

    result = runner.invoke(t, ["a"])
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert result.stderr.strip() == "interrupted: nothing half-written was kept"
    bug = runner.invoke(t, ["b"])
    assert bug.exit_code == 1 and isinstance(bug.exception, SystemError)  # bugs stay loud


# ------------------------------------------------------------------------------ run
def test_scenario_name_outside_out_is_refused_before_the_simulation(tmp_path, no_simulation):
    bad = scenario_named(tmp_path, "../../escaped")
    out = tmp_path / "deep" / "er" / "out"
    before = tree(tmp_path)
    result = invoke("run", bad, *TINY, "--out", out)
    user_error(result, "'../../escaped'", "name")
    assert tree(tmp_path) == before  # nothing written, inside --out or outside it


@pytest.mark.parametrize("seed", ["18446744073709551616", "-1", "9223372036854775808"])
def test_out_of_range_seed(tmp_path, seed, no_simulation):
    result = invoke("run", SMALL, *TINY, "--seed", seed, "--out", tmp_path / "out")
    user_error(result, "--seed", "9,223,372,036,854,775,807")
    assert not (tmp_path / "out").exists()


def test_out_pointing_at_a_file_fails_before_the_simulation(tmp_path, no_simulation):
    target = tmp_path / "a_file"
    target.write_text("keep me\n")
    result = invoke("run", SMALL, *TINY, "--out", target)
    user_error(result, "--out", "is a file")
    assert target.read_text() == "keep me\n"
    result = invoke("run", SMALL, *TINY, "--out", target / "below")
    user_error(result, "--out", "is a file")


def test_out_on_a_read_only_file_system_fails_before_the_simulation(
    tmp_path, monkeypatch, no_simulation
):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.statvfs

    class ReadOnly:  # statvfs of a read-only mount (root can write any folder otherwise)
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            return getattr(self._st, name)

        @property
        def f_flag(self):
            return self._st.f_flag | os.ST_RDONLY

    monkeypatch.setattr(
        os, "statvfs", lambda p: ReadOnly(real(p)) if str(ro) in str(p) else real(p)
    )
    result = invoke("run", SMALL, *TINY, "--out", ro / "results")
    user_error(result, "--out", "cannot write there")
    assert tree(ro) == []


def _default_ctrl_c() -> None:
    """In the child, Ctrl-C as a terminal delivers it: a suite started in the background of a
    shell without job control inherits SIGINT ignored, and so would the command under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _messages(stderr: str) -> list[str]:
    """The lines a command printed on stderr, less the notice of a compile (kernels compiled
    after a source change, before the interrupt: announced, not an error)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("compiling numba kernels")
    ]


def test_ctrl_c_during_run_exits_130_in_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from postloan.cli import main; main()", "run", str(SMALL),
         "--engine", "abm", "--accounts", "50000", "--days", "3650", "--out", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_ctrl_c,
    )  # fmt: skip
    # the agent model on a long horizon takes minutes: after start-up it is mid-simulation
    # (the vector engine finishes big books in seconds, and 100,000 x 3,650 trips a ledger check)
    time.sleep(6)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "SystemError" not in stderr, stderr
    lines = _messages(stderr)
    assert len(lines) == 1 and lines[0].startswith("interrupted"), stderr
    assert tree(out) == []  # no run folder, no hidden temporary folder


# ------------------------------------------------------------------------------ experiments
def write_spec(folder: Path, **fields) -> Path:
    spec = {
        "name": "tiny",
        "scenario": str(SMALL),
        "overrides": {"accounts": 300, "days": 20},
        "strategies": ["standard", "none"],
        "replications": 2,
        "seed": 11,
    }
    spec.update(fields)
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_unknown_kpi_in_an_experiment_is_refused_with_the_allowed_list(tmp_path):
    spec = write_spec(tmp_path, kpis=["net_recovery", "net_recovry"])
    result = invoke("experiment", spec, "--out", tmp_path / "out")
    user_error(result, str(spec), "kpis", "'net_recovry'", "allowed:", "cure_rate")
    assert not (tmp_path / "out").exists()


def test_resume_with_nothing_to_resume(tmp_path):
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    result = invoke("experiment", spec, "--out", out, "--resume", "--no-report")
    user_error(result, "--resume", "nothing to resume", "tiny")
    assert tree(out) == []
    result = invoke("compare", SMALL, "--strategies", "standard,none", *TINY, "--replications",
                    "2", "--out", out, "--resume")  # fmt: skip
    user_error(result, "--resume", "nothing to resume")
    assert tree(out) == []


def test_interrupt_leaves_a_truthful_manifest(tmp_path):
    exp = load_experiment(write_spec(tmp_path, replications=3))
    total = len(exp.cells())
    seen = []

    def stop_after_four(cell):
        seen.append(cell.key)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute_experiment(exp, tmp_path / "out", on_cell=stop_after_four)
    (folder,) = (tmp_path / "out").iterdir()
    store = ExperimentStore(folder)
    man = store.manifest
    assert man["status"] == "interrupted"
    assert man["cells_done"] == len(store.cell_files()) == 4 < total
    assert store.status() == ("interrupted", 4, total)


def test_ctrl_c_during_a_parallel_compare(tmp_path):
    """Ctrl-C reaches the whole process group (the workers too): exit 130, one line, the
    finished cells kept and counted in a manifest marked interrupted."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from postloan.cli import main; main()", "compare", str(SMALL),
         "--strategies", "standard,none", "--replications", "20", "--accounts", "20000",
         "--days", "120", "-j", "2", "--out", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=_default_ctrl_c,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if list(out.glob("*/cells/v*-r*[0-9].parquet")):
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr, stderr
    lines = _messages(stderr)
    assert len(lines) == 1 and "--resume" in lines[0], stderr
    (folder,) = out.iterdir()
    store = ExperimentStore(folder)
    status, on_disk, total = store.status()
    assert status == "interrupted" and 1 <= on_disk < total == 40
    assert store.manifest["cells_done"] == on_disk
    assert not list(folder.rglob("*.tmp"))


def test_killed_experiment_is_listed_as_interrupted_with_its_cells_on_disk(tmp_path):
    """A process killed outright cannot update its manifest: readers tell the truth anyway."""
    exp = load_experiment(write_spec(tmp_path, replications=3))
    out = tmp_path / "out"
    store = ExperimentStore.create(out, exp, {"kind": "serial"})
    # as a killed process leaves it: "running", a dead pid, cells on disk
    for cell in exp.cells()[:5]:
        store.save_cell({"cell": cell.key, "fingerprint": "x"})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.update_manifest(status="running", cells_done=0, pid=dead.pid)
    result = invoke("runs", "list", "--results", out, "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["status"] == f"interrupted 5/{len(exp.cells())}"
    shown = invoke("runs", "show", store.experiment_id, "--results", out)
    assert f"(interrupted, 5/{len(exp.cells())} cells)" in shown.stdout


# ------------------------------------------------------------------------------ query
def test_query_cannot_write_files_or_attach_databases(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    for sql in (
        "copy (select 1) to 'x.csv'",
        "attach 'other.db' as other",
        "select * from read_csv('/etc/passwd')",
        "set enable_external_access = true",
    ):
        result = invoke("query", sql)
        user_error(result, "query failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    assert tree(tmp_path / "results") == []


def test_query_prints_numbers_without_scientific_notation(tmp_path):
    (tmp_path / "r").mkdir()
    result = invoke("query", "select 1564630.25 as big, 0.000123 as small, 42 as n",
                    "--results", tmp_path / "r")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1,564,630.25" in result.stdout and "0.000123" in result.stdout
    assert "e+" not in result.stdout and "e-" not in result.stdout


# ------------------------------------------------------------------------------ versions
@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("versions")
    for seed in ("1", "2"):
        result = invoke("run", SMALL, *TINY, "--seed", seed, "--out", out, "--json")
        assert result.exit_code == 0, result.output
    return out


def test_query_refuses_to_pool_model_versions_unless_told(two_runs, tmp_path):
    import shutil

    out = tmp_path / "results"
    shutil.copytree(two_runs, out)
    ok = invoke("query", "select count(*) as n, min(model_version) as v from runs",
                "--results", out, "--format", "json")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)[0]["n"] == 2
    first = sorted(out.iterdir())[0] / "manifest.json"
    man = json.loads(first.read_text())
    man["model_version"] = "0.0.9+0123456789ab"
    first.write_text(json.dumps(man))
    sql = "select model_version, count(*) as n from runs group by 1 order by 1"
    user_error(invoke("query", sql, "--results", out), "2 model versions", "--allow-mixed")
    mixed = invoke("query", sql, "--results", out, "--allow-mixed-versions", "--format", "json")
    assert mixed.exit_code == 0, mixed.output
    assert [r["n"] for r in json.loads(mixed.stdout)] == [1, 1]


def test_compare_resume_refuses_cells_of_another_model_version(tmp_path):
    args = ["compare", SMALL, "--strategies", "standard,none", *TINY, "--replications", "2",
            "--out", tmp_path, "--json"]  # fmt: skip
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    (folder,) = tmp_path.iterdir()
    man = json.loads((folder / "manifest.json").read_text())
    man["model_version"] = "0.0.9+0123456789ab"
    (folder / "manifest.json").write_text(json.dumps(man))
    user_error(invoke(*args, "--resume"), "model version 0.0.9+0123456789ab", "--allow-mixed")
    again = invoke(*args, "--resume", "--allow-mixed-versions")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["cells_reused"] == 4


def test_result_folder_of_a_newer_schema_is_refused(two_runs, tmp_path):
    import shutil

    out = tmp_path / "results"
    shutil.copytree(two_runs, out)
    folder = sorted(out.iterdir())[0]
    man = json.loads((folder / "manifest.json").read_text())
    assert man["schema_version"] == 2
    man["schema_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(man))
    user_error(
        invoke("runs", "show", folder.name, "--results", out), "schema version 99", "upgrade"
    )
    user_error(invoke("report", folder), "schema version 99")
    assert (
        not (folder / "report.html").exists() or (two_runs / folder.name / "report.html").exists()
    )


# ------------------------------------------------------------------------------ for people
def test_runs_list_shows_full_names_at_80_columns(two_runs):
    result = invoke("runs", "list", "--results", two_runs, columns=80)
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout and "..." not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    # the id column's lines, joined: a folded id continues on the next line
    first = "".join(
        line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│")
    )
    for d in two_runs.iterdir():
        assert d.name in first


def test_strategies_list_does_not_cut_descriptions(monkeypatch):
    from strategies.registry import names, resolve

    result = invoke("strategies", "list", columns=80)
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    words = " ".join(
        line.split("│")[3] for line in result.stdout.splitlines() if line.count("│") == 4
    ).split()
    text = " ".join(words)
    for name in names():
        desc = " ".join((getattr(resolve(name), "description", "") or "").split())
        if desc:
            assert desc[-25:] in text, (name, desc)


def test_comparison_csv_is_rounded_and_json_keeps_full_precision(tmp_path):
    result = invoke("compare", SMALL, "--strategies", "standard,none", *TINY,
                    "--replications", "3", "--out", tmp_path, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.iterdir()
    csv = pd.read_csv(folder / "comparison.csv")
    full = pd.DataFrame(json.loads((folder / "comparison.json").read_text())["rows"])
    money = csv[csv["kpi"] == "net_recovery"]["mean"]
    assert ((money * 100).round(6) % 1 == 0).all()  # cents at most
    rate = csv[csv["kpi"] == "cure_rate"]["mean"]
    assert ((rate * 1e6).round(3) % 1 == 0).all()
    fm = full[full["kpi"] == "net_recovery"]["mean"].to_numpy()
    assert money.to_numpy() == pytest.approx(fm, abs=0.005)
    assert any((x * 100) % 1 for x in full["mean"].dropna())  # JSON: not rounded


def test_compare_tables_fold_long_kpi_names_at_80_columns(tmp_path):
    result = invoke("compare", SMALL, "--strategies", "standard,none", *TINY,
                    "--replications", "2", "--out", tmp_path, columns=80)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    kpis = "".join(
        line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│")
    )
    assert "delinquency_rate_30p" in kpis and "lifetime_value_lost" in kpis


def test_kpis_lists_the_outcome_registry():
    from sim.outcomes import OUTCOMES

    result = invoke("kpis", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert len(rows) == len(OUTCOMES)
    assert rows["net_recovery"]["better"] == "higher" and rows["churned"]["better"] == "lower"
    assert rows["contacts_<part>"]["better"] == "neutral"
    table = invoke("kpis", columns=80)
    assert table.exit_code == 0 and "net_recovery" in table.stdout and "…" not in table.stdout


def test_run_table_shows_the_currency(tmp_path):
    result = invoke("run", SMALL, *TINY, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "net_recovery (USD)" in result.stdout
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "manifest.json").read_text())["currency"] == "USD"
    assert "money in</th><td>USD" in (folder / "report.html").read_text()


# ------------------------------------------------------------------------------ start-up
def test_run_imports_only_what_it_uses(tmp_path):
    """``postloan run`` (report included) loads no module of another command (optimiser,
    calibration, Mesa, DuckDB...) and no plotly graph objects or validators: their imports
    would cost start-up time of every run."""
    code = (
        "import sys\n"
        f"sys.argv = ['postloan', 'run', {str(SMALL)!r}, *{TINY!r}, '--out', {str(tmp_path)!r}]\n"
        "from postloan.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "unused = ('optimizer', 'sim.abm', 'sim.calibration', 'scipy.stats', 'mesa', 'duckdb', "
        "'pyomo', 'dask', 'plotly.graph_objs', 'plotly.io', '_plotly_utils.basevalidators', "
        "'narwhals')\n"
        "print('UNUSED', sorted(m for m in sys.modules if m.startswith(unused)), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )
    assert "UNUSED []" in proc.stderr, proc.stderr[-3000:]
    (folder,) = tmp_path.iterdir()
    assert (folder / "report.html").exists()


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [
        (["--help"], set()),
        (["trial", "--help"], set()),
        (["strategies", "list"], {"numpy"}),
        (["strategies", "validate", "strategies/library/aggressive.yaml"], {"numpy"}),
        (["strategies", "show", "standard"], {"numpy"}),
    ],
)
def test_light_commands_import_no_heavy_modules(argv, allowed):
    """In a fresh process, ``--help`` imports none of numpy, pandas, scipy, numba...; the
    strategy commands only numpy (rule tables are arrays): no compiler, no scipy, no pandas."""
    code = (
        "import sys\n"
        f"sys.argv = ['postloan', *{argv!r}]\n"
        "from postloan.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numpy', 'pandas', 'scipy', 'numba', 'pyarrow', 'duckdb', 'plotly', 'pyomo'})\n"
        "print('HEAVY', heavy, 'EXIT', code, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
    )
    assert f"HEAVY {sorted(allowed)!r} EXIT 0" in proc.stderr, proc.stderr
