"""Figures as PNG bytes (matplotlib's Agg canvas, no pyplot and no global state).

Deterministic: the same inputs give the same bytes (fixed size and dpi, no timestamp or software
tag in the PNG metadata). Colours are colour-blind safe (Okabe & Ito 2008; a diverging
brown–teal palette for Likert bars, Heiberger & Robbins 2014).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "accuracy_by_condition",
    "forest",
    "human_vs_metric_scatter",
    "likert_diverging",
    "win_matrix",
]

_BLUE = "#0072B2"
_ORANGE = "#E69F00"
_GREY = "#999999"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _title(fig: Figure, ax: Axes, text: str) -> None:
    """The axes' title, wrapped to the figure's width: a long caption on a narrow figure would
    otherwise run past its edges and be cut off in the PNG. Characters are taken as 0.6 em wide
    (DejaVu Sans averages about 0.55), with a margin for the axis labels' offset."""
    size = 12.0  # points: matplotlib's "large", the default title size
    width_pt = fig.get_figwidth() * 72.0
    chars = max(int(0.85 * width_pt / (0.6 * size)), 12)
    ax.set_title("\n".join(textwrap.wrap(text, chars)) if text else "", fontsize=size)


def _diverging_colors(k: int) -> list[tuple[float, float, float]]:
    low = np.array([0.65, 0.38, 0.12])
    mid = np.array([0.85, 0.85, 0.85])
    high = np.array([0.10, 0.50, 0.50])
    out = []
    for j in range(k):
        t = (j / (k - 1)) * 2 - 1 if k > 1 else 0.0
        c = mid + (low - mid) * (-t) if t < 0 else mid + (high - mid) * t
        out.append((float(c[0]), float(c[1]), float(c[2])))
    return out


def likert_diverging(
    methods: Sequence[str], categories: Sequence[str], shares: np.ndarray, title: str = ""
) -> bytes:
    """Diverging stacked bars: one bar per method, the middle category centred on 0.

    ``shares`` is methods × categories, rows summing to 1.
    """
    s = np.asarray(shares, dtype=float)
    k = s.shape[1]
    colors = _diverging_colors(k)
    half = k / 2.0
    fig = Figure(figsize=(7.0, 0.6 * len(methods) + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    for i in range(len(methods)):
        lows = s[i, : int(np.floor(half))].sum() + (s[i, k // 2] / 2.0 if k % 2 else 0.0)
        left = -lows
        for j in range(k):
            ax.barh(
                i,
                s[i, j],
                left=left,
                color=colors[j],
                edgecolor="white",
                linewidth=0.5,
                label=str(categories[j]) if i == 0 else None,
            )
            left += s[i, j]
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(methods)), [str(m) for m in methods])
    ax.invert_yaxis()
    ax.set_xlabel("share of ratings (left: below the midpoint, right: above)")
    ax.set_xlim(-1, 1)
    ax.legend(
        ncol=k, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False, title="rating"
    )
    _title(fig, ax, title or "Ratings per method")
    fig.tight_layout()
    return _png(fig)


def win_matrix(methods: Sequence[str], share: np.ndarray, counts: np.ndarray) -> bytes:
    """Heat map: cell (i, j) = share of i-vs-j comparisons won by i, with the count."""
    m = len(methods)
    fig = Figure(figsize=(1.0 * m + 2.5, 0.9 * m + 1.8))
    ax = fig.add_subplot(1, 1, 1)
    data = np.ma.masked_invalid(np.asarray(share, dtype=float))
    image = ax.imshow(data, cmap="RdBu", vmin=0, vmax=1)
    for i in range(m):
        for j in range(m):
            if i != j and counts[i, j] > 0:
                ax.text(
                    j,
                    i,
                    f"{share[i, j]:.2f}\n(n={int(counts[i, j])})",
                    ha="center",
                    va="center",
                    fontsize=8,
                )
    ax.set_xticks(range(m), [str(x) for x in methods], rotation=45, ha="right")
    ax.set_yticks(range(m), [str(x) for x in methods])
    ax.set_xlabel("opponent")
    ax.set_ylabel("method")
    _title(fig, ax, "Share of comparisons won (row vs column)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _png(fig)


def forest(
    terms: Sequence[str],
    estimates: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    *,
    title: str,
    xlabel: str,
    reference: float = 0.0,
) -> bytes:
    """Forest plot: point estimates with CIs, one line per term, a reference line."""
    est = np.asarray(estimates, dtype=float)
    lo = np.asarray(lows, dtype=float)
    hi = np.asarray(highs, dtype=float)
    fig = Figure(figsize=(6.5, 0.45 * len(terms) + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(terms))
    finite = np.isfinite(lo) & np.isfinite(hi)
    ax.hlines(y[finite], lo[finite], hi[finite], color=_BLUE, linewidth=2)
    ax.plot(est, y, "o", color=_BLUE)
    ax.axvline(reference, color=_GREY, linestyle="--", linewidth=1)
    ax.set_yticks(y, [str(t) for t in terms])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    _title(fig, ax, title)
    fig.tight_layout()
    return _png(fig)


def accuracy_by_condition(
    labels: Sequence[str],
    estimates: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    *,
    chance: float | None = 0.5,
    title: str = "Accuracy by condition (95% CI)",
) -> bytes:
    """Point-and-interval plot of accuracy per condition, with the chance level."""
    est = np.asarray(estimates, dtype=float)
    fig = Figure(figsize=(1.3 * len(labels) + 2.5, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(labels))
    lo = np.asarray(lows, dtype=float)
    hi = np.asarray(highs, dtype=float)
    # clipped at 0: a Wilson bound at a proportion of 0 or 1 equals it up to rounding
    yerr = np.clip(np.vstack([np.nan_to_num(est - lo), np.nan_to_num(hi - est)]), 0.0, None)
    ax.errorbar(x, est, yerr=yerr, fmt="o", color=_BLUE, capsize=4, linewidth=2)
    if chance is not None:
        ax.axhline(chance, color=_GREY, linestyle="--", linewidth=1, label="chance")
        ax.legend(frameon=False)
    ax.set_xticks(x, [str(lab) for lab in labels], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("proportion correct")
    _title(fig, ax, title)
    fig.tight_layout()
    return _png(fig)


def human_vs_metric_scatter(
    methods: Sequence[str],
    human: Sequence[float],
    metric: Sequence[float],
    *,
    measure: str,
    metric_name: str,
    rho: float,
) -> bytes:
    """Scatter of methods: human measure against a faithfulness metric, labelled points."""
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(metric, human, "o", color=_ORANGE)
    for name, xv, yv in zip(methods, metric, human, strict=True):
        ax.annotate(str(name), (xv, yv), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(metric_name)
    ax.set_ylabel(measure)
    rho_text = f"{rho:.2f}" if np.isfinite(rho) else "undefined"
    _title(fig, ax, f"{measure} vs {metric_name} (Spearman ρ = {rho_text})")
    fig.tight_layout()
    return _png(fig)
