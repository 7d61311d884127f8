"""Reliance on the model's answer: over-, under- and appropriate reliance per condition.

Applies where the participant sees the model's answer and decides with it: the ground-truth
prediction protocol's ``verify`` variant ("is the model right?") and its ``choose_class``
variant with the model's prediction shown (``show_prediction``). The table needs
``agrees_with_model`` (1 when the participant's answer agrees with the model: "yes, it is
right" in ``verify``; the model's class chosen in ``choose_class``) and ``model_correct`` (1
when the model's prediction was right); rows missing either are left out. The model-output
simulation protocol is not covered: there the participant predicts the model's output, so
agreeing with the model *is* the correct answer and over-/under-reliance have no meaning.

Per condition (trial counts, Wilson score CIs, as in Schemmer et al. 2023 and the human–AI
decision literature, e.g. Bansal et al. 2021; Vasconcelos et al. 2023):

- ``over_reliance`` = #(agree ∧ model wrong) / #(model wrong): following a wrong answer;
- ``under_reliance`` = #(disagree ∧ model right) / #(model right): rejecting a right answer;
- ``appropriate_reliance`` = (#(agree ∧ right) + #(disagree ∧ wrong)) / #trials.

These are single-stage (agreement-based) measures: Schemmer et al.'s relative AI reliance and
relative self-reliance need the participant's own answer before seeing the model's, which the
platform's protocols do not ask for. In ``verify``, appropriate reliance equals ``correct``.

One logistic mixed model per measure on the trials it is defined on:
``glmm_over_reliance``: ``agree ~ condition + (1|participant) + (1|item)`` on model-wrong
trials; ``glmm_under_reliance``: ``disagree ~ condition + …`` on model-right trials;
``glmm_appropriate_reliance``: ``appropriate ~ condition + …`` on all trials (Laplace ML, Wald
CIs, log odds). ``condition`` is ``explanation`` effect coded ±0.5 (shown vs hidden) or
``method[<m>]`` treatment coded against the reference method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from analysis.effect_sizes import wilson_interval
from analysis.protocols._common import (
    Options,
    add_mixed_rows,
    fit_mixed,
    model_failed,
    safely,
)
from analysis.results import ResultBuilder, Row
from analysis.table import TableError

__all__ = [
    "MEASURES",
    "RELIANCE_COLUMNS",
    "RelianceCounts",
    "add_reliance",
    "applies",
    "reliance_counts",
]

RELIANCE_COLUMNS = ("agrees_with_model", "model_correct")
MEASURES = ("over_reliance", "under_reliance", "appropriate_reliance")
_MODEL_TEXT = {
    "over_reliance": "agree ~ {c} + (1|participant) + (1|item), on trials the model got wrong",
    "under_reliance": "disagree ~ {c} + (1|participant) + (1|item), on trials the model got right",
    "appropriate_reliance": "appropriate ~ {c} + (1|participant) + (1|item), on all trials",
}


@dataclass(frozen=True)
class RelianceCounts:
    """The 2 × 2 of one condition: agreement with the model × whether the model was right."""

    condition: str
    agree_right: int
    disagree_right: int
    agree_wrong: int
    disagree_wrong: int

    @property
    def n(self) -> int:
        return self.agree_right + self.disagree_right + self.agree_wrong + self.disagree_wrong

    def fraction(self, measure: str) -> tuple[int, int]:
        """(numerator, denominator) of ``measure``."""
        if measure == "over_reliance":
            return self.agree_wrong, self.agree_wrong + self.disagree_wrong
        if measure == "under_reliance":
            return self.disagree_right, self.agree_right + self.disagree_right
        if measure == "appropriate_reliance":
            return self.agree_right + self.disagree_wrong, self.n
        raise ValueError(f"unknown reliance measure {measure!r}; choose one of {MEASURES}")


def applies(data: pd.DataFrame) -> bool:
    """Whether the table carries what reliance needs (both columns, some rows with both)."""
    if not all(c in data.columns for c in RELIANCE_COLUMNS):
        return False
    return bool((data["agrees_with_model"].notna() & data["model_correct"].notna()).any())


def _binary(series: pd.Series, name: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        raise TableError(
            f"column {name!r} must hold 0/1; found {series[bad].iloc[0]!r} in {int(bad.sum())} "
            "row(s)"
        )
    return values.to_numpy(dtype=int)


def reliance_counts(
    agrees: Sequence[int] | np.ndarray,
    model_correct: Sequence[int] | np.ndarray,
    conditions: Sequence[str] | np.ndarray,
) -> list[RelianceCounts]:
    """The 2 × 2 counts per condition (conditions in sort order)."""
    a, r, c = np.asarray(agrees), np.asarray(model_correct), np.asarray(conditions)
    if not a.shape == r.shape == c.shape:
        raise ValueError(
            f"agrees, model_correct and conditions differ in length ({a.size}, {r.size}, {c.size})"
        )
    out = []
    for level in sorted(set(c.tolist())):
        m = c == level
        out.append(
            RelianceCounts(
                str(level),
                int(np.sum(m & (a == 1) & (r == 1))),
                int(np.sum(m & (a == 0) & (r == 1))),
                int(np.sum(m & (a == 1) & (r == 0))),
                int(np.sum(m & (a == 0) & (r == 0))),
            )
        )
    return out


def add_reliance(
    b: ResultBuilder, data: pd.DataFrame, options: Options, *, reference: str | None = None
) -> None:
    """Rows of the three measures per condition and their mixed models (see the module)."""
    keep = data["agrees_with_model"].notna() & data["model_correct"].notna()
    sub = data.loc[keep]
    agree = _binary(sub["agrees_with_model"], "agrees_with_model")
    right = _binary(sub["model_correct"], "model_correct")
    left_out = int((~keep).sum())
    if "explanation_shown" in sub.columns:
        shown = sub["explanation_shown"].to_numpy(dtype=float)
        labels = np.where(shown == 1, "explanation=1", "explanation=0")
        x_cond = (shown - 0.5).reshape(-1, 1)
        cond_names = ["explanation"]
        formula = "explanation"
    else:
        method = sub["method"].astype(str).to_numpy()
        methods = sorted(set(method.tolist()))
        ref = reference if reference in methods else ("none" if "none" in methods else methods[0])
        others = [m for m in methods if m != ref]
        labels = method
        x_cond = np.column_stack([(method == m).astype(float) for m in others]) if others else None
        cond_names = [f"method[{m}]" for m in others]
        formula = f"method (reference {ref})"
    extra = f"; {left_out} row(s) without agrees_with_model or model_correct left out"
    note_base = "trial counts (trials treated as independent), Wilson score CI"
    for cell in reliance_counts(agree, right, labels):
        for measure in MEASURES:
            k, n = cell.fraction(measure)
            if n == 0:
                why = "the model was never " + ("wrong" if measure == "over_reliance" else "right")
                b.not_estimable(measure, cell.condition, f"{why} in this condition", n=0)
                continue
            low, high = wilson_interval(k, n)
            note = f"{k}/{n}; {note_base}" + (extra if left_out else "")
            b.add(Row(measure, cell.condition, k / n, low, high, n=n, note=note))
    groups = {
        "participant": sub["participant_id"].to_numpy(),
        "item": sub["item_id"].to_numpy(),
    }
    names = ("(Intercept)", *cond_names)
    outcomes = {
        "over_reliance": (right == 0, agree),
        "under_reliance": (right == 1, 1 - agree),
        "appropriate_reliance": (np.ones_like(agree, dtype=bool), (agree == right).astype(int)),
    }
    for measure, (mask, y) in outcomes.items():
        safely(
            b,
            options,
            f"glmm_{measure}",
            partial(
                _glmm,
                b,
                f"glmm_{measure}",
                names,
                y[mask],
                None if x_cond is None else x_cond[mask],
                groups,
                mask,
                formula,
                measure,
            ),
        )


def _glmm(
    b: ResultBuilder,
    analysis: str,
    names: tuple[str, ...],
    y: np.ndarray,
    x_cond: np.ndarray | None,
    groups: dict[str, np.ndarray],
    mask: np.ndarray,
    formula: str,
    measure: str,
) -> None:
    if len(names) == 1 or x_cond is None:
        model_failed(b, analysis, names, "only one condition: nothing to compare", int(y.size))
        return
    if y.size == 0 or np.ptp(y) == 0:
        reason = (
            "no trials for this measure"
            if y.size == 0
            else f"every outcome is {int(y[0])}: a logistic model cannot be fitted"
        )
        model_failed(b, analysis, names, reason, int(y.size))
        return
    x = np.column_stack([np.ones(y.size), x_cond])
    fit = fit_mixed("binomial", y.astype(float), x, names, {k: v[mask] for k, v in groups.items()})
    fit.note = "; ".join(
        n for n in (fit.note, _MODEL_TEXT[measure].format(c=formula) + " (log odds)") if n
    )
    add_mixed_rows(b, analysis, fit, names)
