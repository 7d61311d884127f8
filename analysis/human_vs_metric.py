"""Human judgements against objective faithfulness metrics, across methods.

For each metric, Spearman's ρ across methods between the human measure of a method (mean rating,
win rate, simulation accuracy …) and the method's mean metric score. The CI is a percentile
bootstrap over items (STATISTICS.md): items are resampled with replacement, both the human
measure and — when the metric table is per item — the metric means are recomputed on the resampled
items, and ρ is recomputed. The p-value is exact (all permutations) for up to 8 methods. p-values
are adjusted across metrics by Benjamini–Hochberg (an exploratory family).

Accepted metric tables (:func:`normalize_metrics`):

- long: columns ``method``, ``metric``, ``value`` and optionally ``item_id``;
- wide: column ``method`` (optionally ``item_id``) and one numeric column per metric;
- a mapping ``{metric: {method: value}}``.

Missing metric values (undefined scores, e.g. a correlation metric on a constant curve) are left
out of the means and counted in the note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from scipy import stats

from analysis.results import ResultBuilder, Row
from analysis.stat_tests import spearman
from analysis.table import TableError

__all__ = ["MetricsInput", "add_human_vs_metric_rows", "normalize_metrics"]

MetricsInput: TypeAlias = pd.DataFrame | Mapping[str, Mapping[str, float]]
ANALYSIS = "human_vs_metric"


def normalize_metrics(metrics: MetricsInput) -> pd.DataFrame:
    """The metric scores as a long table: ``method``, ``metric``, ``value``[, ``item_id``]."""
    if isinstance(metrics, Mapping):
        records = [
            {"method": str(method), "metric": str(metric), "value": value}
            for metric, per_method in metrics.items()
            for method, value in per_method.items()
        ]
        frame = pd.DataFrame.from_records(records, columns=["method", "metric", "value"])
    elif isinstance(metrics, pd.DataFrame):
        if "method" not in metrics.columns:
            raise TableError("the metrics table needs a 'method' column")
        if {"metric", "value"} <= set(metrics.columns):
            cols = ["method", "metric", "value"] + (
                ["item_id"] if "item_id" in metrics.columns else []
            )
            frame = metrics[cols].copy()
        else:
            ids = ["method"] + (["item_id"] if "item_id" in metrics.columns else [])
            value_cols = [c for c in metrics.columns if c not in ids]
            numeric = [c for c in value_cols if pd.api.types.is_numeric_dtype(metrics[c])]
            if not numeric:
                raise TableError(
                    "the metrics table has no numeric metric columns (wide form) "
                    "and no 'metric'/'value' columns (long form)"
                )
            frame = metrics.melt(
                id_vars=ids, value_vars=numeric, var_name="metric", value_name="value"
            )
    else:
        raise TableError(f"metrics must be a DataFrame or a mapping, got {type(metrics).__name__}")
    frame["method"] = frame["method"].astype(str).str.strip()
    frame["metric"] = frame["metric"].astype(str).str.strip()
    values = pd.to_numeric(frame["value"], errors="coerce")
    bad = frame["value"].notna() & values.isna()
    if bad.any():
        first = frame.loc[bad, "value"].iloc[0]
        raise TableError(f"metric values must be numeric; found {first!r}")
    frame["value"] = values.astype(float)
    if "item_id" in frame.columns:
        frame["item_id"] = frame["item_id"].astype(str).str.strip()
    return frame.reset_index(drop=True)


def add_human_vs_metric_rows(
    builder: ResultBuilder,
    *,
    human: pd.DataFrame,
    measure: str,
    metrics: pd.DataFrame,
    n_boot: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Add one row per metric; returns per-metric points for the scatter plot.

    ``human`` has columns ``item_id``, ``method``, ``total``, ``count``: the human measure of a
    method is Σ total / Σ count over items (e.g. ratings summed and counted).
    """
    methods = sorted(set(human["method"]))
    items = sorted(set(human["item_id"]))
    item_index = {it: k for k, it in enumerate(items)}
    method_index = {m: k for k, m in enumerate(methods)}
    h_total = np.zeros((len(items), len(methods)))
    h_count = np.zeros((len(items), len(methods)))
    hi = human["item_id"].map(item_index).to_numpy()
    hm = human["method"].map(method_index).to_numpy()
    np.add.at(h_total, (hi, hm), human["total"].to_numpy(dtype=float))
    np.add.at(h_count, (hi, hm), human["count"].to_numpy(dtype=float))
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(
        len(items), np.full(len(items), 1.0 / len(items)), size=n_boot
    ).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        human_point = h_total.sum(0) / h_count.sum(0)
        human_boot = (weights @ h_total) / (weights @ h_count)
    points: dict[str, dict[str, Any]] = {}
    for metric, part in metrics.groupby("metric", sort=True):
        points[str(metric)] = _one_metric(
            builder,
            str(metric),
            part,
            methods,
            items,
            item_index,
            human_point,
            human_boot,
            weights,
            measure,
        )
    return points


