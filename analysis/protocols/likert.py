"""Likert rating protocol: ratings of explanation methods on an ordinal scale.

Confirmatory model: cumulative-logit mixed model ``rating ~ method + (1|participant) + (1|item)``
(``clmm``; with ``+ presentation`` when the maps' presentation is a between-subjects factor,
``presentation[<level>]`` against the first level), treatment coding against a reference method
(``method[<m>]`` is the log cumulative odds ratio of a higher rating, positive = rated higher),
thresholds ``threshold[k|k+1]`` and the variances; ``clmm_odds_ratio`` gives the cumulative odds
ratios. Then all pairwise contrasts between methods (``clmm_contrast``, Holm) and the predicted
category probabilities per method with the random effects at 0 (``clmm_predicted``).

Companions on participant × method mean ratings (within subjects): Friedman's test with Kendall's
W (``friedman``, ``kendall_w``; W's CI by a bootstrap over participants) and pairwise Wilcoxon
signed-rank tests with the matched-pairs rank-biserial r (``wilcoxon``, Holm). Between subjects
(one method per participant): Kruskal–Wallis with ε² and pairwise Mann–Whitney with the
rank-biserial r (= Cliff's δ). Agreement: Krippendorff's α (ordinal) over the units item × method
(``krippendorff_alpha``, bootstrap CI over units).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis import plots
from analysis.agreement import krippendorff_alpha_long
from analysis.human_vs_metric import add_human_vs_metric_rows
from analysis.protocols._common import (
    Options,
    ProtocolOutput,
    add_mixed_rows,
    bootstrap_weights,
    fit_mixed,
    model_failed,
    percentile_ci,
    safely,
)
from analysis.protocols.factors import FACTORS, factor_levels
from analysis.registry import AnalysisProtocol, Column
from analysis.results import ResultBuilder, Row
from analysis.stat_tests import (
    friedman,
    kendall_w_matrix,
    kruskal_wallis,
    mann_whitney,
    wilcoxon_signed_rank,
)
from analysis.table import PreparedTable, TableError

__all__ = ["PROTOCOL", "run"]


def _reference(methods: list[str], options: Options) -> str:
    if options.reference is None:
        return methods[0]
    if options.reference not in methods:
        raise TableError(
            f"reference method {options.reference!r} is not in the table "
            f"(methods: {', '.join(methods)})"
        )
    return options.reference


def run(prepared: PreparedTable, options: Options) -> ProtocolOutput:
    """All likert analyses for a prepared table."""
    data = prepared.data
    out = ProtocolOutput()
    b = out.builder
    methods = sorted(data["method"].unique())
    reference = _reference(methods, options)
    levels = np.sort(data["rating"].unique())
    safely(b, options, "clmm", lambda: _clmm(b, data, methods, reference, levels, out, options))
    per_part = data.groupby(["participant_id", "method"], observed=True)["rating"].mean()
    wide = per_part.unstack("method")
    within = bool((data.groupby("participant_id")["method"].nunique() > 1).any())
    if within:
        safely(b, options, "friedman", lambda: _friedman(b, wide, methods, options))
        safely(b, options, "wilcoxon", lambda: _wilcoxon(b, wide, methods))
    else:
        safely(b, options, "kruskal_wallis", lambda: _between(b, per_part, methods))
    safely(b, options, "krippendorff_alpha", lambda: _alpha(b, data, options))
    if options.plots:
        shares = (
            data.groupby("method")["rating"]
            .value_counts(normalize=True)
            .unstack(fill_value=0.0)
            .reindex(index=methods, columns=levels, fill_value=0.0)
        )
        out.plots["likert_ratings"] = plots.likert_diverging(
            methods, [f"{v:g}" for v in levels], shares.to_numpy()
        )
    if options.metrics is not None:
        human = (
            data.groupby(["item_id", "method"], observed=True)["rating"]
            .agg(total="sum", count="count")
            .reset_index()
        )
        safely(b, options, "human_vs_metric", lambda: _hvm(b, out, human, options))
    return out


def _hvm(b: ResultBuilder, out: ProtocolOutput, human: pd.DataFrame, options: Options) -> None:
    assert options.metrics is not None
    points = add_human_vs_metric_rows(
        b,
        human=human,
        measure="mean rating",
        metrics=options.metrics,
        n_boot=options.n_boot,
        seed=options.seed,
    )
    if options.plots:
        for metric, pt in points.items():
            if len(pt["methods"]) >= 2:
                out.plots[f"human_vs_{metric}"] = plots.human_vs_metric_scatter(
                    pt["methods"],
                    pt["human"],
                    pt["metric"],
                    measure="mean rating",
                    metric_name=metric,
                    rho=pt["rho"],
                )


def unused_scale_points(levels: np.ndarray) -> tuple[list[float], int]:
    """Scale points between the lowest and highest rating that nobody chose, and the step.

    The table does not declare the scale, so its step is inferred as the greatest common
    divisor of the gaps between the observed (integer) ratings: 1–5 used as 1, 2, 4, 5 misses 3,
    while 10, 20, …, 50 (step 10) misses nothing. A scale whose used points happen to share a
    larger divisor (1, 3, 5 of a 1–5 scale) is taken at that step: no false note, at the cost
    of missing that gap.
    """
    values = np.asarray(levels, dtype=float)
    if values.size < 2:
        return [], 1
    gaps = np.diff(np.sort(values)).astype(np.int64)
    step = int(np.gcd.reduce(gaps))
    if step < 1:
        return [], 1
    expected = np.arange(values.min(), values.max() + step / 2, step)
    unused = [float(v) for v in expected if not np.isclose(values, v).any()]
    return unused, step


def _clmm(
    b: ResultBuilder,
    data: pd.DataFrame,
    methods: list[str],
    reference: str,
    levels: np.ndarray,
    out: ProtocolOutput,
    options: Options,
) -> None:
    others = [m for m in methods if m != reference]
    names = [f"method[{m}]" for m in others]
    n = len(data)
    if len(levels) < 2:
        model_failed(
            b,
            "clmm",
            names or ["method"],
            f"every rating is {levels[0]:g}: an ordinal model needs two or more categories",
            n,
        )
        return
    if not others:
        model_failed(b, "clmm", ["method"], f"only one method ({reference}): nothing to compare", n)
        return
    codes = np.searchsorted(levels, data["rating"].to_numpy())
    method = data["method"].to_numpy()
    columns = [(method == m).astype(float) for m in others]
    for factor in FACTORS:  # between-subjects conditions (the maps' presentation) as fixed effects
        factor_values = factor_levels(data, factor)
        if len(factor_values) < 2:
            continue
        shown = data[factor].astype(str).to_numpy()
        for level in factor_values[1:]:
            names.append(f"{factor}[{level}]")
            columns.append((shown == level).astype(float))
    x = np.column_stack(columns)
    groups = {"participant": data["participant_id"].to_numpy(), "item": data["item_id"].to_numpy()}
    fit = fit_mixed("ordinal", codes.astype(float), x, names, groups, n_categories=len(levels))
    labels = [f"{levels[k]:g}|{levels[k + 1]:g}" for k in range(len(levels) - 1)]
    unused, step = unused_scale_points(levels)
    if unused:
        shown = ", ".join(f"{v:g}" for v in unused[:5]) + (", …" if len(unused) > 5 else "")
        on = f" (scale step {step:g}, inferred from the ratings)" if step > 1 else ""
        fit.note = "; ".join(
            x
            for x in (
                fit.note,
                f"scale points never used: {shown}{on}; thresholds join adjacent observed ratings",
            )
            if x
        )
    add_mixed_rows(
        b,
        "clmm",
        fit,
        names,
        threshold_labels=labels,
        exclude_from_family=(),
        odds_ratio_analysis="clmm_odds_ratio",
    )
    res = fit.result
    assert res is not None
    # pairwise contrasts among methods: λ_i − λ_j with the fixed-effect covariance
    cov = res.fixed_cov
    coef = {reference: 0.0}
    index = {}
    for k, name in enumerate(res.fixed_names):
        if not name.startswith("method["):
            continue  # a condition factor's term
        m = name[len("method[") : -1]
        coef[m] = float(res.fixed[k])
        index[m] = k
    z975 = float(stats.norm.ppf(0.975))
    for a, c in itertools.combinations(methods, 2):
        if a not in coef or c not in coef:
            continue
        vec = np.zeros(len(res.fixed))
        if a in index:
            vec[index[a]] += 1.0
        if c in index:
            vec[index[c]] -= 1.0
        est = coef[a] - coef[c]
        se = math.sqrt(max(float(vec @ cov @ vec), 0.0)) if cov.size else math.nan
        if np.isfinite(se) and se > 0:
            zval = est / se
            b.add(
                Row(
                    "clmm_contrast",
                    f"{a} vs {c}",
                    est,
                    est - z975 * se,
                    est + z975 * se,
                    zval,
                    math.nan,
                    float(2 * stats.norm.sf(abs(zval))),
                    res.n_obs,
                    "log cumulative odds ratio, positive = first method rated higher",
                )
            )
        else:
            b.not_estimable(
                "clmm_contrast",
                f"{a} vs {c}",
                "covariance of the estimates not available",
                n=res.n_obs,
            )
    # predicted category probabilities with random effects at 0
    # (condition factors at their first level)
    rows = np.array(
        [[1.0 if name == f"method[{m}]" else 0.0 for name in res.fixed_names] for m in methods]
    )
    probs = res.predict_proba(rows) if len(res.fixed_names) else None
    if probs is not None:
        for i, m in enumerate(methods):
            for k, level in enumerate(levels):
                b.add(
                    Row(
                        "clmm_predicted",
                        f"{m}: rating={level:g}",
                        float(probs[i, k]),
                        n=res.n_obs,
                        note="model-predicted probability, random effects at 0",
                    )
                )
    if options.plots:
        sel = [r for r in b.rows if r.analysis == "clmm" and r.term.startswith("method[")]
        if sel:
            out.plots["clmm_forest"] = plots.forest(
                [r.term for r in sel],
                [r.estimate for r in sel],
                [r.ci_low for r in sel],
                [r.ci_high for r in sel],
                title=f"Cumulative-logit mixed model (vs {reference})",
                xlabel="log cumulative odds ratio (95% CI)",
            )


def _friedman(b: ResultBuilder, wide: pd.DataFrame, methods: list[str], options: Options) -> None:
    complete = wide.dropna()
    dropped = len(wide) - len(complete)
    note = f"{dropped} participant(s) without a rating of every method left out" if dropped else ""
    note = "; ".join(x for x in ("on participant × method mean ratings", note) if x)
    if len(methods) < 2 or len(complete) < 2:
        reason = "needs at least 2 methods and 2 participants who rated every method"
        b.not_estimable("friedman", "method", reason, n=len(complete))
        b.not_estimable("kendall_w", "method", reason, n=len(complete))
        return
    matrix = complete[methods].to_numpy()
    test = friedman(matrix)
    assert test.effect is not None
    ranks = np.apply_along_axis(stats.rankdata, 1, matrix)
    rng = np.random.default_rng(options.seed)
    weights = bootstrap_weights(len(complete), options.n_boot, rng)
    low, high = percentile_ci(kendall_w_matrix(ranks, weights))
    w_note = "; ".join(x for x in (note, test.note, "CI: bootstrap over participants") if x)
    b.add(
        Row(
            "friedman",
            "method",
            test.effect.estimate,
            low,
            high,
            test.statistic,
            test.df,
            test.p,
            len(complete),
            "; ".join(
                x for x in ("estimate is Kendall's W; statistic is Friedman's χ²", w_note) if x
            ),
        )
    )
    b.add(Row("kendall_w", "method", test.effect.estimate, low, high, n=len(complete), note=w_note))


def _wilcoxon(b: ResultBuilder, wide: pd.DataFrame, methods: list[str]) -> None:
    for a, c in itertools.combinations(methods, 2):
        pair = wide[[a, c]].dropna()
        if len(pair) < 2:
            b.not_estimable(
                "wilcoxon", f"{a} vs {c}", "fewer than 2 participants rated both", n=len(pair)
            )
            continue
        test = wilcoxon_signed_rank(pair[a].to_numpy(), pair[c].to_numpy())
        assert test.effect is not None
        note = "; ".join(
            x
            for x in (
                "matched-pairs rank-biserial r (positive = first higher); statistic V = T⁺",
                test.note,
                test.effect.note,
            )
            if x
        )
        b.add(
            Row(
                "wilcoxon",
                f"{a} vs {c}",
                test.effect.estimate,
                test.effect.ci_low,
                test.effect.ci_high,
                test.statistic,
                math.nan,
                test.p,
                len(pair),
                note,
            )
        )


def _between(b: ResultBuilder, per_part: pd.Series, methods: list[str]) -> None:
    frame = per_part.reset_index()
    groups = [frame.loc[frame["method"] == m, "rating"].to_numpy() for m in methods]
    test = kruskal_wallis(groups)
    assert test.effect is not None
    b.add(
        Row(
            "kruskal_wallis",
            "method",
            test.effect.estimate,
            math.nan,
            math.nan,
            test.statistic,
            test.df,
            test.p,
            test.effect.n,
            "; ".join(
                x for x in ("between subjects; estimate is ε²", test.note, test.effect.note) if x
            ),
        )
    )
    for (i, a), (j, c) in itertools.combinations(enumerate(methods), 2):
        mw = mann_whitney(groups[i], groups[j])
        assert mw.effect is not None
        b.add(
            Row(
                "mann_whitney",
                f"{a} vs {c}",
                mw.effect.estimate,
                mw.effect.ci_low,
                mw.effect.ci_high,
                mw.statistic,
                math.nan,
                mw.p,
                mw.effect.n,
                "; ".join(
                    x
                    for x in (
                        "rank-biserial r = Cliff's δ (positive = first higher)",
                        mw.note,
                        mw.effect.note,
                    )
                    if x
                ),
            )
        )


def _alpha(b: ResultBuilder, data: pd.DataFrame, options: Options) -> None:
    res = krippendorff_alpha_long(
        data,
        unit=["item_id", "method"],
        value="rating",
        level="ordinal",
        n_boot=min(options.n_boot, 1000),
        seed=options.seed,
    )
    note = "; ".join(x for x in ("units = item × method; CI: bootstrap over units", res.note) if x)
    b.add(
        Row(
            "krippendorff_alpha",
            "ordinal",
            res.alpha,
            res.ci_low,
            res.ci_high,
            n=res.n_pairable,
            note=note,
        )
    )


def _participant_outcome(data: pd.DataFrame, options: Options) -> tuple[pd.Series, str]:
    return data.groupby("participant_id")["rating"].mean(), "mean rating"


def analysis_plan(configuration: Mapping[str, Any]) -> list[str]:
    """What the pipeline runs with ``configuration``, one sentence each (preregistration)."""
    c = configuration
    return [
        "Confirmatory: cumulative-logit mixed model `rating ~ method + (1|participant) + "
        "(1|item)` (Laplace ML), treatment coding against the reference method; cumulative "
        "odds ratios with Wald 95% CIs; all pairwise method contrasts, Holm-adjusted.",
        (
            "Companion: Friedman test with Kendall's W and pairwise Wilcoxon signed-rank "
            "tests with the matched-pairs rank-biserial r (Holm), on participant × method "
            "mean ratings."
            if c.get("design", "within") == "within"
            else "Companion: Kruskal–Wallis with ε² and pairwise Mann–Whitney tests with the "
            "rank-biserial r (Holm), on participant mean ratings."
        ),
        "Agreement: Krippendorff's α (ordinal) over item × method, bootstrap CI.",
    ]


PROTOCOL = AnalysisProtocol(
    id="likert",
    title="Likert rating",
    columns=(
        Column("method", "label", description="the method whose map was rated"),
        Column("rating", "integer", response=True, description="the scale point chosen"),
    ),
    run=run,
    analyses=(
        "clmm",
        "clmm_contrast",
        "clmm_odds_ratio",
        "clmm_predicted",
        "friedman",
        "kendall_w",
        "wilcoxon",
        "kruskal_wallis",
        "mann_whitney",
        "krippendorff_alpha",
    ),
    key_analyses=("clmm", "friedman", "wilcoxon", "krippendorff_alpha"),
    analysis_plan=analysis_plan,
    power_design="paired",
    participant_outcome=_participant_outcome,
    plot_titles={
        "likert_ratings": "Likert ratings by method (diverging bars)",
        "clmm_forest": "Cumulative-link mixed model: method effects (forest plot)",
    },
)
