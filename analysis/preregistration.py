"""A preregistration from a study file, its hash, and the deviations of what was run from it.

Pure Python (no Django): the input is the plain dict of the study file (``study.json``, the
platform's ``study_spec``) plus what the platform knows about the protocol (its measured
columns, the conditions). The answers follow the common templates:

- AsPredicted's nine questions (1 data collected already? 2 hypothesis, 3 dependent variable,
  4 conditions, 5 analyses, 6 outliers and exclusions, 7 sample size, 8 other, 9 name);
- OSF's "Preregistration" template (study information, design plan, sampling plan, variables,
  analysis plan, other), whose headings the document uses; each answer names the AsPredicted
  question it also answers.

The hypotheses are the researcher's words (the flow's ``hypotheses``); everything else is the
design as the platform will run and analyse it: the model formulas are those of
:mod:`analysis.protocols` (analysis/README.md). At launch the document is frozen with the
SHA-256 of its canonical JSON (:func:`document_hash`); :func:`deviations` then lists every
difference between the registered ``plan`` and the study as run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analysis import power

__all__ = ["POWER_DESIGNS", "PlannedSample", "planned_sample", "power_plan_problems"]

# design → (description, required keys besides alpha and power)
POWER_DESIGNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "paired": ("paired t test (within subjects, d_z)", ("effect",)),
    "two_groups": ("two independent groups (t test, Cohen's d)", ("effect",)),
    "two_proportions": ("two proportions (Cohen's h)", ("p1", "p2")),
    "anova": ("one-way ANOVA over k cells (Cohen's f)", ("effect", "groups")),
}
_POWER_KEYS = {"design", "effect", "p1", "p2", "groups", "alpha", "power", "note"}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def power_plan_problems(plan: Any) -> list[str]:
    """What is wrong with a power analysis ``{design, effect|p1,p2, groups, alpha, power}``."""
    if not isinstance(plan, Mapping):
        return ['must be an object such as {"design": "paired", "effect": 0.5, "power": 0.8}']
    problems = []
    if unknown := sorted(set(plan) - _POWER_KEYS):
        problems.append(f"unknown key(s): {', '.join(unknown)}")
    design = plan.get("design")
    if design not in POWER_DESIGNS:
        return [*problems, f"design must be one of {', '.join(POWER_DESIGNS)} (got {design!r})"]
    for key in POWER_DESIGNS[design][1]:
        if not _number(plan.get(key)):
            problems.append(f"the {design} design needs {key} (a number)")
    alpha, goal = plan.get("alpha", 0.05), plan.get("power", 0.8)
    if not _number(alpha) or not 0 < alpha < 1:
        problems.append(f"alpha must lie strictly between 0 and 1 (got {alpha!r})")
    if not _number(goal) or not 0 < goal < 1:
        problems.append(f"power must lie strictly between 0 and 1 (got {goal!r})")
    effect_size = plan.get("effect")
    if design in ("paired", "two_groups", "anova") and _number(effect_size) and effect_size == 0:
        problems.append("effect must not be 0: there would be nothing to detect")
    if design == "two_proportions" and _number(plan.get("p1")) and _number(plan.get("p2")):
        if not (0 < plan["p1"] < 1 and 0 < plan["p2"] < 1):
            problems.append("p1 and p2 must lie strictly between 0 and 1")
        elif plan["p1"] == plan["p2"]:
            problems.append("p1 and p2 must differ: there would be nothing to detect")
    groups: Any = plan.get("groups")
    if design == "anova" and _number(groups) and (groups < 2 or not float(groups).is_integer()):
        problems.append("groups must be a whole number, 2 or more")
    return problems


@dataclass(frozen=True)
class PlannedSample:
    """The sample size a power analysis gives (rounded up) and the sentence stating it."""

    n_per_group: int
    groups: int
    statement: str

    @property
    def n_total(self) -> int:
        return self.n_per_group * self.groups


def planned_sample(plan: Mapping[str, Any]) -> PlannedSample:
    """The sample size for ``plan`` (closed forms of :mod:`analysis.power`); ``ValueError`` with
    the problems of an invalid plan."""
    if problems := power_plan_problems(plan):
        raise ValueError("power analysis: " + "; ".join(problems))
    design = str(plan["design"])
    alpha, goal = float(plan.get("alpha", 0.05)), float(plan.get("power", 0.8))
    if design == "paired":
        r = power.sample_size_paired_t(abs(plan["effect"]), alpha=alpha, power=goal)
        groups, effect = 1, f"d_z = {plan['effect']:g}"
    elif design == "two_groups":
        r = power.sample_size_two_sample_t(abs(plan["effect"]), alpha=alpha, power=goal)
        groups, effect = 2, f"d = {plan['effect']:g}"
    elif design == "two_proportions":
        r = power.sample_size_two_proportions(plan["p1"], plan["p2"], alpha=alpha, power=goal)
        groups = 2
        effect = f"p₁ = {plan['p1']:g} vs p₂ = {plan['p2']:g} (h = {r.effect_size:.3f})"
    else:
        r = power.sample_size_anova(
            abs(plan["effect"]), int(plan["groups"]), alpha=alpha, power=goal
        )
        groups, effect = int(plan["groups"]), f"f = {plan['effect']:g}"
    per = math.ceil(r.n_per_group - 1e-9)
    unit = "participants" if groups == 1 else f"participants per group × {groups} groups"
    statement = (
        f"{POWER_DESIGNS[design][0]}, {effect}, α = {alpha:g}, power = {goal:g}: "
        f"{r.n_per_group:.2f} → {per} {unit} ({per * groups} in total; R's pwr gives the same)"
    )
    if plan.get("note"):
        statement += f". {plan['note']}"
    return PlannedSample(per, groups, statement)
