"""Between-subjects condition factors of any protocol, such as the maps' ``presentation``.

A study may vary how its maps are drawn (the platform's ``presentation`` column) or another
condition between participants. For each such factor column with two or more levels, the
participant-level outcome of the protocol is compared across the levels:

- each participant's outcome as the protocol declares it (``participant_outcome``: e.g. the
  mean rating, the share correct, the share of choices of the reference method).
- Two levels: Mann–Whitney U with the rank-biserial r (= Cliff's δ; positive = the first level,
  in sort order, higher) and its CI. More levels: Kruskal–Wallis H with ε² = H / (n − 1), then
  every pair by Mann–Whitney (Holm-adjusted within the factor).

A factor that varies within a participant is reported as not estimable: these tests assume one
level per person. The Likert cumulative-link mixed model also takes the factor as fixed effects
(``presentation[<level>]``, see :mod:`analysis.protocols.likert`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from analysis.protocols._common import Options
from analysis.registry import get_analysis_protocol
from analysis.results import ResultBuilder, Row
from analysis.stat_tests import kruskal_wallis, mann_whitney

__all__ = ["FACTORS", "add_factor_rows", "factor_levels"]

#: Condition columns analysed as between-subjects factors when a table has them.
FACTORS: tuple[str, ...] = ("presentation",)


def factor_levels(data: pd.DataFrame, factor: str) -> list[str]:
    """The factor's levels in sort order ([] when the table has no such column)."""
    if factor not in data.columns:
        return []
    return sorted(str(v) for v in data[factor].dropna().unique())


def add_factor_rows(
    builder: ResultBuilder, protocol: str, data: pd.DataFrame, options: Options
) -> None:
    """Rows ``factor:<name>`` (omnibus) and ``factor:<name>:pairwise`` for each factor."""
    for factor in FACTORS:
        levels = factor_levels(data, factor)
        if len(levels) < 2:
            continue
        analysis = f"factor:{factor}"
        per_person = data.groupby("participant_id")[factor].nunique()
        if (per_person > 1).any():
            builder.not_estimable(
                analysis, factor, "the factor varies within participants: not a between factor"
            )
            continue
        outcome_of = get_analysis_protocol(protocol).participant_outcome
        if outcome_of is None:
            continue
        outcome, what = outcome_of(data, options)
        level_of = data.groupby("participant_id")[factor].first().astype(str)
        groups = [outcome[level_of == level].to_numpy(dtype=float) for level in levels]
        if len(levels) == 2:
            _pair(builder, analysis, factor, levels[0], levels[1], groups[0], groups[1], what)
            continue
        test = kruskal_wallis(groups)
        assert test.effect is not None
        note = f"between subjects, outcome: each participant's {what}; estimate is ε²"
        builder.add(
            Row(
                analysis,
                factor,
                test.effect.estimate,
                math.nan,
                math.nan,
                test.statistic,
                test.df,
                test.p,
                test.effect.n,
                "; ".join(x for x in (note, test.note) if x),
            )
        )
        for (i, a), (j, c) in itertools.combinations(enumerate(levels), 2):
            _pair(builder, f"{analysis}:pairwise", factor, a, c, groups[i], groups[j], what)


def _pair(
    builder: ResultBuilder,
    analysis: str,
    factor: str,
    a: str,
    c: str,
    x: np.ndarray,
    y: np.ndarray,
    what: str,
) -> None:
    test = mann_whitney(x, y)
    assert test.effect is not None
    note = (
        f"between subjects, outcome: each participant's {what}; rank-biserial r "
        f"(positive = {a} higher)"
    )
    builder.add(
        Row(
            analysis,
            f"{factor}: {a} vs {c}",
            test.effect.estimate,
            test.effect.ci_low,
            test.effect.ci_high,
            test.statistic,
            math.nan,
            test.p,
            test.effect.n,
            "; ".join(x for x in (note, test.note, test.effect.note) if x),
            family=analysis,
        )
    )
