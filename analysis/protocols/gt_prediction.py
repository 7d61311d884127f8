"""Ground-truth prediction protocol: does seeing the explanation help predict the true class?

With ``explanation_shown`` (0/1): ``glmm_correct``,
``correct ~ explanation + (1|participant) + (1|item)`` with ``explanation`` effect coded ±0.5
(its coefficient is the log odds ratio shown vs hidden), ``odds_ratio``, ``cell_accuracy``
(``explanation=0``/``explanation=1``), ``risk_difference`` (shown − hidden, Newcombe's hybrid
score CI) and ``cohens_h``, both on trial counts. Companions on participant accuracy: between
subjects ``hedges_g`` and ``mann_whitney``; within subjects (explanation varies within
participants) ``cohens_dz`` (paired t, d_z with its exact CI). With ``confidence``:
``clmm_confidence`` (``explanation``, ``correct``, ``explanation:correct``).

With ``method`` instead (methods compared, e.g. ``none`` as one level): ``glmm_correct`` terms
``method[<m>]`` against the reference method (default ``none``, the no-explanation condition,
when present; else the first method in sort order), and ``risk_difference`` / ``cohens_h`` with
terms ``<m> vs <reference>``.

With ``agrees_with_model`` and ``model_correct`` (the model's answer was shown: the ``verify``
variant, or ``show_prediction``): ``over_reliance``, ``under_reliance``,
``appropriate_reliance`` per condition and their mixed models (:mod:`analysis.reliance`).

Random slopes for the within-subject variant are not fitted (the
mixed-model module fits random intercepts); this is noted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from analysis import plots, reliance
from analysis.effect_sizes import cohens_h, newcombe_risk_difference, wilson_interval
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
from analysis.table import PreparedTable, TableError, as_labels

__all__ = ["PROTOCOL", "run"]

NO_EXPLANATION = "none"  # the platform's method level of the no-explanation condition
TRIALS_NOTE = (
    "on trial counts (trials treated as independent; glmm_correct accounts for clustering)"
)


def run(prepared: PreparedTable, options: Options) -> ProtocolOutput:
    """All ground-truth-prediction analyses for a prepared table."""
    data = prepared.data
    out = ProtocolOutput()
    b = out.builder
    groups = {"participant": data["participant_id"].to_numpy(), "item": data["item_id"].to_numpy()}
    y = data["correct"].to_numpy()
    if "explanation_shown" in data.columns:
        _explanation(b, out, data, y, groups, options)
    else:
        _methods(b, data, y, groups, options)
    if options.metrics is not None:
        shown = (
            data
            if "explanation_shown" not in data.columns
            else data.loc[data["explanation_shown"] == 1]
        )
        add_accuracy_human_vs_metric(b, out, shown, options, measure="accuracy")
    if reliance.applies(data):
        safely(
            b,
            options,
            "over_reliance",
            lambda: reliance.add_reliance(b, data, options, reference=options.reference),
        )
    return out


def _constant_reason(y: np.ndarray) -> str | None:
    if np.ptp(y) == 0:
        return (
            f"every response is {'correct' if y[0] == 1 else 'incorrect'}: a logistic model "
            "cannot be fitted"
        )
    return None


def _explanation(
    b: ResultBuilder,
    out: ProtocolOutput,
    data: pd.DataFrame,
    y: np.ndarray,
    groups: dict[str, np.ndarray],
    options: Options,
) -> None:
    e = data["explanation_shown"].to_numpy() - 0.5
    within = bool((data.groupby("participant_id")["explanation_shown"].nunique() > 1).any())
    terms = ("(Intercept)", "explanation")
    cells: dict[str, tuple[float, float, float]] = {}
    estimate = ["model estimate"]  # or the raw shares, when no model can be fitted

    def glmm() -> None:
        reason = _constant_reason(y)
        if reason:
            model_failed(b, "glmm_correct", terms, reason, len(y), extra_analyses=("odds_ratio",))
            _raw_cells(b, y, e, reason, cells)
            estimate[0] = "raw share correct, Wilson"
            return
        fit = fit_mixed(
            "binomial", y.astype(float), np.column_stack([np.ones_like(e), e]), terms, groups
        )
        if within:
            fit.note = "; ".join(
                x
                for x in (fit.note, "within subjects: random intercepts only (no random slopes)")
                if x
            )
        add_mixed_rows(b, "glmm_correct", fit, terms, odds_ratio_analysis="odds_ratio")
        res = fit.result
        assert res is not None
        if len(res.fixed) == 2:
            z975 = float(stats.norm.ppf(0.975))
            cov = res.fixed_cov
            for level in (0, 1):
                row = np.array([1.0, level - 0.5])
                eta = float(row @ res.fixed)
                se = math.sqrt(max(float(row @ cov @ row), 0.0)) if cov.size else math.nan
                est, low, high = (
                    float(expit(eta)),
                    float(expit(eta - z975 * se)),
                    float(expit(eta + z975 * se)),
                )
                b.add(
                    Row(
                        "cell_accuracy",
                        f"explanation={level}",
                        est,
                        low,
                        high,
                        n=int(np.sum(e == level - 0.5)),
                        note="model-estimated accuracy (random effects at 0), delta-method CI "
                        "on the logit scale"
                        + ("" if np.isfinite(se) else "; CI not available (no standard errors)"),
                    )
                )
                cells[f"explanation {'shown' if level else 'hidden'}"] = (est, low, high)

    safely(b, options, "glmm_correct", glmm)
    if not any(row.analysis == "cell_accuracy" for row in b.rows):
        # the model failed before its cells: the raw shares still describe the conditions
        _raw_cells(b, y, e, "the logistic model could not be fitted", cells)
        estimate[0] = "raw share correct, Wilson"
    shown, hidden = y[e > 0], y[e < 0]

    def counts() -> None:
        if shown.size == 0 or hidden.size == 0:
            reason = "only one condition (explanation always shown or always hidden)"
            b.not_estimable("risk_difference", "explanation", reason)
            b.not_estimable("cohens_h", "explanation", reason)
            return
        rd = newcombe_risk_difference(shown.sum(), shown.size, hidden.sum(), hidden.size)
        b.add(
            Row(
                "risk_difference",
                "explanation",
                rd.estimate,
                rd.ci_low,
                rd.ci_high,
                n=rd.n,
                note=f"accuracy shown − hidden, Newcombe hybrid score CI, {TRIALS_NOTE}",
            )
        )
        h = cohens_h(shown.mean(), shown.size, hidden.mean(), hidden.size)
        b.add(
            Row(
                "cohens_h",
                "explanation",
                h.estimate,
                h.ci_low,
                h.ci_high,
                n=h.n,
                note=f"2·asin√p(shown) − 2·asin√p(hidden), {TRIALS_NOTE}",
            )
        )

    safely(b, options, "risk_difference", counts)
    if within:
        safely(b, options, "cohens_dz", lambda: _paired(b, data))
    else:
        acc = participant_accuracy(data, ["explanation_shown"])
        if acc is not None:
            safely(
                b,
                options,
                "hedges_g",
                lambda: between_companions(b, acc, "explanation_shown", "explanation"),
            )
    if "confidence" in data.columns and data["confidence"].notna().any():
        safely(b, options, "clmm_confidence", lambda: _clmm(b, data, e, y))
    if options.plots and cells:
        labels = list(cells)
        out.plots["accuracy_by_condition"] = plots.accuracy_by_condition(
            labels,
            [cells[k][0] for k in labels],
            [cells[k][1] for k in labels],
            [cells[k][2] for k in labels],
            chance=None,
            title=f"Accuracy by condition ({estimate[0]}, 95% CI)",
        )


def _raw_cells(
    b: ResultBuilder,
    y: np.ndarray,
    e: np.ndarray,
    reason: str,
    cells: dict[str, tuple[float, float, float]],
) -> None:
    """Without a model (a constant outcome, a failed fit): the raw share correct per condition,
    Wilson CI."""
    for level in (0, 1):
        mask = e == level - 0.5
        if not mask.any():
            continue
        k, n = float(y[mask].sum()), int(mask.sum())
        low, high = wilson_interval(k, n)
        note = f"raw share correct with a Wilson CI (trials as independent); {reason}"
        b.add(Row("cell_accuracy", f"explanation={level}", k / n, low, high, n=n, note=note))
        cells[f"explanation {'shown' if level else 'hidden'}"] = (k / n, low, high)


def _paired(b: ResultBuilder, data: pd.DataFrame) -> None:
    wide = data.groupby(["participant_id", "explanation_shown"])["correct"].mean().unstack()
    pairs = wide.dropna()
    if 1.0 not in pairs.columns or 0.0 not in pairs.columns or len(pairs) < 2:
        b.not_estimable("cohens_dz", "explanation", "fewer than 2 participants saw both conditions")
        return
    diff = (pairs[1.0] - pairs[0.0]).to_numpy()
    test = one_sample_t(diff, 0.0)
    assert test.effect is not None
    note = "; ".join(
        x
        for x in (
            "paired: shown − hidden participant accuracy; d_z = mean/SD of "
            "the differences (exact CI); paired t",
            test.note,
            test.effect.note,
        )
        if x
    )
    b.add(
        Row(
            "cohens_dz",
            "explanation",
            test.effect.estimate,
            test.effect.ci_low,
            test.effect.ci_high,
            test.statistic,
            test.df,
            test.p,
            len(pairs),
            note,
        )
    )


def _clmm(b: ResultBuilder, data: pd.DataFrame, e: np.ndarray, y: np.ndarray) -> None:
    keep = data["confidence"].notna().to_numpy()
    sub = data.loc[keep]
    levels = np.sort(sub["confidence"].unique())
    terms = ("explanation", "correct", "explanation:correct")
    if len(levels) < 2:
        model_failed(
            b,
            "clmm_confidence",
            terms,
            "every confidence rating is the same: an ordinal model needs two or more categories",
            len(sub),
        )
        return
    k = y[keep] - 0.5
    ek = e[keep]
    codes = np.searchsorted(levels, sub["confidence"].to_numpy()).astype(float)
    groups = {"participant": sub["participant_id"].to_numpy(), "item": sub["item_id"].to_numpy()}
    fit = fit_mixed(
        "ordinal", codes, np.column_stack([ek, k, ek * k]), terms, groups, n_categories=len(levels)
    )
    labels = [f"{levels[j]:g}|{levels[j + 1]:g}" for j in range(len(levels) - 1)]
    add_mixed_rows(
        b, "clmm_confidence", fit, terms, threshold_labels=labels, exclude_from_family=()
    )


def _methods(
    b: ResultBuilder,
    data: pd.DataFrame,
    y: np.ndarray,
    groups: dict[str, np.ndarray],
    options: Options,
) -> None:
    methods = sorted(data["method"].unique())
    if options.reference is not None and options.reference not in methods:
        raise TableError(
            f"reference method {options.reference!r} is not in the table "
            f"(methods: {', '.join(methods)})"
        )
    reference = options.reference or (NO_EXPLANATION if NO_EXPLANATION in methods else methods[0])
    others = [m for m in methods if m != reference]
    names = ["(Intercept)"] + [f"method[{m}]" for m in others]
    method = data["method"].to_numpy()

    def glmm() -> None:
        reason = _constant_reason(y) or (
            None if others else f"only one method ({reference}): nothing to compare"
        )
        if reason:
            model_failed(b, "glmm_correct", names, reason, len(y), extra_analyses=("odds_ratio",))
            return
        x = np.column_stack([np.ones(len(y))] + [(method == m).astype(float) for m in others])
        fit = fit_mixed("binomial", y.astype(float), x, names, groups)
        add_mixed_rows(b, "glmm_correct", fit, names, odds_ratio_analysis="odds_ratio")

    safely(b, options, "glmm_correct", glmm)
    ref = y[method == reference]
    for m in others:
        cur = y[method == m]
        term = f"{m} vs {reference}"
        rd = newcombe_risk_difference(cur.sum(), cur.size, ref.sum(), ref.size)
        b.add(
            Row(
                "risk_difference",
                term,
                rd.estimate,
                rd.ci_low,
                rd.ci_high,
                n=rd.n,
                note=f"accuracy difference, Newcombe hybrid score CI, {TRIALS_NOTE}",
            )
        )
        h = cohens_h(cur.mean(), cur.size, ref.mean(), ref.size)
        b.add(Row("cohens_h", term, h.estimate, h.ci_low, h.ci_high, n=h.n, note=TRIALS_NOTE))


def _check(df: pd.DataFrame) -> pd.DataFrame:
    """``method`` names the map shown; with ``explanation_shown`` it may be missing (none)."""
    if "method" in df.columns:
        if "explanation_shown" not in df.columns:
            df["method"] = as_labels(df["method"], "method")
        else:
            df["method"] = df["method"].where(df["method"].isna(), df["method"].astype(str))
    return df


def analysis_plan(configuration: Mapping[str, Any]) -> list[str]:
    """What the pipeline runs with ``configuration``, one sentence each (preregistration)."""
    c = configuration
    methods = c.get("compare", "explanation") == "methods"
    term = "method" if methods else "explanation"
    coding = (
        "treatment coding against the no-explanation condition (none)"
        if methods
        else "explanation effect coded ±½"
    )
    out = [
        f"Confirmatory: logistic mixed model `correct ~ {term} + (1|participant) + (1|item)` "
        f"({coding}, Laplace ML), odds ratios with Wald 95% CIs, Holm-adjusted.",
        "Risk difference with Newcombe's hybrid score CI and Cohen's h on trial counts; "
        + (
            "paired d_z on participant accuracy (within subjects)."
            if c.get("design") == "within"
            else "Hedges' g and Mann–Whitney on participant accuracy (between subjects)."
        ),
    ]
    if c.get("confidence", True):
        out.append(
            f"Confidence: cumulative-logit mixed model `confidence ~ {term} * correct + "
            "(1|participant) + (1|item)`."
        )
    if c.get("variant") == "verify" or c.get("show_prediction"):
        out.append(
            "Reliance on the model's answer, per condition with Wilson CIs: over-reliance "
            "(agreeing when the model is wrong), under-reliance (disagreeing when it is "
            "right), appropriate reliance; each with a logistic mixed model "
            f"`agree ~ {term} + (1|participant) + (1|item)` on the trials it is defined on."
        )
    return out


PROTOCOL = AnalysisProtocol(
    id="gt_prediction",
    title="Ground-truth prediction",
    columns=(
        Column("explanation_shown", "binary", required=False, description="a map was shown"),
        Column("method", "any", required=False, description="the method whose map was shown"),
        Column("correct", "binary", response=True, description="the answer was the truth (0/1)"),
        Column("confidence", "integer", required=False, description="confidence scale point"),
        Column(
            "agrees_with_model",
            "binary",
            required=False,
            may_be_missing=True,
            description="the answer agreed with the model's shown prediction (reliance)",
        ),
        Column(
            "model_correct",
            "binary",
            required=False,
            may_be_missing=True,
            description="the model's prediction was right (reliance)",
        ),
    ),
    run=run,
    analyses=(
        "glmm_correct",
        "odds_ratio",
        "cell_accuracy",
        "risk_difference",
        "cohens_h",
        "cohens_dz",
        "hedges_g",
        "mann_whitney",
        "clmm_confidence",
        "over_reliance",
        "under_reliance",
        "appropriate_reliance",
        "glmm_over_reliance",
        "glmm_under_reliance",
        "glmm_appropriate_reliance",
    ),
    key_analyses=(
        "glmm_correct",
        "risk_difference",
        "cohens_h",
        "over_reliance",
        "under_reliance",
        "appropriate_reliance",
    ),
    analysis_plan=analysis_plan,
    power_design="two_proportions",
    participant_outcome=share_correct,
    one_of=(("explanation_shown", "method"),),
    check=_check,
    plot_titles={"accuracy_by_condition": "Accuracy by condition (95% CI)"},
)