def _one_metric(
    builder: ResultBuilder,
    metric: str,
    part: pd.DataFrame,
    methods: list[str],
    items: list[str],
    item_index: dict[str, int],
    human_point: np.ndarray,
    human_boot: np.ndarray,
    weights: np.ndarray,
    measure: str,
) -> dict[str, Any]:
    n_missing = int(part["value"].isna().sum())
    part = part.dropna(subset=["value"])
    part = part[part["method"].isin(methods)]
    notes = [f"Spearman across methods of {measure} vs mean {metric}"]
    if n_missing:
        notes.append(f"{n_missing} missing metric value(s) left out")
    per_item = "item_id" in part.columns
    if per_item:
        part = part[part["item_id"].isin(item_index)]
    mi = np.array([methods.index(m) for m in part["method"]], dtype=int)
    if per_item and len(part):
        ii = part["item_id"].map(item_index).to_numpy()
        m_total = np.zeros((len(items), len(methods)))
        m_count = np.zeros((len(items), len(methods)))
        np.add.at(m_total, (ii, mi), part["value"].to_numpy())
        np.add.at(m_count, (ii, mi), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            metric_point = m_total.sum(0) / m_count.sum(0)
            metric_boot = (weights @ m_total) / (weights @ m_count)
        notes.append("CI: bootstrap over items (human measure and metric)")
    else:
        total = np.bincount(mi, weights=part["value"].to_numpy(), minlength=len(methods))
        count = np.bincount(mi, minlength=len(methods)).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            metric_point = total / count
        metric_boot = np.broadcast_to(metric_point, human_boot.shape)
        notes.append("CI: bootstrap over items (human measure; metric means fixed)")
    ok = np.isfinite(metric_point) & np.isfinite(human_point)
    n = int(ok.sum())
    test = spearman(human_point[ok], metric_point[ok])
    if test.effect is None or not np.isfinite(test.statistic):
        builder.add(
            Row(
                ANALYSIS,
                metric,
                n=n,
                note="; ".join([*notes[1:], test.note]),
                family=ANALYSIS,
                adjust="bh",
            )
        )
    else:
        boot = _spearman_rows(human_boot[:, ok], np.asarray(metric_boot)[:, ok])
        boot = boot[np.isfinite(boot)]
        low = high = math.nan
        if boot.size:
            low, high = (float(v) for v in np.quantile(boot, [0.025, 0.975]))
        if test.note:
            notes.append(test.note)
        builder.add(
            Row(
                ANALYSIS,
                metric,
                test.statistic,
                low,
                high,
                test.statistic,
                test.df,
                test.p,
                n,
                "; ".join(notes),
                ANALYSIS,
                "bh",
            )
        )
    return {
        "methods": [m for m, k in zip(methods, ok, strict=True) if k],
        "human": human_point[ok].tolist(),
        "metric": metric_point[ok].tolist(),
        "rho": test.statistic,
    }


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's ρ for each row pair (NaN where a row is constant or has missing values)."""
    out = np.full(a.shape[0], np.nan)
    good = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    if not good.any():
        return out
    ra = stats.rankdata(a[good], axis=1)
    rb = stats.rankdata(b[good], axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out[good] = np.where(den > 0, (ra * rb).sum(axis=1) / den, np.nan)
    return out
