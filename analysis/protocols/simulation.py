"""Model-output simulation protocol: 2 × 2 between subjects (saliency map × model scores shown).

``correct`` is whether the participant predicted the MODEL's output. Effect coding ±0.5 for
``saliency`` (= saliency_shown − ½) and ``scores`` (= scores_shown − ½), so main effects are
average log odds ratios and ``saliency:scores`` is the difference of differences.

Confirmatory: ``glmm_correct``, ``correct ~ saliency * scores + (1|participant) + (1|item)``
(log-odds; Wald CIs; Holm over the three effects), ``odds_ratio`` (the same, exponentiated),
``cell_accuracy`` (model-estimated accuracy per cell with the random effects at 0, CI by the
delta method on the logit scale), and ``clmm_confidence``,
``confidence ~ saliency * scores * correct + (1|participant) + (1|item)``.

Companions on participant accuracies: ``anova_accuracy`` (two-way ANOVA with effect-coded,
i.e. type III, sums of squares; partial η² and ω² with noncentral-F CIs), ``hedges_g`` (terms
``saliency`` and ``scores``: shown vs hidden, Welch t, Hedges' g with its exact CI),
``mann_whitney`` (rank-biserial r), ``accuracy_vs_chance`` (one-sample t of participant accuracy
against ½ per cell and overall), and ``accuracy_by_outcome`` (the model's TP/FP/TN/FN when the
table has ``model_outcome`` or ``ground_truth``, else by ``model_output``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from analysis import plots
from analysis.effect_sizes import partial_eta_squared, partial_omega_squared, wilson_interval
from analysis.protocols._common import (
    Options,
    ProtocolOutput,
    add_mixed_rows,
    fit_mixed,
    model_failed,
    safely,
)
from analysis.protocols.shared import (
    add_accuracy_human_vs_metric,
    between_companions,
    participant_accuracy,
    share_correct,
)
from analysis.registry import AnalysisProtocol, Column
from analysis.results import ResultBuilder, Row
from analysis.stat_tests import one_sample_t
from analysis.table import PreparedTable

__all__ = ["CELLS", "PROTOCOL", "run"]

GLMM_TERMS = ("(Intercept)", "saliency", "scores", "saliency:scores")
CLMM_TERMS = (
    "saliency",
    "scores",
    "correct",
    "saliency:scores",
    "saliency:correct",
    "scores:correct",
    "saliency:scores:correct",
)
CELLS = ((0, 0), (1, 0), (0, 1), (1, 1))


def _cell(s: int, c: int) -> str:
    return f"saliency={s},scores={c}"


def run(prepared: PreparedTable, options: Options) -> ProtocolOutput:
    """All simulation-protocol analyses for a prepared table."""
    data = prepared.data
    out = ProtocolOutput()
    b = out.builder
    mismatch = int(np.sum((data["prediction"] == data["model_output"]) != (data["correct"] == 1)))
    if mismatch:
        out.notes.append(
            f"`correct` differs from (prediction == model_output) in {mismatch} "
            "row(s); `correct` was used as given"
        )
    groups = {"participant": data["participant_id"].to_numpy(), "item": data["item_id"].to_numpy()}
    s = data["saliency_shown"].to_numpy() - 0.5
    c = data["scores_shown"].to_numpy() - 0.5
    y = data["correct"].to_numpy()
    cells: dict[str, tuple[float, float, float, str]] = {}
    safely(b, options, "glmm_correct", lambda: _glmm(b, y, s, c, groups, cells, len(data)))
    if not any(row.analysis == "cell_accuracy" for row in b.rows):
        # the model failed before its cells: the raw shares still describe the conditions
        _raw_cells(b, y, s, c, "the logistic model could not be fitted", cells)
    conf = data["confidence"].notna().to_numpy()
    safely(
        b,
        options,
        "clmm_confidence",
        lambda: _clmm(b, data.loc[conf], s[conf], c[conf], y[conf] - 0.5, len(data)),
    )
    acc = participant_accuracy(data, ["saliency_shown", "scores_shown"])
    if acc is None:
        note = (
            "saliency_shown / scores_shown vary within participants: the between-subject "
            "companions do not apply"
        )
        for name in ("anova_accuracy", "hedges_g", "mann_whitney", "accuracy_vs_chance"):
            b.not_estimable(name, "*", note)
    else:
        safely(b, options, "anova_accuracy", lambda: _anova(b, acc))
        for factor, column in (("saliency", "saliency_shown"), ("scores", "scores_shown")):
            safely(b, options, "hedges_g", partial(between_companions, b, acc, column, factor))
        safely(b, options, "accuracy_vs_chance", lambda: _chance(b, acc))
    safely(b, options, "accuracy_by_outcome", lambda: _by_outcome(b, data))
    if options.plots and cells:
        labels = list(cells)
        out.plots["accuracy_by_condition"] = plots.accuracy_by_condition(
            labels,
            [cells[k][0] for k in labels],
            [cells[k][1] for k in labels],
            [cells[k][2] for k in labels],
            chance=0.5,
            title="Accuracy by condition (model estimate, 95% CI)",
        )
    if options.metrics is not None:
        add_accuracy_human_vs_metric(
            b,
            out,
            data.loc[data["saliency_shown"] == 1],
            options,
            measure="simulation accuracy (saliency shown)",
        )
    return out


def _glmm(
    b: ResultBuilder,
    y: np.ndarray,
    s: np.ndarray,
    c: np.ndarray,
    groups: dict[str, np.ndarray],
    cells: dict[str, tuple[float, float, float, str]],
    n: int,
) -> None:
    if np.ptp(y) == 0:
        reason = (
            f"every response is {'correct' if y[0] == 1 else 'incorrect'}: a logistic "
            "model cannot be fitted"
        )
        model_failed(b, "glmm_correct", GLMM_TERMS, reason, n, extra_analyses=("odds_ratio",))
        _raw_cells(b, y, s, c, reason, cells)
        return
    x = np.column_stack([np.ones_like(s), s, c, s * c])
    fit = fit_mixed("binomial", y.astype(float), x, GLMM_TERMS, groups)
    add_mixed_rows(b, "glmm_correct", fit, GLMM_TERMS, odds_ratio_analysis="odds_ratio")
    res = fit.result
    assert res is not None
    cov = res.fixed_cov
    keep = [GLMM_TERMS.index(name) for name in res.fixed_names]
    z975 = float(stats.norm.ppf(0.975))
    for sv, cv in CELLS:
        row = np.array([1.0, sv - 0.5, cv - 0.5, (sv - 0.5) * (cv - 0.5)])[keep]
        mask = (s == sv - 0.5) & (c == cv - 0.5)
        raw = float(y[mask].mean()) if mask.any() else math.nan
        if not mask.any():
            b.not_estimable("cell_accuracy", _cell(sv, cv), "no responses in this cell")
            continue
        eta = float(row @ res.fixed)
        se = math.sqrt(max(float(row @ cov @ row), 0.0)) if cov.size else math.nan
        low, high = (
            (expit(eta - z975 * se), expit(eta + z975 * se))
            if np.isfinite(se)
            else (math.nan, math.nan)
        )
        note = (
            f"model-estimated accuracy (random effects at 0), CI by the delta method on "
            f"the logit scale; raw share correct = {raw:.3f}"
        )
        if not np.isfinite(se):
            note += "; CI not available (the model's standard errors are not)"
        b.add(
            Row(
                "cell_accuracy",
                _cell(sv, cv),
                float(expit(eta)),
                float(low),
                float(high),
                n=int(mask.sum()),
                note=note,
            )
        )
        cells[_cell(sv, cv)] = (float(expit(eta)), float(low), float(high), note)


def _raw_cells(
    b: ResultBuilder,
    y: np.ndarray,
    s: np.ndarray,
    c: np.ndarray,
    reason: str,
    cells: dict[str, tuple[float, float, float, str]],
) -> None:
    for sv, cv in CELLS:
        mask = (s == sv - 0.5) & (c == cv - 0.5)
        if not mask.any():
            b.not_estimable("cell_accuracy", _cell(sv, cv), "no responses in this cell")
            continue
        k, n = float(y[mask].sum()), int(mask.sum())
        low, high = wilson_interval(k, n)
        note = f"raw share correct with a Wilson CI (trials as independent); {reason}"
        b.add(Row("cell_accuracy", _cell(sv, cv), k / n, low, high, n=n, note=note))
        cells[_cell(sv, cv)] = (k / n, low, high, note)


def _clmm(
    b: ResultBuilder, data: pd.DataFrame, s: np.ndarray, c: np.ndarray, k: np.ndarray, n: int
) -> None:
    levels = np.sort(data["confidence"].unique())
    dropped = n - len(data)
    if len(levels) < 2:
        reason = (
            "no confidence ratings"
            if len(levels) == 0
            else f"every confidence rating is {levels[0]:g}: an ordinal model needs two or more "
            "categories"
        )
        model_failed(b, "clmm_confidence", CLMM_TERMS, reason, len(data))
        return
    codes = np.searchsorted(levels, data["confidence"].to_numpy()).astype(float)
    x = np.column_stack([s, c, k, s * c, s * k, c * k, s * c * k])
    groups = {"participant": data["participant_id"].to_numpy(), "item": data["item_id"].to_numpy()}
    fit = fit_mixed("ordinal", codes, x, CLMM_TERMS, groups, n_categories=len(levels))
    if dropped:
        fit.note = "; ".join(
            x for x in (fit.note, f"{dropped} rows without confidence left out") if x
        )
    labels = [f"{levels[j]:g}|{levels[j + 1]:g}" for j in range(len(levels) - 1)]
    add_mixed_rows(
        b, "clmm_confidence", fit, CLMM_TERMS, threshold_labels=labels, exclude_from_family=()
    )


def _anova(b: ResultBuilder, acc: pd.DataFrame) -> None:
    """Two-way between-subject ANOVA on participant accuracy, effect coding (type III SS)."""
    y = acc["accuracy"].to_numpy()
    s = acc["saliency_shown"].to_numpy() - 0.5
    c = acc["scores_shown"].to_numpy() - 0.5
    x = np.column_stack([np.ones_like(s), s, c, s * c])
    n = len(y)
    filled = acc.groupby(["saliency_shown", "scores_shown"]).size()
    if len(filled) < 4 or n <= 4:
        reason = (
            f"needs participants in all 4 cells and more than 4 participants (cells "
            f"filled: {len(filled)}, participants: {n})"
        )
        for term in ("saliency", "scores", "saliency:scores"):
            b.not_estimable("anova_accuracy", f"partial_eta2[{term}]", reason, n=n)
            b.not_estimable("anova_accuracy", f"partial_omega2[{term}]", reason, n=n)
        return
    rss_full = _rss(x, y)
    df2 = n - 4
    if rss_full <= 1e-12 * max(1.0, float(y @ y)):
        reason = (
            "participant accuracy does not vary within the cells (no residual variance): "
            "F is undefined"
        )
        for term in ("saliency", "scores", "saliency:scores"):
            b.not_estimable("anova_accuracy", f"partial_eta2[{term}]", reason, n=n)
            b.not_estimable("anova_accuracy", f"partial_omega2[{term}]", reason, n=n)
        return
    for j, term in enumerate(("saliency", "scores", "saliency:scores"), start=1):
        ss = _rss(np.delete(x, j, axis=1), y) - rss_full
        f = max(ss, 0.0) / (rss_full / df2)
        p = float(stats.f.sf(f, 1, df2)) if np.isfinite(f) else math.nan
        eta = partial_eta_squared(f, 1, df2)
        omega = partial_omega_squared(f, 1, df2)
        base = f"F(1, {df2}); type III (effect-coded) sums of squares on participant accuracy"
        for es, label in ((eta, "partial_eta2"), (omega, "partial_omega2")):
            note = "; ".join(x for x in (base, es.note) if x)
            b.add(
                Row(
                    "anova_accuracy",
                    f"{label}[{term}]",
                    es.estimate,
                    es.ci_low,
                    es.ci_high,
                    f,
                    1.0,
                    p,
                    n,
                    note,
                    test_key=term,
                )
            )


def _rss(x: np.ndarray, y: np.ndarray) -> float:
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ beta
    return float(resid @ resid)


def _chance(b: ResultBuilder, acc: pd.DataFrame) -> None:
    groups = [
        (_cell(sv, cv), (acc["saliency_shown"] == sv) & (acc["scores_shown"] == cv))
        for sv, cv in CELLS
    ]
    groups.append(("all", pd.Series(True, index=acc.index)))
    for term, mask in groups:
        values = acc.loc[mask, "accuracy"].to_numpy()
        if values.size == 0:
            b.not_estimable("accuracy_vs_chance", term, "no participants in this cell")
            continue
        test = one_sample_t(values, 0.5)
        mean = float(values.mean())
        if values.size >= 2:
            half = float(
                stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
            )
            low, high = mean - half, mean + half
        else:
            low = high = math.nan
        d = test.effect
        extra = (
            f"one-sample d = {d.estimate:.3f} [{d.ci_low:.3f}, {d.ci_high:.3f}]"
            if (d is not None and np.isfinite(d.estimate))
            else ""
        )
        note = "; ".join(
            x for x in ("mean participant accuracy vs 0.5, one-sample t", extra, test.note) if x
        )
        b.add(
            Row(
                "accuracy_vs_chance",
                term,
                mean,
                low,
                high,
                test.statistic,
                test.df,
                test.p,
                values.size,
                note,
                adjust="bh",
            )
        )


def _by_outcome(b: ResultBuilder, data: pd.DataFrame) -> None:
    if "model_outcome" in data.columns:
        outcome = data["model_outcome"].astype(str).str.upper()
        source = "model_outcome"
    elif "ground_truth" in data.columns:
        truth = pd.to_numeric(data["ground_truth"], errors="coerce")
        model = data["model_output"]
        outcome = pd.Series(
            np.select(
                [
                    (model == 1) & (truth == 1),
                    (model == 1) & (truth == 0),
                    (model == 0) & (truth == 0),
                    (model == 0) & (truth == 1),
                ],
                ["TP", "FP", "TN", "FN"],
                default="unknown",
            ),
            index=data.index,
        )
        source = "model_output and ground_truth"
    else:
        outcome = "model_output=" + data["model_output"].astype(int).astype(str)
        source = "model_output (no model_outcome or ground_truth column for TP/FP/TN/FN)"
    for label in sorted(outcome.unique()):
        mask = (outcome == label).to_numpy()
        k, n = float(data.loc[mask, "correct"].sum()), int(mask.sum())
        low, high = wilson_interval(k, n)
        b.add(
            Row(
                "accuracy_by_outcome",
                str(label),
                k / n,
                low,
                high,
                n=n,
                note=f"raw share correct by {source}; Wilson CI (trials as independent)",
            )
        )


def analysis_plan(_configuration: Mapping[str, Any]) -> list[str]:
    """What the pipeline runs (whatever the configuration), one sentence each (preregistration)."""
    return [
        "Confirmatory: logistic mixed model `correct ~ saliency * scores + (1|participant) + "
        "(1|item)` (effect coding ±½, Laplace ML), odds ratios with Wald 95% CIs, Holm over "
        "the three effects; model-estimated accuracy per cell.",
        "Confidence: cumulative-logit mixed model `confidence ~ saliency * scores * correct "
        "+ (1|participant) + (1|item)`.",
        "Companions: two-way ANOVA on participant accuracy (partial η², ω² with CIs), Welch "
        "t with Hedges' g, Mann–Whitney, accuracy against chance, accuracy by the model's "
        "outcome (TP/FP/TN/FN).",
    ]


PROTOCOL = AnalysisProtocol(
    id="simulation",
    title="Model-output simulation",
    columns=(
        Column("saliency_shown", "binary", description="the map was shown (0/1)"),
        Column("scores_shown", "binary", description="the model's scores were shown (0/1)"),
        Column("model_output", "binary", description="the model's output on the item (0/1)"),
        Column("prediction", "binary", response=True, description="the participant's guess"),
        Column("correct", "binary", response=True, description="the guess was right (0/1)"),
        Column("confidence", "integer", description="confidence scale point"),
    ),
    run=run,
    analyses=(
        "glmm_correct",
        "odds_ratio",
        "cell_accuracy",
        "clmm_confidence",
        "anova_accuracy",
        "hedges_g",
        "mann_whitney",
        "accuracy_vs_chance",
        "accuracy_by_outcome",
    ),
    key_analyses=("glmm_correct", "odds_ratio", "cell_accuracy", "hedges_g"),
    analysis_plan=analysis_plan,
    power_design="anova",
    participant_outcome=share_correct,
    plot_titles={"accuracy_by_condition": "Accuracy by condition (95% CI)"},
)
