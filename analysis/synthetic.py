"""Synthetic studies with known effects, as tidy tables (for tests, benchmarks and planning).

Each generator draws crossed random intercepts ``u_p ~ N(0, sd_participant²)`` and
``v_i ~ N(0, sd_item²)`` and responses from the model the analysis fits, so the true values of
the model's parameters are known:

- :func:`simulation_study`: 2 × 2 between subjects (participant p in cell p mod 4),
  ``logit P(correct) = β₀ + β_s·s + β_c·c + β_sc·s·c + u_p + v_i`` with s, c = ±½, and a
  5-point confidence from a cumulative logit in s, c and correctness (±½) with its own,
  independent random intercepts.
- :func:`likert_study`: methods within subjects balanced over items by a Latin square
  (participant p sees item i with method (p + i) mod M), rating from
  ``P(Y ≤ k) = logistic(θ_k − λ_method − u_p − v_i)``.
- :func:`preference_study`: every pair of methods, position random,
  ``logit P(first chosen) = γ + λ_first − λ_second``.
- :func:`gt_prediction_study`: explanation shown / hidden between subjects,
  ``logit P(correct) = β₀ + β_e·e + u_p + v_i``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = ["gt_prediction_study", "likert_study", "preference_study", "simulation_study"]


def _grid(n_participants: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    part = np.repeat(np.arange(n_participants), n_items)
    item = np.tile(np.arange(n_items), n_participants)
    return part, item


def _effects(
    rng: np.random.Generator,
    n_participants: int,
    n_items: int,
    sd_participant: float,
    sd_item: float,
    part: np.ndarray,
    item: np.ndarray,
) -> np.ndarray:
    u = rng.normal(0.0, sd_participant, n_participants)
    v = rng.normal(0.0, sd_item, n_items)
    return np.asarray(u[part] + v[item])


def _ordinal(rng: np.random.Generator, eta: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    latent = eta + rng.logistic(size=eta.size)
    return np.searchsorted(np.asarray(thresholds, dtype=float), latent) + 1


def _ids(part: np.ndarray, item: np.ndarray, n_items: int) -> dict[str, np.ndarray]:
    trial = np.tile(np.arange(n_items), part.size // n_items)
    return {
        "participant_id": np.char.add("P", part.astype(str)),
        "item_id": np.char.add("I", item.astype(str)),
        "trial_index": trial,
    }


def simulation_study(
    *,
    n_participants: int = 80,
    n_items: int = 20,
    intercept: float = 0.5,
    saliency: float = 0.5,
    scores: float = 0.3,
    interaction: float = 0.0,
    sd_participant: float = 0.5,
    sd_item: float = 0.5,
    confidence_effects: tuple[float, float, float] = (0.3, 0.2, 0.8),
    thresholds: Sequence[float] = (-2.0, -0.7, 0.7, 2.0),
    seed: int = 0,
) -> pd.DataFrame:
    """A model-output-simulation study (see the module docstring for the model).

    ``confidence_effects`` are the cumulative-logit effects of saliency, scores and correct.
    """
    rng = np.random.default_rng(seed)
    part, item = _grid(n_participants, n_items)
    cell = part % 4
    s_shown = (cell % 2).astype(int)
    c_shown = (cell // 2).astype(int)
    s, c = s_shown - 0.5, c_shown - 0.5
    re = _effects(rng, n_participants, n_items, sd_participant, sd_item, part, item)
    eta = intercept + saliency * s + scores * c + interaction * s * c + re
    correct = (rng.random(eta.size) < expit(eta)).astype(int)
    model_output = rng.integers(0, 2, n_items)[item]
    prediction = np.where(correct == 1, model_output, 1 - model_output)
    a_s, a_c, a_k = confidence_effects
    # independent random intercepts for confidence: the covariate `correct` must not be
    # correlated with them, or its coefficient would be confounded (not a known truth)
    conf_re = _effects(rng, n_participants, n_items, sd_participant, sd_item, part, item)
    conf_eta = a_s * s + a_c * c + a_k * (correct - 0.5) + conf_re
    confidence = _ordinal(rng, conf_eta, thresholds)
    return pd.DataFrame(
        {
            **_ids(part, item, n_items),
            "saliency_shown": s_shown,
            "scores_shown": c_shown,
            "model_output": model_output,
            "prediction": prediction,
            "correct": correct,
            "confidence": confidence,
        }
    )


def likert_study(
    *,
    n_participants: int = 60,
    n_items: int = 24,
    method_effects: Mapping[str, float] | None = None,
    sd_participant: float = 0.8,
    sd_item: float = 0.5,
    thresholds: Sequence[float] = (-2.0, -0.7, 0.7, 2.0),
    seed: int = 0,
) -> pd.DataFrame:
    """A within-subject Likert study; ``method_effects`` are the true λ (first method 0)."""
    effects = dict(method_effects or {"gradcam": 0.0, "rise": 0.5, "smoothgrad": -0.3})
    methods = list(effects)
    rng = np.random.default_rng(seed)
    part, item = _grid(n_participants, n_items)
    midx = (part + item) % len(methods)
    lam = np.array([effects[m] for m in methods])[midx]
    re = _effects(rng, n_participants, n_items, sd_participant, sd_item, part, item)
    rating = _ordinal(rng, lam + re, thresholds)
    return pd.DataFrame(
        {**_ids(part, item, n_items), "method": np.array(methods)[midx], "rating": rating}
    )


def preference_study(
    *,
    n_participants: int = 40,
    n_items: int = 30,
    strengths: Mapping[str, float] | None = None,
    position: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """A 2-AFC study over all pairs of methods; ``strengths`` are the true λ."""
    lam = dict(strengths or {"gradcam": 0.0, "rise": 0.6, "smoothgrad": -0.4})
    methods = list(lam)
    pairs = list(itertools.combinations(methods, 2))
    rng = np.random.default_rng(seed)
    part, item = _grid(n_participants, n_items)
    pair_idx = (part + item) % len(pairs)
    swap = rng.random(part.size) < 0.5
    first = np.array([pairs[k][0] for k in pair_idx], dtype=object)
    second = np.array([pairs[k][1] for k in pair_idx], dtype=object)
    first, second = np.where(swap, second, first), np.where(swap, first, second)
    eta = position + np.array([lam[m] for m in first]) - np.array([lam[m] for m in second])
    first_chosen = rng.random(part.size) < expit(eta)
    return pd.DataFrame(
        {
            **_ids(part, item, n_items),
            "method_a": first.astype(str),
            "method_b": second.astype(str),
            "choice": np.where(first_chosen, first, second).astype(str),
        }
    )


def gt_prediction_study(
    *,
    n_participants: int = 60,
    n_items: int = 20,
    intercept: float = 0.3,
    explanation: float = 0.5,
    sd_participant: float = 0.5,
    sd_item: float = 0.7,
    seed: int = 0,
) -> pd.DataFrame:
    """Explanation shown (odd participants) vs hidden; ``explanation`` is the log odds ratio."""
    rng = np.random.default_rng(seed)
    part, item = _grid(n_participants, n_items)
    shown = (part % 2).astype(int)
    re = _effects(rng, n_participants, n_items, sd_participant, sd_item, part, item)
    eta = intercept + explanation * (shown - 0.5) + re
    correct = (rng.random(eta.size) < expit(eta)).astype(int)
    confidence = _ordinal(rng, 0.8 * (correct - 0.5) + 0.3 * (shown - 0.5), (-1.5, 0.0, 1.5))
    return pd.DataFrame(
        {
            **_ids(part, item, n_items),
            "explanation_shown": shown,
            "correct": correct,
            "confidence": confidence,
        }
    )
