"""Power and sample size for the study designer.

Closed forms (``statsmodels.stats.power``; the same numbers as R's ``pwr``):

- two independent groups, Cohen's d: ``TTestIndPower`` (noncentral t), n **per group**;
- paired / one-sample d_z: ``TTestPower``, n pairs;
- two proportions: Cohen's h = 2·asin√p₁ − 2·asin√p₂ with ``NormalIndPower`` (``pwr.2p.test``),
  n per group;
- one-way ANOVA, Cohen's f: ``FTestAnovaPower``, which returns the **total** n (the trap the
  specification warns of); both the total and the per-group n are returned.

Mixed models by simulation (Green & MacLeod 2016, the ``simr`` approach): simulate studies from the
planned model — participants × items with crossed random intercepts — refit with
:mod:`analysis.mixed`, and count Wald p < α. The Monte-Carlo uncertainty of the power is reported
as a Wilson CI. :func:`participants_for_power` searches the number of participants.

Reference values: d = 0.5 → 63.7656 per group, 33.3671 pairs; 0.65 vs 0.5 → 169.088 per group;
f = 0.25 with 4 groups → 178.397 in total.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from statsmodels.stats.power import FTestAnovaPower, NormalIndPower, TTestIndPower, TTestPower

from analysis.effect_sizes import wilson_interval

__all__ = [
    "PowerResult",
    "SimulatedPower",
    "cohens_h_from_proportions",
    "participants_for_power",
    "power_anova",
    "power_paired_t",
    "power_two_proportions",
    "power_two_sample_t",
    "sample_size_anova",
    "sample_size_paired_t",
    "sample_size_two_proportions",
    "sample_size_two_sample_t",
    "simulate_clmm_power",
    "simulate_glmm_power",
]

Alternative = Literal["two-sided", "larger", "smaller"]
Design = Literal["between", "within"]


@dataclass(frozen=True)
class PowerResult:
    """A closed-form answer: sample size per group and in total, or the power for a given n."""

    design: str
    effect_size: float
    alpha: float
    power: float
    n_per_group: float
    n_total: float
    groups: int
    note: str = ""


def cohens_h_from_proportions(p1: float, p2: float) -> float:
    """Cohen's h = 2·asin√p₁ − 2·asin√p₂."""
    return 2.0 * math.asin(math.sqrt(p1)) - 2.0 * math.asin(math.sqrt(p2))


def _check(alpha: float, power: float | None = None) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if power is not None and not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power}")


