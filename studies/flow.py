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
    )
)


def validate_flow(data: Any) -> dict[str, Any]:
    clean, errors = SCHEMA.validate(data)
    if "questionnaire" in clean:
        try:
            clean["questionnaire"] = validate_questions(clean["questionnaire"])
        except ConfigError as error:
            errors["questionnaire"] = [
                f"{where}: {' '.join(m)}" if where else " ".join(m)
                for where, m in error.errors.items()
            ]
    for name in ("completion_url", "screen_out_url"):
        url = clean.get(name)
        if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
            errors.setdefault(name, []).append("must be an http(s) address")
    if errors:
        raise ConfigError(errors)
    return clean


def pages(flow: Mapping[str, Any]) -> list[str]:
    """The participant's pages in order."""
    out = ["consent"]
    if flow.get("demographics"):
        out.append("demographics")
    out.append("instructions")
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
