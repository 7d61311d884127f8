"""A self-contained HTML report: results table, notes, embedded PNG plots, software versions.

Nothing is loaded from the network; figures are ``data:`` URIs, so the file can be mailed or
attached to a paper's supplement as it is.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from analysis import AnalysisResult

__all__ = ["format_number", "render_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}
td.l,th.l{text-align:left}td.note{text-align:left;color:#555;max-width:28rem}
tr.first td{border-top:2px solid #999}
figure{display:inline-block;margin:1rem}figcaption{font-size:.85rem;color:#555}
.meta{font-size:.85rem;color:#555}
"""


def _protocol_title(protocol_id: str) -> str:
    from analysis.registry import analysis_protocols

    known = analysis_protocols().get(protocol_id)
    return known.title if known is not None else protocol_id


def format_number(value: float, digits: int = 4) -> str:
    """Numbers for reading: ``digits`` significant digits; magnitudes of 10⁵ and more in
    scientific notation; below 10⁻⁴ the table's precision, ``0.0000`` (an estimate of
    ``-3.43e-14`` is a zero computed in floating point, not a finding)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    v = float(value)
    if v == 0:
        return "0"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v.is_integer() and abs(v) < 1e12:
        return str(int(v))
    if abs(v) >= 1e5:
        return f"{v:.{digits - 1}e}"
    if abs(v) < 10.0**-digits:
        return f"{0.0:.{digits}f}"
    return f"{v:.{digits}g}"


def _p(value: float) -> str:
    if not np.isfinite(value):
        return ""
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def render_report(
    result: AnalysisResult,
    *,
    title: str | None = None,
    sections: Sequence[tuple[str, Sequence[str]]] = (),
) -> str:
    """The HTML text of the report of ``result``; ``sections``: more (heading, items) lists
    after the data notes (e.g. the deviations from the preregistration)."""
    heading = title or f"Analysis: {_protocol_title(result.protocol)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(heading)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(heading)}</h1>",
        '<p class="meta">'
        f"{result.n_participants} participants, {result.n_items} items, "
        f"{result.n_responses} responses analysed; bootstrap seed {result.seed}. "
        "Estimates with 95% confidence intervals; p-values adjusted within each analysis "
        "(Holm, or Benjamini–Hochberg where the note says so).</p>",
    ]
    if result.notes:
        parts.append("<h2>Data notes</h2><ul>")
        parts += [f"<li>{html.escape(n)}</li>" for n in result.notes]
        parts.append("</ul>")
    for heading_text, items in sections:
        parts.append(f"<h2>{html.escape(heading_text)}</h2><ul>")
        parts += [f"<li>{html.escape(str(item))}</li>" for item in items]
        parts.append("</ul>")
    parts.append("<h2>Results</h2>")
    parts.append(_table(result))
    if result.plots:
        parts.append("<h2>Figures</h2>")
        for name, png in sorted(result.plots.items()):
            data = base64.b64encode(png).decode("ascii")
            label = html.escape(name.replace("_", " "))
            parts.append(
                f'<figure><img alt="{label}" src="data:image/png;base64,{data}">'
                f"<figcaption>{label}</figcaption></figure>"
            )
    parts.append('<h2>Software</h2><p class="meta">')
    parts.append(
        ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in result.versions.items())
    )
    parts.append(
        '</p><p class="meta">Definitions of every analysis and term: '
        "analysis/README.md of the platform.</p></body></html>"
    )
    return "\n".join(parts)


def _table(result: AnalysisResult) -> str:
    df = result.results
    cols = [
        "analysis",
        "term",
        "estimate",
        "ci_low",
        "ci_high",
        "statistic",
        "df",
        "p",
        "p_adjusted",
        "n",
        "note",
    ]
    head = "".join(
        f'<th class="{"l" if c in ("analysis", "term", "note") else ""}">{html.escape(c)}</th>'
        for c in cols
    )
    rows = []
    previous = None
    for rec in df.to_dict("records"):
        first = rec["analysis"] != previous
        previous = rec["analysis"]
        cells = [
            f'<td class="l">{html.escape(str(rec["analysis"])) if first else ""}</td>',
            f'<td class="l">{html.escape(str(rec["term"]))}</td>',
        ]
        for c in ("estimate", "ci_low", "ci_high", "statistic", "df"):
            cells.append(f"<td>{format_number(rec[c])}</td>")
        cells.append(f"<td>{_p(rec['p'])}</td><td>{_p(rec['p_adjusted'])}</td>")
        n = rec["n"]
        cells.append(f"<td>{format_number(n)}</td>")
        cells.append(f'<td class="note">{html.escape(str(rec["note"]))}</td>')
        rows.append(f'<tr class="{"first" if first else ""}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
