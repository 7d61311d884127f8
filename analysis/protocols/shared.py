"""Participant-level companions shared by the simulation and ground-truth protocols."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from analysis import plots
from analysis.human_vs_metric import add_human_vs_metric_rows
from analysis.protocols._common import Options, ProtocolOutput, safely
from analysis.results import ResultBuilder, Row
from analysis.stat_tests import mann_whitney, welch_t

__all__ = [
    "add_accuracy_human_vs_metric",
    "between_companions",
    "participant_accuracy",
    "share_correct",
]


def share_correct(data: pd.DataFrame, options: Options) -> tuple[pd.Series, str]:
    """Each participant's outcome for the reliability and attention analyses: the share of
    their trials answered correctly."""
    return data.groupby("participant_id")["correct"].mean(), "share correct"


def participant_accuracy(data: pd.DataFrame, conditions: Sequence[str]) -> pd.DataFrame | None:
    """One row per participant: conditions, ``accuracy`` (share correct) and ``trials``.

    None when a condition varies within a participant (the design is not between subjects).
    """
    grouped = data.groupby("participant_id", sort=True)
    if any((grouped[col].nunique() > 1).any() for col in conditions):
        return None
    acc = grouped.agg(
        **{col: (col, "first") for col in conditions},
        accuracy=("correct", "mean"),
        trials=("correct", "size"),
    )
    return acc.reset_index()


def between_companions(b: ResultBuilder, acc: pd.DataFrame, column: str, term: str) -> None:
    """``hedges_g`` (Welch t + Hedges' g, exact CI) and ``mann_whitney`` (rank-biserial r)
    comparing participant accuracy with ``column`` = 1 (shown) against 0 (hidden)."""
    shown = acc.loc[acc[column] == 1, "accuracy"].to_numpy()
    hidden = acc.loc[acc[column] == 0, "accuracy"].to_numpy()
    t = welch_t(shown, hidden)
    assert t.effect is not None
    note = "; ".join(
        x
        for x in (
            "shown − hidden on participant accuracy; Hedges' g (pooled SD, exact CI); statistic, "
            "df and p from Welch's t",
            t.note,
            t.effect.note,
        )
        if x
    )
    b.add(
        Row(
            "hedges_g",
            term,
            t.effect.estimate,
            t.effect.ci_low,
            t.effect.ci_high,
            t.statistic,
            t.df,
            t.p,
            t.effect.n,
            note,
        )
    )
    mw = mann_whitney(shown, hidden)
    assert mw.effect is not None
    note = "; ".join(
        x
        for x in (
            "shown vs hidden on participant accuracy; rank-biserial r (= Cliff's δ); statistic U",
            mw.note,
            mw.effect.note,
        )
        if x
    )
    b.add(
        Row(
            "mann_whitney",
            term,
            mw.effect.estimate,
            mw.effect.ci_low,
            mw.effect.ci_high,
            mw.statistic,
            math.nan,
            mw.p,
            mw.effect.n,
            note,
        )
    )


def add_accuracy_human_vs_metric(
    b: ResultBuilder, out: ProtocolOutput, data: pd.DataFrame, options: Options, *, measure: str
) -> None:
    """``human_vs_metric`` rows with accuracy per method as the human measure."""
    assert options.metrics is not None
    if "method" not in data.columns or data["method"].isna().all():
        b.not_estimable(
            "human_vs_metric",
            "*",
            "the table has no `method` column naming the "
            "explanation method shown, so methods cannot be compared with metrics",
        )
        return
    rows = data.dropna(subset=["method"])
    human = (
        rows.assign(method=rows["method"].astype(str))
        .groupby(["item_id", "method"], observed=True)["correct"]
        .agg(total="sum", count="count")
        .reset_index()
    )

    def go() -> None:
        assert options.metrics is not None
        points = add_human_vs_metric_rows(
            b,
            human=human,
            measure=measure,
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
                        measure="accuracy",
                        metric_name=metric,
                        rho=pt["rho"],
                    )

    safely(b, options, "human_vs_metric", go)
