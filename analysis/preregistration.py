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

import hashlib
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analysis import power

__all__ = [
    "EXCLUSION_RULES",
    "FORMAT",
    "POWER_DESIGNS",
    "Deviation",
    "PlannedSample",
    "canonical_json",
    "deviations",
    "document",
    "document_hash",
    "html_document",
    "markdown",
    "planned_analyses",
    "planned_sample",
    "power_plan_problems",
]

FORMAT = "studyplatform-preregistration"
FORMAT_VERSION = 1
# the flow's declared exclusion rules, and how the document states each
EXCLUSION_RULES: dict[str, str] = {
    "exclude_attention_failures": "failed at least {} attention check(s)",
    "exclude_median_rt_below_ms": "had a median response time over the main trials below {} ms",
    "exclude_straightlining": "gave the same answer to every main trial (straight-lining)",
    "exclude_incomplete": "did not complete the study",
    "screen_out_after_failures": "were screened out during the session after {} failed "
    "attention check(s)",
    "comprehension_attempts": "failed the comprehension check {} time(s) (screened out)",
}

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


# --------------------------------------------------------------------------------------------
# the document


def planned_analyses(protocol: str, configuration: Mapping[str, Any]) -> list[str]:
    """The confirmatory analyses (with model formulas) and companions the protocol's pipeline
    runs with ``configuration``, one sentence each, as the protocol declares them
    (``analysis_plan`` of :class:`analysis.registry.AnalysisProtocol`)."""
    from analysis.registry import get_analysis_protocol

    declared = get_analysis_protocol(protocol)
    if declared.analysis_plan is not None:
        return declared.analysis_plan(configuration)
    return [
        f"The analyses of the {declared.title} protocol: {', '.join(declared.key_analyses)} "
        f"(analysis/protocols/{declared.id}.py)."
    ]