def sample_size_two_sample_t(
    d: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> PowerResult:
    """Participants per group for two independent groups (``n2 = ratio·n1``)."""
    _check(alpha, power)
    n1 = float(
        TTestIndPower().solve_power(
            effect_size=d, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
    )
    return PowerResult(
        "two independent groups (t test)",
        d,
        alpha,
        power,
        n1,
        n1 * (1 + ratio),
        2,
        "n_per_group is the first group's n; round up",
    )


def power_two_sample_t(
    d: float,
    n_per_group: float,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> PowerResult:
    """Power of the two-sample t test with ``n_per_group`` in the first group."""
    _check(alpha)
    pw = float(
        TTestIndPower().power(
            effect_size=d, nobs1=n_per_group, alpha=alpha, ratio=ratio, alternative=alternative
        )
    )
    return PowerResult(
        "two independent groups (t test)", d, alpha, pw, n_per_group, n_per_group * (1 + ratio), 2
    )


def sample_size_paired_t(
    dz: float, *, alpha: float = 0.05, power: float = 0.8, alternative: Alternative = "two-sided"
) -> PowerResult:
    """Pairs needed for a paired (or one-sample) t test with effect d_z."""
    _check(alpha, power)
    n = float(
        TTestPower().solve_power(effect_size=dz, alpha=alpha, power=power, alternative=alternative)
    )
    return PowerResult("paired (d_z, t test)", dz, alpha, power, n, n, 1, "effect size is d_z")


def power_paired_t(
    dz: float, n: float, *, alpha: float = 0.05, alternative: Alternative = "two-sided"
) -> PowerResult:
    """Power of a paired t test with ``n`` pairs."""
    _check(alpha)
    pw = float(TTestPower().power(effect_size=dz, nobs=n, alpha=alpha, alternative=alternative))
    return PowerResult("paired (d_z, t test)", dz, alpha, pw, n, n, 1)


def sample_size_two_proportions(
    p1: float,
    p2: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> PowerResult:
    """Per-group n to detect p₁ vs p₂ (Cohen's h, normal approximation as ``pwr.2p.test``)."""
    _check(alpha, power)
    h = cohens_h_from_proportions(p1, p2)
    n1 = float(
        NormalIndPower().solve_power(
            effect_size=h, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
    )
    return PowerResult("two proportions (Cohen's h)", h, alpha, power, n1, n1 * (1 + ratio), 2)


def power_two_proportions(
    p1: float,
    p2: float,
    n_per_group: float,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> PowerResult:
    """Power to detect p₁ vs p₂ with ``n_per_group`` in the first group."""
    _check(alpha)
    h = cohens_h_from_proportions(p1, p2)
    pw = float(
        NormalIndPower().power(
            effect_size=h, nobs1=n_per_group, alpha=alpha, ratio=ratio, alternative=alternative
        )
    )
    return PowerResult(
        "two proportions (Cohen's h)", h, alpha, pw, n_per_group, n_per_group * (1 + ratio), 2
    )


def sample_size_anova(
    f: float, k_groups: int, *, alpha: float = 0.05, power: float = 0.8
) -> PowerResult:
    """One-way ANOVA with Cohen's f: statsmodels returns the TOTAL n; per group = total / k."""
    _check(alpha, power)
    if k_groups < 2:
        raise ValueError("an ANOVA needs at least 2 groups")
    total = float(
        FTestAnovaPower().solve_power(effect_size=f, alpha=alpha, power=power, k_groups=k_groups)
    )
    return PowerResult(
        "one-way ANOVA (Cohen's f)",
        f,
        alpha,
        power,
        total / k_groups,
        total,
        k_groups,
        "statsmodels' FTestAnovaPower solves for the total n",
    )


def power_anova(f: float, k_groups: int, n_total: float, *, alpha: float = 0.05) -> PowerResult:
    """Power of a one-way ANOVA with ``n_total`` participants in all."""
    _check(alpha)
    pw = float(FTestAnovaPower().power(effect_size=f, nobs=n_total, alpha=alpha, k_groups=k_groups))
    return PowerResult(
        "one-way ANOVA (Cohen's f)", f, alpha, pw, n_total / k_groups, n_total, k_groups
    )


# --- simulation-based power for the mixed models -------------------------------------------


@dataclass(frozen=True)
class SimulatedPower:
    """Share of simulated studies whose Wald test of the effect had p < α."""

    power: float
    ci_low: float
    ci_high: float
    n_sims: int
    n_failed: int
    mean_estimate: float
    n_participants: int
    n_items: int
    note: str = ""


def _condition(design: Design, n_participants: int, n_items: int) -> np.ndarray:
    """Effect-coded condition (±0.5) per participant × item cell, balanced."""
    p = np.arange(n_participants)[:, None]
    i = np.arange(n_items)[None, :]
    if design == "between":
        cond = np.broadcast_to(p % 2, (n_participants, n_items))
    elif design == "within":
        cond = (p + i) % 2
    else:
        raise ValueError(f"design must be 'between' or 'within', got {design!r}")
    return np.asarray(cond, dtype=float).ravel() - 0.5


def _simulate(
    kind: Literal["binomial", "ordinal"],
    *,
    n_participants: int,
    n_items: int,
    effect: float,
    intercept: float,
    thresholds: Sequence[float],
    sd_participant: float,
    sd_item: float,
    design: Design,
    n_sims: int,
    alpha: float,
    seed: int,
) -> SimulatedPower:
    from analysis.mixed import fit_clmm, fit_glmm_binomial

    if n_participants < 2 or n_items < 2:
        raise ValueError("simulation needs at least 2 participants and 2 items")
    rng = np.random.default_rng(seed)
    cond = _condition(design, n_participants, n_items)
    part = np.repeat(np.arange(n_participants), n_items)
    item = np.tile(np.arange(n_items), n_participants)
    groups = {"participant": part, "item": item}
    hits, failed, estimates = 0, 0, []
    theta = np.asarray(thresholds, dtype=float)
    for _ in range(n_sims):
        u = rng.normal(0, sd_participant, n_participants)[part]
        v = rng.normal(0, sd_item, n_items)[item]
        eta = effect * cond + u + v
        try:
            if kind == "binomial":
                y = (rng.random(eta.size) < 1 / (1 + np.exp(-(intercept + eta)))).astype(float)
                x = np.column_stack([np.ones(eta.size), cond])
                res = fit_glmm_binomial(y, x, groups, fixed_names=("(Intercept)", "effect"))
                k = 1
            else:
                latent = eta + rng.logistic(size=eta.size)
                y = np.searchsorted(theta, latent).astype(float)
                res = fit_clmm(
                    y, cond[:, None], groups, fixed_names=("effect",), n_categories=theta.size + 1
                )
                k = 0
            p = float(res.p_values()[k])
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            failed += 1
            continue
        if not np.isfinite(p):
            failed += 1
            continue
        estimates.append(float(res.fixed[k]))
        hits += p < alpha
    done = n_sims - failed
    power = hits / done if done else math.nan
    low, high = wilson_interval(hits, done) if done else (math.nan, math.nan)
    note = f"{failed} of {n_sims} simulated fits failed and were left out" if failed else ""
    return SimulatedPower(
        power,
        low,
        high,
        n_sims,
        failed,
        float(np.mean(estimates)) if estimates else math.nan,
        n_participants,
        n_items,
        note,
    )


def simulate_glmm_power(
    *,
    n_participants: int,
    n_items: int,
    effect: float,
    intercept: float = 0.0,
    sd_participant: float = 1.0,
    sd_item: float = 0.5,
    design: Design = "between",
    n_sims: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> SimulatedPower:
    """Power of ``correct ~ condition + (1|participant) + (1|item)`` by simulation.

    ``effect`` is the log odds ratio between the two conditions (effect coded ±0.5),
    ``intercept`` the average log-odds, ``sd_*`` the random-intercept SDs on the logit scale.
    ``design="between"`` assigns half the participants to each condition; ``"within"``
    alternates the condition over items, counterbalanced across participants.
    """
    return _simulate(
        "binomial",
        n_participants=n_participants,
        n_items=n_items,
        effect=effect,
        intercept=intercept,
        thresholds=(),
        sd_participant=sd_participant,
        sd_item=sd_item,
        design=design,
        n_sims=n_sims,
        alpha=alpha,
        seed=seed,
    )


def simulate_clmm_power(
    *,
    n_participants: int,
    n_items: int,
    effect: float,
    thresholds: Sequence[float] = (-2.0, -0.7, 0.7, 2.0),
    sd_participant: float = 1.0,
    sd_item: float = 0.5,
    design: Design = "within",
    n_sims: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> SimulatedPower:
    """Power of the cumulative-logit model ``rating ~ condition + (1|participant) + (1|item)``.

    ``effect`` is the log cumulative odds ratio between two conditions (e.g. two methods);
    ratings are cut from a logistic latent variable at ``thresholds`` (K − 1 increasing values,
    default a symmetric 5-point scale).
    """
    if np.any(np.diff(np.asarray(thresholds, dtype=float)) <= 0):
        raise ValueError("thresholds must be strictly increasing")
    return _simulate(
        "ordinal",
        n_participants=n_participants,
        n_items=n_items,
        effect=effect,
        intercept=0.0,
        thresholds=thresholds,
        sd_participant=sd_participant,
        sd_item=sd_item,
        design=design,
        n_sims=n_sims,
        alpha=alpha,
        seed=seed,
    )


def participants_for_power(
    power_at: Callable[[int], SimulatedPower],
    *,
    target: float = 0.8,
    candidates: Sequence[int] = (20, 40, 60, 80, 120, 160, 240, 320),
) -> tuple[int | None, list[SimulatedPower]]:
    """Smallest candidate number of participants whose simulated power reaches ``target``.

    ``power_at(n)`` runs one simulation (e.g. ``lambda n: simulate_glmm_power(n_participants=n,
    n_items=20, effect=0.5)``). Candidates are tried in increasing order and the search stops at
    the first success; returns (that n or None, every result computed).
    """
    tried: list[SimulatedPower] = []
    for n in sorted(candidates):
        result = power_at(n)
        tried.append(result)
        if np.isfinite(result.power) and result.power >= target:
            return n, tried
    return None, tried
