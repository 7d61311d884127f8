"""Preference protocol: two methods shown side by side, the participant picks one (2-AFC).

- ``win_rate`` (term = method): share of its comparisons a method won, percentile bootstrap CI
  over participants (participants resampled with all their trials).
- ``bradley_terry`` (term = method): log-strength λ against the reference method (λ = 0) from
  ``logit P(first chosen) = γ + λ_first − λ_second``, Wald CIs from SEs clustered by participant
  (:mod:`analysis.bradley_terry`). Methods whose strength has no finite MLE (never chosen, never
  rejected, or cut off from the others) get a note and the model is fitted on the largest set of
  methods whose comparisons determine it (Ford 1957).
- ``position_bias`` (term = ``first``): γ, the log-odds of choosing the option shown first (left),
  adjusted for the methods' strengths, clustered SE; the raw share is in the note.
- ``pair_binomial`` (term = ``A vs B``): share of A-vs-B comparisons won by A, Wilson CI, exact
  binomial test against 1/2 (comparisons treated as independent), Holm across pairs.
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
from analysis.bradley_terry import fit_bradley_terry, win_components
from analysis.human_vs_metric import add_human_vs_metric_rows
from analysis.protocols._common import (
    Options,
    ProtocolOutput,
    bootstrap_weights,
    percentile_ci,
    safely,
)
from analysis.registry import AnalysisProtocol, Column
from analysis.results import ResultBuilder, Row
from analysis.stat_tests import binomial_test
from analysis.table import PreparedTable, TableError

__all__ = ["PROTOCOL", "run"]


def run(prepared: PreparedTable, options: Options) -> ProtocolOutput:
    """All preference analyses for a prepared table."""
    data = prepared.data
    out = ProtocolOutput()
    b = out.builder
    methods = sorted(set(data["method_a"]) | set(data["method_b"]))
    if options.reference is not None and options.reference not in methods:
        raise TableError(
            f"reference method {options.reference!r} is not in the table "
            f"(methods: {', '.join(methods)})"
        )
    first_won = (data["choice"] == data["method_a"]).to_numpy()
    winner = data["choice"].to_numpy()
    loser = np.where(first_won, data["method_b"].to_numpy(), data["method_a"].to_numpy())
    safely(b, options, "win_rate", lambda: _win_rate(b, data, methods, winner, options))
    safely(
        b,
        options,
        "bradley_terry",
        lambda: _bradley_terry(b, out, data, methods, first_won, winner, loser, options),
    )
    safely(b, options, "pair_binomial", lambda: _pairs(b, methods, winner, loser))
    if options.plots:
        index = {m: k for k, m in enumerate(methods)}
        wins = np.zeros((len(methods), len(methods)))
        np.add.at(wins, ([index[w] for w in winner], [index[v] for v in loser]), 1.0)
        counts = wins + wins.T
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(counts > 0, wins / counts, np.nan)
        out.plots["win_matrix"] = plots.win_matrix(methods, share, counts)
    if options.metrics is not None:
        long = pd.DataFrame(
            {
                "item_id": np.concatenate([data["item_id"].to_numpy()] * 2),
                "method": np.concatenate(
                    [data["method_a"].to_numpy(), data["method_b"].to_numpy()]
                ),
                "total": np.concatenate([first_won, ~first_won]).astype(float),
                "count": 1.0,
            }
        )
        human = long.groupby(["item_id", "method"], as_index=False)[["total", "count"]].sum()
        safely(b, options, "human_vs_metric", lambda: _hvm(b, out, human, options))
    return out


def _hvm(b: ResultBuilder, out: ProtocolOutput, human: pd.DataFrame, options: Options) -> None:
    assert options.metrics is not None
    points = add_human_vs_metric_rows(
        b,
        human=human,
        measure="win rate",
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
                    measure="win rate",
                    metric_name=metric,
                    rho=pt["rho"],
                )


def _win_rate(
    b: ResultBuilder,
    data: pd.DataFrame,
    methods: list[str],
    winner: np.ndarray,
    options: Options,
) -> None:
    parts, pcode = np.unique(data["participant_id"].to_numpy(), return_inverse=True)
    index = {m: k for k, m in enumerate(methods)}
    wins = np.zeros((parts.size, len(methods)))
    comps = np.zeros((parts.size, len(methods)))
    np.add.at(wins, (pcode, np.array([index[w] for w in winner], dtype=int)), 1.0)
    for column in ("method_a", "method_b"):
        codes = np.array([index[m] for m in data[column]], dtype=int)
        np.add.at(comps, (pcode, codes), 1.0)
    rng = np.random.default_rng(options.seed)
    weights = bootstrap_weights(parts.size, options.n_boot, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (weights @ wins) / (weights @ comps)
    total_w, total_c = wins.sum(0), comps.sum(0)
    for k, m in enumerate(methods):
        low, high = percentile_ci(boot[:, k])
        note = f"CI: bootstrap over participants ({options.n_boot} resamples)"
        if total_w[k] == 0:
            note += "; never chosen"
        elif total_w[k] == total_c[k]:
            note += "; always chosen"
        b.add(Row("win_rate", m, total_w[k] / total_c[k], low, high, n=total_c[k], note=note))


def _bradley_terry(
    b: ResultBuilder,
    out: ProtocolOutput,
    data: pd.DataFrame,
    methods: list[str],
    first_won: np.ndarray,
    winner: np.ndarray,
    loser: np.ndarray,
    options: Options,
) -> None:
    comps = win_components(methods, list(winner), list(loser))
    usable = comps[0]
    notes: list[str] = []
    if len(usable) < 2:
        for m in methods:
            b.not_estimable(
                "bradley_terry",
                m,
                "no two methods have wins in both directions: "
                "the strengths have no finite maximum-likelihood estimate",
            )
        b.not_estimable("position_bias", "first", "the Bradley–Terry model could not be fitted")
        return
    reference = options.reference if options.reference in usable else usable[0]
    if options.reference is not None and options.reference not in usable:
        notes.append(f"reference {options.reference!r} has no finite strength; using {reference!r}")
    for m in methods:
        if m in usable:
            continue
        won = int(np.sum(winner == m))
        lost = int(np.sum(loser == m))
        if won == 0:
            why = f"never chosen (0 of {lost} comparisons)"
        elif lost == 0:
            why = f"always chosen ({won} of {won} comparisons)"
        else:
            why = "its wins and losses do not link it to the other methods in both directions"
        b.not_estimable(
            "bradley_terry",
            m,
            f"{why}: no finite maximum-likelihood strength; the model was fitted without it",
            n=won + lost,
        )
    sub = np.isin(data["method_a"], usable) & np.isin(data["method_b"], usable)
    if int(np.sum(~sub)):
        notes.append(
            f"{int(np.sum(~sub))} comparisons involving methods without a finite strength left out"
        )
    fw = first_won[sub]
    position = bool(fw.any() and (~fw).any())
    if not position:
        notes.append("the first-shown option was always (or never) chosen: no position term")
    fit = fit_bradley_terry(
        data["method_a"].to_numpy()[sub],
        data["method_b"].to_numpy()[sub],
        fw.astype(float),
        methods=usable,
        reference=reference,
        position=position,
        clusters=data["participant_id"].to_numpy()[sub],
    )
    if not fit.converged:
        notes.append("Newton iterations did not converge")
    base = "log-strength vs the reference; SE clustered by participant"
    z975 = float(stats.norm.ppf(0.975))
    for k, m in enumerate(fit.methods):
        note = "; ".join([base, *notes])
        if m == reference:
            b.add(
                Row(
                    "bradley_terry",
                    m,
                    0.0,
                    n=fit.n_comparisons,
                    note=f"reference method (strength fixed at 0); {note}",
                )
            )
            continue
        est, se = float(fit.strengths[k]), float(fit.se[k])
        z = est / se if se > 0 else math.nan
        p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else math.nan
        b.add(
            Row(
                "bradley_terry",
                m,
                est,
                est - z975 * se,
                est + z975 * se,
                z,
                math.nan,
                p,
                fit.n_comparisons,
                note,
            )
        )
    share = float(np.mean(first_won))
    if position:
        g, se = fit.position, fit.position_se
        z = g / se if se > 0 else math.nan
        b.add(
            Row(
                "position_bias",
                "first",
                g,
                g - z975 * se,
                g + z975 * se,
                z,
                math.nan,
                float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else math.nan,
                fit.n_comparisons,
                f"log-odds of choosing the option shown first, adjusted for the methods' "
                f"strengths; SE clustered by participant; raw share chosen first = {share:.3f}",
            )
        )
    else:
        b.not_estimable(
            "position_bias",
            "first",
            f"the first-shown option was chosen in {share:.0%} of comparisons: "
            "the position log-odds is infinite",
            n=len(first_won),
        )
    if options.plots:
        sel = [r for r in b.rows if r.analysis == "bradley_terry" and np.isfinite(r.estimate)]
        out.plots["bradley_terry_forest"] = plots.forest(
            [r.term for r in sel],
            [r.estimate for r in sel],
            [r.ci_low for r in sel],
            [r.ci_high for r in sel],
            title=f"Bradley–Terry strengths (vs {reference})",
            xlabel="log-strength (95% CI, clustered by participant)",
        )


def _pairs(b: ResultBuilder, methods: list[str], winner: np.ndarray, loser: np.ndarray) -> None:
    for a, c in itertools.combinations(methods, 2):
        k = int(np.sum((winner == a) & (loser == c)))
        n = k + int(np.sum((winner == c) & (loser == a)))
        if n == 0:
            continue
        test = binomial_test(k, n)
        assert test.effect is not None
        b.add(
            Row(
                "pair_binomial",
                f"{a} vs {c}",
                test.effect.estimate,
                test.effect.ci_low,
                test.effect.ci_high,
                test.statistic,
                math.nan,
                test.p,
                n,
                f"share of comparisons won by {a}; Wilson CI; exact binomial test vs 0.5 "
                "(comparisons treated as independent)",
            )
        )


def _check(df: pd.DataFrame) -> pd.DataFrame:
    """A comparison is of two different methods, and the choice is one of them."""
    same = df["method_a"] == df["method_b"]
    if same.any():
        raise TableError(
            f"{int(same.sum())} row(s) compare a method with itself "
            f"(method_a == method_b, e.g. {df.loc[same, 'method_a'].iloc[0]!r})"
        )
    choice = df["choice"].where(df["choice"].isna(), df["choice"].astype(str).str.strip())
    bad = choice.notna() & (choice != df["method_a"]) & (choice != df["method_b"])
    if bad.any():
        row = df.loc[bad].iloc[0]
        raise TableError(
            f"column 'choice' must equal method_a or method_b; {int(bad.sum())} row(s) do "
            f"not (e.g. choice {row['choice']!r} for {row['method_a']!r} vs "
            f"{row['method_b']!r})"
        )
    df["choice"] = choice
    return df


def _participant_outcome(data: pd.DataFrame, options: Options) -> tuple[pd.Series, str]:
    methods = sorted(set(data["method_a"]) | set(data["method_b"]))
    reference = options.reference if options.reference in methods else methods[0]
    shown = data[(data["method_a"] == reference) | (data["method_b"] == reference)]
    chosen = (shown["choice"] == reference).groupby(shown["participant_id"]).mean()
    return chosen, f"share of choices of {reference}"


def analysis_plan(_configuration: Mapping[str, Any]) -> list[str]:
    """What the pipeline runs (whatever the configuration), one sentence each (preregistration)."""
    return [
        "Confirmatory: Bradley–Terry model `logit P(first chosen) = γ + λ_first − λ_second` "
        "(λ = 0 for the reference method, γ the position bias), Wald CIs from standard "
        "errors clustered by participant.",
        "Win rate per method with a percentile bootstrap CI over participants; per pair an "
        "exact binomial test against ½ with a Wilson CI, Holm-adjusted.",
    ]


PROTOCOL = AnalysisProtocol(
    id="preference",
    title="Preference (paired comparison)",
    columns=(
        Column("method_a", "label", description="the method shown left/first"),
        Column("method_b", "label", description="the other method of the pair"),
        Column("choice", "any", response=True, description="the chosen method (method_a or _b)"),
    ),
    run=run,
    analyses=("win_rate", "bradley_terry", "position_bias", "pair_binomial"),
    key_analyses=("win_rate", "bradley_terry", "position_bias", "pair_binomial"),
    analysis_plan=analysis_plan,
    power_design="paired",
    participant_outcome=_participant_outcome,
    row_key=("participant_id", "trial_index", "method_a", "method_b"),
    row_unit="comparison",
    check=_check,
    plot_titles={
        "win_matrix": "Win matrix: share of comparisons each method won",
        "bradley_terry_forest": "Bradley–Terry strengths (forest plot)",
    },
)
