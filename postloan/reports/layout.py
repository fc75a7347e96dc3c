"""What the run and comparison reports share beyond :mod:`postloan.reports.html`: a header
area kept apart from the content (title, one line of context, room for notices such as an
"illustrative, not calibrated" banner), the definitions of the KPIs shown (from the outcome
registry), and styles: compact tables, chart grids, and print rules: A4 portrait, the page
at 60 % so that 1,200 px (the widest a chart is drawn on screen) fit the printed width."""

from __future__ import annotations

from postloan.reports.html import esc
from sim.outcomes import definition, direction, label, unit

REPORT_CSS = """
.report-header{border-bottom:2px solid #1f4e79;margin-bottom:.8em;padding-bottom:.3em}
.report-header h1{margin:.1em 0}.report-header .sub{margin:.2em 0;color:#444}
.decision{background:#f5f8fc;border:1px solid #c9d6e8;border-radius:6px;padding:.6em 1em}
.winner{font-size:1.35em;margin:.2em 0}.winner b{color:#1f4e79}
.headline{font-size:1.05em;margin:.3em 0 .6em}
table.compact{font-size:.85em}table.compact td,table.compact th{padding:.2em .45em}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:10px}
dl.defs{columns:2;font-size:.85em}dl.defs dt{font-weight:600}
dl.defs dd{margin:0 0 .4em 0;break-inside:avoid}
@page{size:A4;margin:10mm}
@media print{body{zoom:.6;max-width:none;padding:0}h2{break-after:avoid}
.js-plotly-plot,table,.decision{break-inside:avoid}}
"""


def header(title: str, sub: str, notices: str = "") -> str:
    """The report's header area: its title, one line of context and any ``notices`` (a banner
    such as "illustrative, not calibrated"), all already HTML."""
    return (
        f"<header class='report-header'><h1>{title}</h1><p class='sub'>{sub}</p>{notices}</header>"
    )


def better_text(kpi: str) -> str:
    """``higher is better``, ``lower is better`` or ``no better direction``."""
    d = direction(kpi)
    return f"{d} is better" if d in ("higher", "lower") else "no better direction"


def definitions(kpis: list[str], currency: str) -> list[str]:
    """A "Definitions" section: each KPI's readable name, unit, better direction, column
    name and definition, from :mod:`sim.outcomes`."""
    items = "".join(
        f"<dt>{esc(label(k))} ({esc(unit(k, currency) or 'n/a')}; {esc(better_text(k))})</dt>"
        f"<dd><code>{esc(k)}</code>: {esc(definition(k))}</dd>"
        for k in kpis
    )
    return ["<h2>Definitions</h2>", f"<dl class='defs'>{items}</dl>"]