def _exclusions(flow: Mapping[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for key in EXCLUSION_RULES:
        value = flow.get(key)
        if key == "comprehension_attempts" and not flow.get("comprehension"):
            continue
        if value not in (None, False, 0):
            rules[key] = value
    return rules


def _sample(flow: Mapping[str, Any], n_conditions: int) -> dict[str, Any] | None:
    plan = flow.get("power_analysis")
    if plan:
        s = planned_sample(plan)
        return {
            "n_total": s.n_total,
            "n_per_group": s.n_per_group,
            "groups": s.groups,
            "statement": s.statement,
            "source": "power analysis",
        }
    quota = flow.get("quota_per_condition")
    if quota:
        return {
            "n_total": int(quota) * n_conditions,
            "n_per_group": int(quota),
            "groups": n_conditions,
            "statement": f"{quota} participants per condition × {n_conditions} condition(s) "
            f"(the quota; no power analysis declared)",
            "source": "quota",
        }
    return None


def document(
    spec: Mapping[str, Any],
    *,
    protocol_label: str,
    measures: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The preregistration of the study file ``spec`` (``study_spec``): ``plan`` (what
    :func:`deviations` compares) and ``sections`` (OSF headings; each answer names the
    AsPredicted question it answers). ``measures``: the protocol's measured columns (name,
    description). Deterministic: nothing in it depends on when it is built."""
    flow: Mapping[str, Any] = spec.get("flow") or {}
    config: Mapping[str, Any] = spec.get("configuration") or {}
    stimuli: Mapping[str, Any] = spec.get("stimuli") or {}
    conditions = [dict(c) for c in spec.get("conditions") or []]
    protocol = str(spec["protocol"])
    analyses = planned_analyses(protocol, config)
    sample = _sample(flow, max(len(conditions), 1))
    exclusions = _exclusions(flow)
    methods: list[str] = [str(m) for m in stimuli.get("methods") or []]
    classifier: dict[str, Any] = dict(stimuli.get("classifier") or {})
    presentations: list[dict[str, Any]] = [dict(p) for p in stimuli.get("presentations") or []]
    n_items = len(stimuli.get("items") or [])
    image_set = (stimuli.get("image_set") or {}).get("name")
    plan: dict[str, Any] = {
        "protocol": protocol,
        "configuration": dict(config),
        "conditions": conditions,
        "methods": methods,
        "images": stimuli.get("images"),
        "n_items": n_items,
        "classifier": classifier,
        "image_set": image_set,
        "presentations": presentations,
        "exclusions": exclusions,
        "planned_sample": sample,
        "analyses": analyses,
        "hypotheses": str(flow.get("hypotheses") or "").strip(),
    }
    cond_text = (
        "; ".join(
            f"{c['name']}" + (f" (quota {c['quota']})" if c.get("quota") else "")
            for c in conditions
        )
        or "one condition"
    )
    within = config.get("design") == "within"
    assignment = (
        "Every participant sees every condition, balanced over images by a Latin square "
        "(Williams design); the rows of the square are assigned to participants."
        if within
        else "Between subjects: the server assigns each participant to the least-filled "
        "condition (completed participants and those started within a timeout; previews and "
        "excluded participants are not counted)."
    )
    count = f"{n_items} images" if n_items else "the images (resolved when the study opens)"
    stimulus_text = (
        f"{count} of the image set {image_set!r} "
        f"(selection: {plan['images'] or 'all'} images"
        + (
            f", a sample of {stimuli['sample']} with seed {stimuli.get('seed', 0)}"
            if stimuli.get("sample")
            else ""
        )
        + f"), classified by {classifier.get('name', '?')}"
        + (f" (SHA-256 {classifier['sha256']})" if classifier.get("sha256") else "")
        + "; explanation methods: "
        + (", ".join(methods) or "none")
        + "."
    )
    if presentations:
        stimulus_text += (
            " Presentation: "
            + "; ".join(
                f"{p.get('name')}: " + ", ".join(f"{k}={v}" for k, v in p.items() if k != "name")
                for p in presentations
            )
            + "."
        )
    exclusion_text = (
        "Participants are excluded (and counted, with their reasons) when they "
        + "; ".join(EXCLUSION_RULES[k].format(v) for k, v in exclusions.items())
        + ". Previews and pilot sessions are never analysed."
        if exclusions
        else "No exclusion rules are declared. Previews and pilot sessions are never analysed."
    )
    sample_text = (
        sample["statement"] + "."
        if sample
        else "No planned sample size is declared (no power analysis and no quota)."
    )
    sections = [
        {
            "heading": "Study information",
            "answers": [
                {"question": "Title", "aspredicted": 9, "answer": str(spec.get("title", ""))},
                {
                    "question": "Description",
                    "aspredicted": None,
                    "answer": str(spec.get("description") or "—"),
                },
                {
                    "question": "Hypotheses",
                    "aspredicted": 2,
                    "answer": plan["hypotheses"] or "(none written yet)",
                },
            ],
        },
        {
            "heading": "Design plan",
            "answers": [
                {
                    "question": "Study type",
                    "aspredicted": None,
                    "answer": f"Experiment: {protocol_label} ({protocol}).",
                },
                {
                    "question": "Conditions and assignment",
                    "aspredicted": 4,
                    "answer": f"Conditions: {cond_text}. {assignment}",
                },
                {
                    "question": "Stimuli and their selection",
                    "aspredicted": 8,
                    "answer": stimulus_text,
                },
                {
                    "question": "Protocol settings",
                    "aspredicted": 8,
                    "answer": ", ".join(
                        f"{k} = {json.dumps(v, ensure_ascii=False)}"
                        for k, v in sorted(config.items())
                    )
                    or "defaults",
                },
            ],
        },
        {
            "heading": "Sampling plan",
            "answers": [
                {
                    "question": "Existing data",
                    "aspredicted": 1,
                    "answer": "No: this document is written before data collection and frozen, "
                    "with its SHA-256, when the study is launched.",
                },
                {
                    "question": "Sample size and its rationale",
                    "aspredicted": 7,
                    "answer": sample_text,
                },
            ],
        },
        {
            "heading": "Variables",
            "answers": [
                {
                    "question": "Measured variables",
                    "aspredicted": 3,
                    "answer": "; ".join(f"`{name}`: {text}" for name, text in measures) or "—",
                },
            ],
        },
        {
            "heading": "Analysis plan",
            "answers": [
                {"question": "Statistical models", "aspredicted": 5, "answer": " ".join(analyses)},
                {"question": "Data exclusion", "aspredicted": 6, "answer": exclusion_text},
                {
                    "question": "Inference criteria",
                    "aspredicted": 5,
                    "answer": "Estimates with 95% confidence intervals; p-values adjusted within "
                    "each model's family of effects (Holm), exploratory analyses by "
                    "Benjamini–Hochberg.",
                },
            ],
        },
    ]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "title": str(spec.get("title", "")),
        "plan": plan,
        "sections": sections,
    }


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """Keys sorted, no spaces, UTF-8: the bytes whose SHA-256 is the document's hash."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def document_hash(doc: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def markdown(
    doc: Mapping[str, Any], *, sha256: str | None = None, frozen_at: str | None = None
) -> str:
    """The document as Markdown (headings of OSF's template, AsPredicted numbers in brackets)."""
    lines = [f"# Preregistration: {doc['title']}", ""]
    if sha256:
        lines += [
            f"Frozen at launch{f' ({frozen_at})' if frozen_at else ''}; SHA-256 of its "
            f"canonical JSON: `{sha256}`.",
            "",
        ]
    else:
        lines += ["Draft: not frozen yet (it is frozen when the study is launched).", ""]
    for section in doc["sections"]:
        lines += [f"## {section['heading']}", ""]
        for a in section["answers"]:
            tag = f" (AsPredicted {a['aspredicted']})" if a.get("aspredicted") else ""
            lines += [f"**{a['question']}**{tag}", "", str(a["answer"]), ""]
    return "\n".join(lines).rstrip() + "\n"


_HTML_CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;"
    "max-width:50rem;padding:0 1rem;color:#222;line-height:1.5}h1{font-size:1.5rem}"
    "h2{font-size:1.2rem;margin-top:2rem}dt{font-weight:600;margin-top:1rem}dd{margin:0.25rem 0 0}"
    "code{background:#f3f3f3;padding:0 0.2em;overflow-wrap:anywhere}"
    ".tag{color:#555;font-weight:400}"
)


