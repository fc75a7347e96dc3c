"""HTML building blocks of the reports: the page (plotly.js inlined once, so it opens
offline), tables and escaping."""

from __future__ import annotations

import html
import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path

from sim.atomic import write_bytes

#: The report's file name inside a run or experiment folder.
REPORT_FILE = "report.html"

BUCKETS = ("current", "1-30", "31-60", "61-90", "91-120", "charged_off", "paid_off")
COLS = ("current", "1_30", "31_60", "61_90", "91_120", "charged_off", "paid_off")
CHANNELS = (
    "sms",
    "email",
    "ivr",
    "letter",
    "call",
    "visit",
    "legal_notice",
    "restructure_offer",
    "recovery",
)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1.5em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.meta td{text-align:left}.sig{color:#0a6b2d;font-weight:600}.ns{color:#777}
.worse{color:#a31515;font-weight:600}.note{color:#555;font-size:.9em}
"""


class ReportError(ValueError):
    """A folder that is neither a run nor an experiment."""


def write_page(folder: Path, build: Callable[[Path], str | bytes]) -> Path:
    """Write ``build(folder)`` (text, or UTF-8 bytes) to ``folder/report.html`` atomically;
    returns its path."""
    folder = Path(folder)
    content = build(folder)
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    return write_bytes(folder / REPORT_FILE, data)


# ---------------------------------------------------------------------------- helpers
def _plotly_js() -> bytes:
    """plotly.js, minified, as plotly ships it (what ``plotly.offline.get_plotlyjs()``
    returns, left undecoded: 4.8 MB with some non-ASCII characters, cheaper to copy as bytes
    than as text)."""
    import pkgutil

    data = pkgutil.get_data("plotly", "package_data/plotly.min.js")
    if data is None:  # pragma: no cover - a plotly installed without its package data
        from plotly.offline import get_plotlyjs

        return get_plotlyjs().encode("utf-8")
    return data


#: The look of every chart: plotly's ``plotly_white`` template and these margins.
TEMPLATE = "plotly_white"
MARGIN = {"l": 60, "r": 20, "t": 50, "b": 50}
_CONFIG = {"displaylogo": False, "responsive": True}


@cache
def _template() -> dict:
    """The ``plotly_white`` template as the JSON plotly ships it (what
    ``update_layout(template="plotly_white")`` puts into a figure), read without building
    the graph objects ``plotly.io.templates`` would."""
    from importlib.resources import files

    path = files("plotly").joinpath("package_data", "templates", f"{TEMPLATE}.json")
    return json.loads(path.read_text(encoding="utf-8"))


#: What plotly escapes in a figure's JSON so that no string in it can close the
#: ``<script>`` (plotly.io's ``_swap_json``).
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "/": "\\u002f"})


def _finite(x):
    """``x`` with NaN and infinities as None (null: a gap in the chart), as plotly's own JSON
    encoder writes them."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    return x


def figure_div(fig: dict) -> str:
    """The ``<div>`` and ``Plotly.newPlot`` call of a plotly figure dict, as
    ``plotly.io.to_html(fig, validate=False, full_html=False, include_plotlyjs=False)`` writes
    it, with the report's template and margins.

    Written here rather than through ``plotly.io``, whose import pulls in plotly's validators
    and narwhals (tens of milliseconds of every ``postloan run``). The figure is not
    validated: see :mod:`postloan.reports.charts`.
    """
    layout = {**fig.get("layout", {}), "template": _template(), "margin": MARGIN}
    height = layout.get("height")
    style = f"height:{height}px; width:100%;" if height is not None else "height:100%; width:100%;"
    dump = partial(json.dumps, separators=(",", ":"), allow_nan=False)
    args = ", ".join(
        dump(_finite(part)).translate(_SCRIPT_SAFE)
        for part in (fig.get("data", []), layout, _CONFIG)
    )
    plot_id = str(uuid.uuid4())
    return (
        f'<div style="{style}"><div id="{plot_id}" class="plotly-graph-div" '
        'style="height:100%; width:100%;"></div>'
        "<script>window.PLOTLYENV=window.PLOTLYENV || {};"
        f'if (document.getElementById("{plot_id}")) {{Plotly.newPlot("{plot_id}", {args})}};'
        "</script></div>"
    )


def div(fig) -> str:
    """A chart's ``<div>`` for a page that inlines plotly.js once (:func:`page`).

    ``fig`` is a plotly figure dict (``{"data": [...], "layout": {...}}``, drawn by
    :func:`figure_div`) or a ``plotly.graph_objects.Figure``.
    """
    if isinstance(fig, dict):
        return figure_div(fig)
    fig.update_layout(template=TEMPLATE, margin=MARGIN)
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_CONFIG)


def esc(x) -> str:
    return html.escape(str(x))


def page_bytes(title: str, body: list[str], extra_css: str = "") -> bytes:
    """The report page (UTF-8): ``body`` (HTML fragments) under ``title``, plotly.js inlined;
    ``extra_css`` is appended to the shared styles."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{_CSS}{extra_css}</style><script>"
    )
    tail = (
        "</script></head><body>"
        + "\n".join(body)
        + f"<p class='note'>Generated {stamp} by PostLoan Lab. The page works offline.</p>"
        "</body></html>\n"
    )
    return b"".join((head.encode("utf-8"), _plotly_js(), tail.encode("utf-8")))


def page(title: str, body: list[str], extra_css: str = "") -> str:
    """:func:`page_bytes` as text."""
    return page_bytes(title, body, extra_css).decode("utf-8")


def meta_table(items: dict) -> str:
    rows = "".join(
        f"<tr><th class='l'>{esc(k)}</th><td>{esc(v)}</td></tr>"
        for k, v in items.items()
        if v is not None
    )
    return f"<table class='meta'>{rows}</table>"


def table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    th = "".join(
        f"<th class='{'l' if i < left else ''}'>{esc(h)}</th>" for i, h in enumerate(header)
    )
    body = []
    for r in rows:
        tds = "".join(f"<td class='{'l' if i < left else ''}'>{c}</td>" for i, c in enumerate(r))
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def nan_to_none(a):
    return [None if (x is None or (isinstance(x, float) and math.isnan(x))) else x for x in a]
