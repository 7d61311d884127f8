"""What the protocol pipelines share: options, guarded execution, mixed-model rows, bootstrap."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis.results import ResultBuilder, Row
from analysis.table import PreparedTable

if TYPE_CHECKING:
    from analysis.mixed import MixedModelResult

__all__ = [
    "DATA_ERRORS",
    "Options",
    "ProtocolOutput",
    "add_mixed_rows",
    "bootstrap_weights",
    "fit_mixed",
    "independent_columns",
    "percentile_ci",
    "safely",
]

# Exceptions that describe the data (a degenerate design, a singular matrix), reported as notes.
# Anything else is a bug: reported as a note too, unless ``strict`` (the tests) re-raises it.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    np.linalg.LinAlgError,
    FloatingPointError,
    ZeroDivisionError,
)


@dataclass(frozen=True)
class Options:
    """Settings of one analysis run (see :func:`analysis.analyze`)."""

    seed: int = 0
    n_boot: int = 2000
    reference: str | None = None
    plots: bool = True
    strict: bool = False
    metrics: pd.DataFrame | None = None


@dataclass
class ProtocolOutput:
    """Rows and plots produced by a protocol pipeline."""

    builder: ResultBuilder = field(default_factory=ResultBuilder)
    plots: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def safely(
    builder: ResultBuilder,
    options: Options,
    analysis: str,
    func: Callable[[], None],
    term: str = "*",
) -> None:
    """Run one analysis; a failure becomes a row with a note instead of a crash."""
    try:
        func()
    except DATA_ERRORS as exc:
        builder.not_estimable(analysis, term, f"not computed: {exc}")
    except Exception as exc:
        if options.strict:
            raise
        builder.not_estimable(analysis, term, f"not computed ({type(exc).__name__}): {exc}")


def bootstrap_weights(n_units: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Resampling counts (n_boot × n_units): each row is a bootstrap sample of the units."""
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(float)


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval along axis 0 (NaN replicates ignored)."""
    vals = np.asarray(samples, dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(vals, [tail, 1.0 - tail])
    return (float(low), float(high))


def independent_columns(x: np.ndarray, tol: float = 1e-9) -> list[int]:
    """Indices of columns kept, left to right, when each must add to the rank of those before."""
    kept: list[int] = []
    for j in range(x.shape[1]):
        trial = x[:, [*kept, j]]
        if np.linalg.matrix_rank(trial, tol=tol * max(1.0, float(np.abs(trial).max()))) > len(kept):
            kept.append(j)
    return kept


def _rank_check_sample(x: np.ndarray, limit: int = 20000) -> np.ndarray:
    # Rank is decided by the distinct rows of the design: far fewer than the observations.
    return np.unique(x, axis=0) if x.shape[0] > limit else x


# Below this many participants the logistic mixed model's fixed effects get profile-likelihood
# intervals instead of Wald intervals. `bench/profile_ci.py` (200 simulated ground-truth studies
# per size, 10 items, log OR 0.5) measured Wald / profile coverage of 93.0 / 94.0 % at 24
# participants, 97.0 / 96.9 % at 48 and 95.0 / 94.9 % at 96: the gain is small and shows only in
# the smallest studies, where the profile also respects the likelihood's asymmetry (issue 21).
PROFILE_BELOW_PARTICIPANTS = 60


@dataclass
class MixedFit:
    """A fitted model plus the terms that were dropped before fitting and why; ``profile``:
    profile-likelihood intervals of the fixed effects (rows of ``kept_names``), when used."""

    result: MixedModelResult | None
    dropped: dict[str, str]
    note: str
    kept_names: tuple[str, ...]
    profile: np.ndarray | None = None
    profile_note: str = ""


def fit_mixed(
    kind: str,
    y: np.ndarray,
    x: np.ndarray,
    names: Sequence[str],
    groups: Mapping[str, np.ndarray],
    *,
    n_categories: int | None = None,
) -> MixedFit:
    """Fit ``kind`` ("binomial": x includes the intercept; "ordinal": no intercept) after
    dropping terms that do not vary or are collinear and grouping factors with one level."""
    from analysis.mixed import fit_clmm, fit_glmm_binomial

    dropped: dict[str, str] = {}
    notes: list[str] = []
    use_groups: dict[str, Any] = {}
    for name, labels in groups.items():
        if pd.Series(labels).nunique() >= 2:
            use_groups[name] = labels
        else:
            notes.append(f"only one {name}: no {name} random effect")
    keep = independent_columns(_rank_check_sample(x)) if x.shape[1] else []
    if kind == "ordinal":
        # without an intercept a constant column is confounded with the thresholds
        const = [j for j in range(x.shape[1]) if np.ptp(x[:, j]) == 0]
        keep = [j for j in keep if j not in const]
    for j, name in enumerate(names):
        if j not in keep:
            dropped[name] = (
                f"{name} does not vary (or is confounded with other terms) in these "
                "data: not estimable"
            )
    kept_names = tuple(names[j] for j in keep)
    xk = x[:, keep]
    if kind == "binomial":
        result = fit_glmm_binomial(y, xk, use_groups, fixed_names=kept_names)
    else:
        result = fit_clmm(y, xk, use_groups, fixed_names=kept_names, n_categories=n_categories)
    fit = MixedFit(result, dropped, "; ".join(notes), kept_names)
    n_part = pd.Series(use_groups["participant"]).nunique() if "participant" in use_groups else 0
    if kind == "binomial" and 0 < n_part < PROFILE_BELOW_PARTICIPANTS and len(kept_names) >= 2:
        from analysis.mixed.laplace import ModeFailure
        from analysis.mixed.profile import profile_intervals_binomial

        try:
            fit.profile = profile_intervals_binomial(
                y, xk, use_groups, fixed_names=kept_names, fit=result
            )
            fit.profile_note = (
                f"CI: profile likelihood ({n_part} participants, fewer than "
                f"{PROFILE_BELOW_PARTICIPANTS}); p: Wald z"
            )
        except (ValueError, ModeFailure, np.linalg.LinAlgError, FloatingPointError) as exc:
            # Far along a separated profile the conditional modes may not converge: the
            # Wald interval of the fit still stands, and the row says which one it is.
            fit.profile_note = f"profile-likelihood CI not computed ({exc}): Wald CI"
    return fit


def add_mixed_rows(
    builder: ResultBuilder,
    analysis: str,
    fit: MixedFit,
    names: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    threshold_labels: Sequence[str] | None = None,
    exclude_from_family: Sequence[str] = ("(Intercept)",),
    odds_ratio_analysis: str | None = None,
) -> None:
    """Rows for fixed effects (Wald z), thresholds and random-intercept variances.

    ``labels`` renames fixed terms for the table; the intercept forms its own family so the
    Holm family is the effects of interest.
    """
    res = fit.result
    assert res is not None
    labels = dict(labels or {})
    model_notes = [n for n in (fit.note, *res.notes) if n]
    if not res.converged:
        model_notes.append("the optimiser did not report convergence; interpret with care")
    model_note = "; ".join(_notes_for(model_notes, None, res.fixed_names))
    ci = res.conf_int()
    if fit.profile is not None and fit.profile.shape == ci.shape:
        ci = fit.profile
    if fit.profile_note:
        model_notes.append(fit.profile_note)
    z = res.z_values()
    p = res.p_values()
    index = {name: k for k, name in enumerate(res.fixed_names)}
    for name in names:
        term = labels.get(name, name)
        if name in fit.dropped:
            builder.not_estimable(analysis, term, fit.dropped[name], n=res.n_obs)
            if odds_ratio_analysis:
                builder.not_estimable(odds_ratio_analysis, term, fit.dropped[name], n=res.n_obs)
            continue
        k = index[name]
        family = f"{analysis}:{term}" if name in exclude_from_family else analysis
        se_note = "" if np.isfinite(res.fixed_se[k]) else "standard error not available"
        note = "; ".join([se_note, *_notes_for(model_notes, name, res.fixed_names)]).strip("; ")
        builder.add(
            Row(
                analysis,
                term,
                float(res.fixed[k]),
                float(ci[k, 0]),
                float(ci[k, 1]),
                float(z[k]),
                math.nan,
                float(p[k]),
                res.n_obs,
                note,
                family,
                "holm",
                term,
            )
        )
        if odds_ratio_analysis:
            builder.add(
                Row(
                    odds_ratio_analysis,
                    term,
                    _exp(res.fixed[k]),
                    _exp(ci[k, 0]),
                    _exp(ci[k, 1]),
                    float(z[k]),
                    math.nan,
                    float(p[k]),
                    res.n_obs,
                    note,
                    family,
                    "holm",
                    term,
                )
            )
    if len(res.thresholds):
        tci = res.threshold_conf_int()
        tl = list(threshold_labels) if threshold_labels else list(res.threshold_names)
        for k, _name in enumerate(res.threshold_names):
            builder.add(
                Row(
                    analysis,
                    f"threshold[{tl[k]}]",
                    float(res.thresholds[k]),
                    float(tci[k, 0]),
                    float(tci[k, 1]),
                    n=res.n_obs,
                    note=model_note,
                )
            )
    for factor, var in res.variances.items():
        vnote = "random-intercept variance (Laplace ML); no CI reported"
        if var <= 1e-10:
            vnote = "variance estimated at the boundary (0): singular fit"
        builder.add(
            Row(
                analysis,
                f"var({factor})",
                float(var),
                n=res.n_groups.get(factor, math.nan),
                note="; ".join(x for x in (vnote, model_note) if x),
            )
        )


def _exp(value: float) -> float:
    """exp that overflows to inf (a separated fit) instead of raising; NaN stays NaN."""
    with np.errstate(over="ignore"):
        return float(np.exp(value))


def _notes_for(notes: Sequence[str], term: str | None, terms: Sequence[str]) -> list[str]:
    """The model notes that concern ``term``: those naming it, and those naming no fixed term
    (model-wide). ``term=None`` keeps only the model-wide ones."""
    keep = []
    for note in notes:
        named = [t for t in terms if f"'{t}'" in note]
        if not named or term in named:
            keep.append(note)
    return keep


def model_failed(
    builder: ResultBuilder,
    analysis: str,
    terms: Sequence[str],
    reason: str,
    n: float,
    *,
    extra_analyses: Sequence[str] = (),
) -> None:
    """Rows with the reason a model could not be fitted (one per term it would have had)."""
    for name in (analysis, *extra_analyses):
        for term in terms:
            builder.not_estimable(name, term, reason, n=n)


def prepared_summary(prepared: PreparedTable) -> list[Row]:
    """``sample`` rows: participants, items and responses analysed, and what was excluded."""
    reasons = ", ".join(f"{k}: {v}" for k, v in prepared.exclusion_reasons.items())
    return [
        Row(
            "sample",
            "participants",
            prepared.n_participants,
            n=prepared.n_participants_input,
            note=f"{prepared.n_participants_excluded} excluded entirely"
            if prepared.n_participants_excluded
            else "",
        ),
        Row("sample", "items", prepared.n_items, n=prepared.n_items),
        Row(
            "sample",
            "responses",
            len(prepared.data),
            n=prepared.n_rows_input,
            note=f"n = rows in the table; {prepared.n_rows_missing_response} without a response",
        ),
        Row(
            "sample",
            "excluded_responses",
            prepared.n_rows_excluded,
            n=prepared.n_rows_input,
            note=f"excluded = 1 ({reasons})" if reasons else "rows with excluded = 1",
        ),
    ]
