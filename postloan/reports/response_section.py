"""The experiment report's section on response uncertainty (``response_draws`` experiments):
per challenger, the difference at the scenario's own response (simulation noise only) beside the
share of response draws it wins and the range of the difference over the draws kept by the
trial library (response uncertainty), with what each interval covers said in words."""

from __future__ import annotations

from pathlib import Path

from postloan.experiments.response_draws import response_draws_of
from postloan.formatting import format_diff
from postloan.reports.html import esc, table


def interval_coverage(folder: Path, samples: int) -> str:
    """One sentence on what the comparison table's intervals cover: simulation noise only, or
    the uncertainty samples' parameters too."""
    if response_draws_of(folder):
        return (
            "The comparison table is at the scenario's own response: its intervals cover "
            "simulation noise only; response uncertainty is in the section below."
        )
    if samples > 1:
        return (
            f"Intervals pool {samples} uncertainty samples: they cover the sampled parameters' "
            "uncertainty as well as simulation noise."
        )
    return (
        "Intervals cover simulation noise only (behavioural luck), not the uncertainty of the "
        "response to contacts: postloan compare --response-draws N repeats the comparison over "
        "draws of it."
    )


def response_draws_section(folder: Path) -> list[str]:
    """The HTML of the section, or nothing for an experiment without response draws."""
    block = response_draws_of(folder)
    if not block:
        return []
    kpi = block["objective"]
    rows = []
    for row in block["summary"]:
        own, kept, every = row["own_response"], row["kept_draws"], row["all_draws"]
        shown = [own["difference"], own["low"], own["high"], kept["low"], kept["high"]]
        scale = max((abs(v) for v in shown if v is not None), default=1.0)

        def fd(x: float | None, scale: float = scale) -> str:
            return "n/a" if x is None else format_diff(kpi, x, scale)

        def share(d: dict) -> str:
            if d["share_better"] is None:
                return "no draw"
            return f"{d['share_better']:.0%} of {d['draws']}"

        rows.append(
            [
                esc(row["strategy"]),
                esc(f"{fd(own['difference'])} ({fd(own['low'])} to {fd(own['high'])})"),
                esc(share(kept)),
                esc(
                    f"{fd(kept['low'])} to {fd(kept['high'])}" if kept["draws"] else "no draw kept"
                ),
                esc(share(every)),
                esc(f"{fd(every['low'])} to {fd(every['high'])}" if every["draws"] else "n/a"),
            ]
        )
    outside = ", ".join(f"{k} {v}" for k, v in block["draws_with_trial_outside"].items() if v)
    return [
        f"<h2>Response uncertainty: {esc(kpi)} against the champion</h2>",
        f"<p>{block['draws']} Latin-hypercube draws of the response parameters; "
        f"{block['kept']} kept (every one of {block['trials']} trials inside its published "
        f"interval). Draws with a trial outside, per trial: {esc(outside or 'none')}. "
        f"Details per draw: {esc(block['checks_file'])}.</p>",
        table(
            [
                "challenger",
                "own response: difference (95 % interval)",
                "kept draws: wins",
                "kept draws: range",
                "all draws: wins",
                "all draws: range",
            ],
            rows,
        ),
        "<ul class='note'>"
        + "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in block["covers"].items())
        + "</ul>",
    ]
