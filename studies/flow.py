"""The participant flow's configuration and page order (the same for every protocol)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from studies.configschema import ConfigError, Option, Schema
from studies.questions import validate_questions

DEFAULT_CONSENT = (
    "You are invited to take part in a research study about how people understand "
    "explanations of image classifiers. You will look at images and answer questions about "
    "them. It takes about 10–15 minutes. Participation is voluntary and you may stop at any "
    "time. Your answers are stored without your name and analysed in aggregate."
)
DEFAULT_DEBRIEF = (
    "Thank you! The maps you saw were produced by different explanation techniques; your "
    "answers help us learn which of them people find useful."
)

SCHEMA = Schema(
    (
        Option(
            "public_title",
            "str",
            "A study about explanations of image classifiers",
            "Title shown to participants",
            "Keep it neutral: it must not reveal conditions or methods.",
            max_length=200,
        ),
        Option("consent_text", "text", DEFAULT_CONSENT, "Consent text"),
        Option("demographics", "bool", False, "Ask demographic questions (optional to answer)"),
        Option("instructions", "text", "", "Instructions", "Shown after the protocol's own."),
        Option("practice_trials", "int", 0, "Practice trials", minimum=0, maximum=20),
        Option(
            "practice_feedback",
            "bool",
            False,
            "Tell participants after each practice trial whether their answer was right",
            "Shown once the answer is stored, before the next page (simulation and "
            "gt_prediction only: their practice answers have a right answer).",
        ),
        Option("attention_checks", "int", 1, "Attention checks", minimum=0, maximum=10),
        Option(
            "screen_out_after_failures",
            "int",
            None,
            "Screen out after this many failed attention checks",
            "Empty: never screen out during the session.",
            minimum=1,
            maximum=10,
            nullable=True,
        ),
        Option(
            "max_trials",
            "int",
            None,
            "Trials per participant",
            "Empty: every image once.",
            minimum=1,
            maximum=1000,
            nullable=True,
        ),
        Option(
            "questionnaire",
            "json",
            [],
            "Questionnaire after the trials",
            "A list of {name, text, type: text|number|choice|likert, options, points, required}.",
        ),
        Option("debrief", "text", DEFAULT_DEBRIEF, "Debriefing text"),
        Option(
            "resume_policy",
            "choice",
            "resume",
            "Returning participant",
            "resume where they were, restart from the beginning, or block.",
            choices=("resume", "restart", "block"),
        ),
        Option(
            "timeout_minutes",
            "int",
            60,
            "Session timeout (minutes)",
            "A started session counts for its condition for this long.",
            minimum=1,
            maximum=10080,
        ),
        Option(
            "quota_per_condition",
            "int",
            None,
            "Participants per condition",
            "Empty: no limit.",
            minimum=1,
            maximum=100000,
            nullable=True,
        ),
        Option(
            "completion_url",
            "str",
            "",
            "Completion URL",
            "Empty: Prolific's or MTurk's own; {code} is replaced by the completion code.",
            max_length=500,
        ),
        Option("screen_out_url", "str", "", "Screen-out URL", max_length=500),
        Option("screen_out_code", "str", "", "Prolific screen-out code", max_length=40),
        # --- the plan: preregistration and cost (PLAN_OPTIONS) -----------------------------
        Option(
            "hypotheses",
            "text",
            "",
            "Hypotheses",
            "Your hypotheses, in your words: they open the preregistration.",
        ),
        Option(
            "power_analysis",
            "json",
            None,
            "Power analysis",
            'The planner\'s inputs, e.g. {"design": "two_proportions", "p1": 0.7, "p2": 0.55, '
            '"alpha": 0.05, "power": 0.8}; designs: paired, two_groups, two_proportions, anova '
            "(with effect, groups). The preregistration states the sample size it gives.",
            nullable=True,
        ),
        Option(
            "expected_minutes",
            "float",
            None,
            "Expected duration (minutes)",
            "Per participant; empty: the pilot's median once there is one.",
            minimum=0.1,
            maximum=1440,
            nullable=True,
        ),
        Option(
            "hourly_rate",
            "float",
            None,
            "Payment per hour",
            "Empty: no cost estimate.",
            minimum=0,
            maximum=10000,
            nullable=True,
        ),
        Option("currency", "str", "GBP", "Currency", max_length=10),
        Option(
            "platform_fee_percent",
            "float",
            0.0,
            "Platform service fee (%)",
            "Of the rewards (e.g. Prolific's service fee, MTurk's commission); empty: 0.",
            minimum=0,
            maximum=1000,
            nullable=True,
        ),
        Option(
            "tax_percent",
            "float",
            0.0,
            "Tax (%)",
            "Empty: 0.",
            minimum=0,
            maximum=100,
            nullable=True,
        ),
        Option(
            "tax_on",
            "choice",
            "fee",
            "Tax applies to",
            "fee: the service fee only (e.g. VAT on Prolific's fee); total: rewards and fee.",
            choices=("fee", "total"),
            nullable=True,
        ),
        Option(
            "exclude_attention_failures",
            "int",
            1,
            "Exclude after this many failed attention checks",
            "Declared exclusion rule applied in the export (empty: none).",
            minimum=1,
            maximum=10,
            nullable=True,
        ),
        Option(
            "exclude_median_rt_below_ms",
            "int",
            None,
            "Exclude if the median response time is below (ms)",
            minimum=1,
            maximum=600000,
            nullable=True,
        ),
        Option(
            "exclude_straightlining",
            "bool",
            False,
            "Exclude participants who gave the same answer to every trial",
        ),
        Option("exclude_incomplete", "bool", True, "Exclude participants who did not complete"),
        Option(
            "comprehension",
            "json",
            [],
            "Comprehension check after the instructions",
            "A list of {text, options, answer}. A wrong answer sends the participant back to the "
            "instructions; after the last attempt they are screened out (declared exclusion).",
            nullable=True,  # an empty form field means no check
        ),
        Option(
            "comprehension_attempts",
            "int",
            2,
            "Comprehension check attempts",
            "Empty: 2.",
            minimum=1,
            maximum=10,
            nullable=True,
        ),
    )
)


PLAN_OPTIONS = (
    "hypotheses",
    "power_analysis",
    "expected_minutes",
    "hourly_rate",
    "currency",
    "platform_fee_percent",
    "tax_percent",
    "tax_on",
)


def validate_flow(data: Any) -> dict[str, Any]:
    clean, errors = SCHEMA.validate(data)
    if clean.get("power_analysis") is not None:
        from analysis.preregistration import power_plan_problems

        if problems := power_plan_problems(clean["power_analysis"]):
            errors["power_analysis"] = problems
    if "questionnaire" in clean:
        try:
            clean["questionnaire"] = validate_questions(clean["questionnaire"])
        except ConfigError as error:
            errors["questionnaire"] = [
                f"{where}: {' '.join(m)}" if where else " ".join(m)
                for where, m in error.errors.items()
            ]
    if "comprehension" in clean:
        clean["comprehension"] = clean["comprehension"] or []
        clean["comprehension_attempts"] = clean.get("comprehension_attempts") or 2
        problems = comprehension_problems(clean["comprehension"])
        if problems:
            errors["comprehension"] = problems
    for name in ("completion_url", "screen_out_url"):
        url = clean.get(name)
        if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
            errors.setdefault(name, []).append("must be an http(s) address")
    if errors:
        raise ConfigError(errors)
    return clean


def comprehension_problems(questions: Any) -> list[str]:
    """What is wrong with a comprehension check definition (empty when valid)."""
    if not isinstance(questions, list):
        return ["must be a list of {text, options, answer}"]
    out = []
    for k, q in enumerate(questions, start=1):
        if not isinstance(q, Mapping) or set(q) - {"text", "options", "answer"}:
            out.append(f"question {k}: give exactly text, options and answer")
            continue
        options = q.get("options")
        if not isinstance(q.get("text"), str) or not q["text"].strip():
            out.append(f"question {k}: text is required")
        if (
            not isinstance(options, list)
            or len(options) < 2
            or not all(isinstance(o, str) and o.strip() for o in options)
        ):
            out.append(f"question {k}: give at least two options")
        elif q.get("answer") not in options:
            out.append(f"question {k}: the answer must be one of the options")
    return out


def comprehension_questions(flow: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The check as choice questions for the page (without the answers)."""
    return [
        {
            "name": f"check_{k}",
            "text": q["text"],
            "type": "choice",
            "options": list(q["options"]),
            "required": True,
        }
        for k, q in enumerate(flow.get("comprehension") or [], start=1)
    ]


def comprehension_passed(flow: Mapping[str, Any], answers: Mapping[str, Any]) -> bool:
    return all(
        answers.get(f"check_{k}") == q["answer"]
        for k, q in enumerate(flow.get("comprehension") or [], start=1)
    )


def pages(flow: Mapping[str, Any]) -> list[str]:
    """The participant's pages in order."""
    out = ["consent"]
    if flow.get("demographics"):
        out.append("demographics")
    out.append("instructions")
    if flow.get("comprehension"):
        out.append("comprehension")
    if flow.get("practice_trials"):
        out.append("practice")
    out.append("trials")
    if flow.get("questionnaire"):
        out.append("questionnaire")
    out += ["debrief", "complete"]
    return out


def next_page(flow: Mapping[str, Any], page: str) -> str:
    order = pages(flow)
    return order[min(order.index(page) + 1, len(order) - 1)]