def _inline(text: str) -> str:
    """Escaped text with Markdown's `code` spans as <code> and line breaks kept."""
    parts = re.split(r"`([^`]*)`", text)
    out = [
        f"<code>{html.escape(part)}</code>" if i % 2 else html.escape(part)
        for i, part in enumerate(parts)
    ]
    return "".join(out).replace("\n", "<br>")


def html_document(
    doc: Mapping[str, Any], *, sha256: str | None = None, frozen_at: str | None = None
) -> str:
    """The document as one self-contained HTML page: the same sections, questions and answers
    as :func:`markdown` (a question list per OSF heading, AsPredicted numbers beside them)."""
    title = f"Preregistration: {doc['title']}"
    if sha256:
        at = f" ({html.escape(frozen_at)})" if frozen_at else ""
        status = f"Frozen at launch{at}; SHA-256 of its canonical JSON: <code>{sha256}</code>."
    else:
        status = "Draft: not frozen yet (it is frozen when the study is launched)."
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_HTML_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{status}</p>",
    ]
    for section in doc["sections"]:
        parts.append(f"<h2>{html.escape(section['heading'])}</h2><dl>")
        for a in section["answers"]:
            tag = (
                f' <span class="tag">(AsPredicted {html.escape(str(a["aspredicted"]))})</span>'
                if a.get("aspredicted")
                else ""
            )
            parts.append(f"<dt>{html.escape(a['question'])}{tag}</dt>")
            parts.append(f"<dd>{_inline(str(a['answer']))}</dd>")
        parts.append("</dl>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# deviations


@dataclass(frozen=True)
class Deviation:
    """One difference between the registered plan and what was run."""

    what: str
    registered: str
    actual: str

    def __str__(self) -> str:
        return f"{self.what}: registered {self.registered}; run {self.actual}"


def _show(value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def deviations(
    registered: Mapping[str, Any],
    actual: Mapping[str, Any],
    *,
    n_analysed: int | None = None,
    researcher_exclusions: int = 0,
    researcher_inclusions: int = 0,
) -> list[Deviation]:
    """Every difference between the registered ``plan`` and the ``plan`` of the study as run
    (both from :func:`document`), plus the sample: ``n_analysed`` participants against the
    planned N, participants the researcher excluded outside the declared rules and those the
    researcher included again although a rule excluded them."""
    out: list[Deviation] = []
    reg_c = {c["name"]: c for c in registered.get("conditions", [])}
    act_c = {c["name"]: c for c in actual.get("conditions", [])}
    for name in act_c.keys() - reg_c.keys():
        out.append(Deviation(f"condition {name!r}", "absent", "added"))
    for name in reg_c.keys() - act_c.keys():
        out.append(Deviation(f"condition {name!r}", "present", "removed"))
    for name in sorted(reg_c.keys() & act_c.keys()):
        for key in ("factors", "quota"):
            if reg_c[name].get(key) != act_c[name].get(key):
                out.append(
                    Deviation(
                        f"condition {name!r} {key}",
                        _show(reg_c[name].get(key)),
                        _show(act_c[name].get(key)),
                    )
                )
    reg_x, act_x = registered.get("exclusions", {}), actual.get("exclusions", {})
    for key in sorted(reg_x.keys() | act_x.keys()):
        if reg_x.get(key) != act_x.get(key):
            out.append(
                Deviation(f"exclusion rule {key}", _show(reg_x.get(key)), _show(act_x.get(key)))
            )
    reg_cfg, act_cfg = registered.get("configuration", {}), actual.get("configuration", {})
    for key in sorted(reg_cfg.keys() | act_cfg.keys()):
        if reg_cfg.get(key) != act_cfg.get(key):
            out.append(
                Deviation(f"setting {key}", _show(reg_cfg.get(key)), _show(act_cfg.get(key)))
            )
    for key, what in (
        ("protocol", "protocol"),
        ("methods", "explanation methods"),
        ("n_items", "number of images"),
        ("images", "image selection"),
        ("classifier", "classifier"),
        ("image_set", "image set"),
        ("presentations", "presentation"),
        ("hypotheses", "hypotheses"),
        ("analyses", "analyses"),
        ("planned_sample", "planned sample"),
    ):
        if registered.get(key) != actual.get(key):
            out.append(Deviation(what, _show(registered.get(key)), _show(actual.get(key))))
    planned = registered.get("planned_sample")
    if n_analysed is not None and planned and n_analysed != planned["n_total"]:
        word = "fewer" if n_analysed < planned["n_total"] else "more"
        out.append(
            Deviation(
                "sample size",
                f"{planned['n_total']} participants ({planned['source']})",
                f"{n_analysed} analysed ({abs(planned['n_total'] - n_analysed)} {word})",
            )
        )
    if researcher_exclusions:
        out.append(
            Deviation(
                "exclusions",
                "the declared rules only",
                f"{researcher_exclusions} participant(s) excluded by the researcher",
            )
        )
    if researcher_inclusions:
        out.append(
            Deviation(
                "exclusions",
                "the declared rules applied to everyone",
                f"{researcher_inclusions} participant(s) included again by the researcher",
            )
        )
    return out
