"""The study designer's sample-size planner: a form over :mod:`analysis.power`.

Closed forms (the numbers of R's ``pwr``) for the simple designs, and the mixed models of the
analysis by simulation (Green & MacLeod 2016, as ``simr``): the power at a planned number of
participants and items, with its Monte-Carlo CI. Each protocol preselects the design that
matches its main analysis (STATISTICS.md): a within-subject contrast of two methods for Likert
and preference, the 2×2 between-subject cells for model-output simulation, two proportions for
ground-truth prediction.

The simulations run inside the request, so their work is bounded: participants × items ×
simulations at most :data:`MAX_SIMULATED_RESPONSES`, and the form says what to reduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django import forms

from analysis import power
from analysis.cost import CostPlan, plan_cost
from analysis.registry import analysis_protocols

DESIGNS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (label, the fields it needs besides alpha)
    "paired": ("Within-subject: two methods, every participant sees both (d_z)", ("effect",)),
    "two_groups": ("Between-subject: two independent groups (Cohen's d)", ("effect",)),
    "two_proportions": (
        "Between-subject: two accuracies, e.g. with and without maps (p₁ vs p₂)",
        ("p1", "p2"),
    ),
    "anova": (
        "Between-subject: k cells, e.g. the 2×2 of model-output simulation (Cohen's f)",
        ("effect", "groups"),
    ),
    "glmm": (
        "Logistic mixed model (accuracy), by simulation: power at n participants × items",
        ("effect", "participants", "items"),
    ),
    "clmm": (
        "Cumulative-logit mixed model (Likert ratings), by simulation: power at n participants",
        ("effect", "participants", "items"),
    ),
}
SIMULATED = ("glmm", "clmm")
MIN_SIMULATIONS = 20
MAX_SIMULATIONS = 200  # a simulation runs in the request: bounded
DEFAULT_SIMULATIONS = 100
# The simulation runs inside the web request (gunicorn kills a worker after 60 s), so the work is
# bounded: participants × items × simulations simulated responses at most. A CLMM fit costs about
# 30 µs per simulated response (200 × 50 × 200 = 2,000,000 took ~58 s), small fits ~0.1 s each
# (≤ 200 of them), so the worst case stays near 15–25 s on the deployment machine.
MAX_SIMULATED_RESPONSES = 400_000


COST_POWERS = (0.8, 0.9, 0.95)  # the cost table's rows: the sample for each power


@dataclass
class PowerAnswer:
    headline: str
    details: list[str] = field(default_factory=list)
    note: str = ""
    # the planned sample's cost: (the power, or None at the simulated n; its cost by group)
    costs: list[tuple[float | None, CostPlan]] = field(default_factory=list)


def closed_form_size(design: str, d: dict[str, Any], goal: float) -> tuple[int, int]:
    """(participants per group rounded up, groups) of a closed-form design at power ``goal``."""
    alpha = d["alpha"]
    if design == "paired":
        r = power.sample_size_paired_t(abs(d["effect"]), alpha=alpha, power=goal)
        return math.ceil(r.n_per_group), 1
    if design == "two_groups":
        r = power.sample_size_two_sample_t(abs(d["effect"]), alpha=alpha, power=goal)
    elif design == "two_proportions":
        r = power.sample_size_two_proportions(d["p1"], d["p2"], alpha=alpha, power=goal)
    else:
        r = power.sample_size_anova(abs(d["effect"]), d["groups"], alpha=alpha, power=goal)
    return math.ceil(r.n_per_group), r.groups


def cost_options(d: dict[str, Any]) -> dict[str, Any] | None:
    """The cost inputs of the form (``None`` unless both the duration and the rate are given)."""
    if d.get("minutes") is None or d.get("hourly_rate") is None:
        return None
    return {
        "minutes": d["minutes"],
        "hourly_rate": d["hourly_rate"],
        "fee_percent": d.get("fee_percent") or 0.0,
        "tax_percent": d.get("tax_percent") or 0.0,
        "tax_on": d.get("tax_on") or "fee",
        "currency": d.get("currency") or "",
    }


def group_names(groups: int) -> list[str]:
    return ["all participants"] if groups == 1 else [f"group {k + 1}" for k in range(groups)]


class PowerForm(forms.Form):
    design = forms.ChoiceField(choices=[(k, label) for k, (label, _) in DESIGNS.items()])
    effect = forms.FloatField(
        required=False,
        help_text="d or d_z (0.2 small, 0.5 medium, 0.8 large), Cohen's f (0.1, 0.25, 0.4), "
        "or for the mixed models the log odds ratio between the two conditions.",
    )
    p1 = forms.FloatField(required=False, min_value=0.0, max_value=1.0, label="p₁")
    p2 = forms.FloatField(required=False, min_value=0.0, max_value=1.0, label="p₂")
    groups = forms.IntegerField(required=False, min_value=2, max_value=50, initial=4, label="Cells")
    alpha = forms.FloatField(initial=0.05, min_value=0.0001, max_value=0.5, label="α")
    target_power = forms.FloatField(
        initial=0.8, min_value=0.05, max_value=0.999, label="Power", required=False
    )
    participants = forms.IntegerField(required=False, min_value=4, max_value=2000)
    items = forms.IntegerField(required=False, min_value=2, max_value=500, label="Items")
    sd_participant = forms.FloatField(
        required=False, min_value=0.0, max_value=5.0, initial=1.0, label="SD of participants"
    )
    sd_item = forms.FloatField(
        required=False, min_value=0.0, max_value=5.0, initial=0.5, label="SD of items"
    )
    simulations = forms.IntegerField(
        required=False,
        min_value=MIN_SIMULATIONS,
        max_value=MAX_SIMULATIONS,
        initial=DEFAULT_SIMULATIONS,
    )
    minutes = forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=1440,
        label="Expected duration (minutes)",
        help_text="Per participant: your estimate, or the pilot's median.",
    )
    hourly_rate = forms.FloatField(
        required=False, min_value=0.0, max_value=10000, label="Hourly rate"
    )
    currency = forms.CharField(required=False, max_length=10, initial="GBP")
    fee_percent = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=1000,
        initial=0.0,
        label="Platform service fee (%)",
        help_text="Of the rewards (e.g. Prolific's, or MTurk's commission).",
    )
    tax_percent = forms.FloatField(
        required=False, min_value=0.0, max_value=100, initial=0.0, label="Tax (%)"
    )
    tax_on = forms.ChoiceField(
        choices=[("fee", "on the service fee"), ("total", "on rewards and fee")],
        required=False,
        initial="fee",
        label="Tax applies",
    )

    def __init__(self, *args: Any, protocol: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        declared = analysis_protocols().get(protocol)
        self.fields["design"].initial = declared.power_design if declared else "paired"
        for name in ("participants", "items", "sd_participant", "sd_item", "simulations"):
            self.fields[name].help_text = "For the mixed models (simulation)."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        design = data.get("design")
        if not design:
            return data
        for name in DESIGNS[design][1]:
            if data.get(name) is None and name not in self.errors:
                self.add_error(name, f"{DESIGNS[design][0].split(':')[0]} needs this value.")
        effect = data.get("effect")
        if effect is not None and (effect == 0 or not math.isfinite(effect)):
            self.add_error("effect", "The effect size must be a finite number other than 0.")
        if design == "two_proportions" and data.get("p1") is not None:
            if data.get("p1") == data.get("p2"):
                self.add_error("p2", "p₂ must differ from p₁: there is no difference to detect.")
            if data.get("p1") in (0.0, 1.0) or data.get("p2") in (0.0, 1.0):
                self.add_error("p1", "Proportions must lie strictly between 0 and 1.")
        if (data.get("minutes") is None) != (data.get("hourly_rate") is None):
            missing = "minutes" if data.get("minutes") is None else "hourly_rate"
            if missing not in self.errors:
                self.add_error(missing, "The cost needs both the duration and the hourly rate.")
        if design not in SIMULATED and data.get("target_power") is None:
            self.add_error("target_power", "Give the power to reach (e.g. 0.8).")
        if design in SIMULATED:
            self._check_budget(data)
        return data

    def _check_budget(self, data: dict[str, Any]) -> None:
        """Refuse a simulation too large to finish within the request (a specific error)."""
        participants, items = data.get("participants"), data.get("items")
        if participants is None or items is None or "simulations" in self.errors:
            return
        sims = data.get("simulations") or DEFAULT_SIMULATIONS
        work = participants * items * sims
        if work <= MAX_SIMULATED_RESPONSES:
            return
        most = MAX_SIMULATED_RESPONSES // (participants * items)
        if most >= MIN_SIMULATIONS:
            fix = f"reduce the simulations to {most} or fewer, or the participants or items"
        else:
            cells = MAX_SIMULATED_RESPONSES // MIN_SIMULATIONS
            fix = (
                f"reduce the participants or items (participants × items at most {cells:,} "
                f"with {MIN_SIMULATIONS} simulations)"
            )
        self.add_error(
            "simulations",
            f"{participants} participants × {items} items × {sims} simulations = {work:,} "
            f"simulated responses is more than the {MAX_SIMULATED_RESPONSES:,} the planner can "
            f"simulate while the page waits: {fix}.",
        )

    def answer(self) -> PowerAnswer:
        d = self.cleaned_data
        answer = self._answer(d)
        options = cost_options(d)
        if options is None:
            return answer
        plans: list[tuple[float | None, dict[str, int]]] = []
        if d["design"] == "glmm":  # the simulated condition is between subjects: two halves
            n = int(d["participants"])
            plans.append((None, {"group 1": n - n // 2, "group 2": n // 2}))
        elif d["design"] == "clmm":
            plans.append((None, {"all participants": int(d["participants"])}))
        else:
            for goal in COST_POWERS:
                per, groups = closed_form_size(d["design"], d, goal)
                plans.append((goal, dict.fromkeys(group_names(groups), per)))
        answer.costs = [(goal, plan_cost(sizes, **options)) for goal, sizes in plans]
        return answer

    def _answer(self, d: dict[str, Any]) -> PowerAnswer:
        design, alpha = d["design"], d["alpha"]
        if design in SIMULATED:
            return self._simulated(design, d)
        goal = d["target_power"]
        if design == "paired":
            r = power.sample_size_paired_t(abs(d["effect"]), alpha=alpha, power=goal)
            n = math.ceil(r.n_per_group)
            return PowerAnswer(f"{n} participants", [f"paired t test, d_z = {d['effect']}"])
        if design == "two_groups":
            r = power.sample_size_two_sample_t(abs(d["effect"]), alpha=alpha, power=goal)
        elif design == "two_proportions":
            r = power.sample_size_two_proportions(d["p1"], d["p2"], alpha=alpha, power=goal)
        else:
            r = power.sample_size_anova(abs(d["effect"]), d["groups"], alpha=alpha, power=goal)
        per = math.ceil(r.n_per_group)
        return PowerAnswer(
            f"{per} participants per group, {per * r.groups} in total",
            [
                f"{r.design}, effect size {r.effect_size:.3f}, α = {alpha}, power = {goal}",
                f"exact: {r.n_per_group:.2f} per group ({r.n_total:.2f} in total), rounded up",
            ],
            r.note,
        )

    def _simulated(self, design: str, d: dict[str, Any]) -> PowerAnswer:
        options = {
            "n_participants": d["participants"],
            "n_items": d["items"],
            "effect": d["effect"],
            "sd_participant": 1.0 if d.get("sd_participant") is None else d["sd_participant"],
            "sd_item": 0.5 if d.get("sd_item") is None else d["sd_item"],
            "n_sims": d.get("simulations") or DEFAULT_SIMULATIONS,
            "alpha": d["alpha"],
        }
        if design == "glmm":
            r = power.simulate_glmm_power(**options, design="between")
            model = "correct ~ condition + (1|participant) + (1|item), condition between subjects"
        else:
            r = power.simulate_clmm_power(**options, design="within")
            model = "rating ~ method + (1|participant) + (1|item), 5 points, within subjects"
        return PowerAnswer(
            f"power {r.power:.2f} (95% CI {r.ci_low:.2f}–{r.ci_high:.2f}) with "
            f"{r.n_participants} participants × {r.n_items} items",
            [
                model,
                f"{r.n_sims} simulated studies ({r.n_failed} fits failed), "
                f"mean estimate {r.mean_estimate:.3f} for a true effect of {d['effect']}",
            ],
            r.note,
        )
