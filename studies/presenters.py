"""What a participant's browser receives, for the pages and the JSON API alike.

Everything here is built from a trial's ``shown`` payload and the study's participant-facing
texts, never from ``hidden``, the condition, method names or stored file names: images are
referred to by opaque per-participant tokens.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.urls import reverse

from studies import sealing
from studies.models import Participant, Study, Trial
from studies.protocols import get_protocol
from studies.recruitment import completion_redirect, screen_out_redirect

DEFAULT_PUBLIC_TITLE = "A study about explanations of image classifiers"


@functools.lru_cache(maxsize=4)
def _sealing_key(secret: str) -> bytes:
    return sealing.derive_key(secret)


def sealing_key() -> bytes:
    """The key that seals participants' image names (derived from SECRET_KEY, once)."""
    return _sealing_key(settings.SECRET_KEY)


def with_urls(
    shown: dict[str, Any], code: str, assets: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A copy of ``shown`` where every ``{"asset": token}`` also has its image ``url``.

    With the trial's ``assets`` (token → stored name) the URL carries the name sealed for this
    participant (:mod:`studies.sealing`): served without a query, cacheable for good. Without
    them it carries the token, which the image view looks up."""
    key = sealing_key() if assets is not None else b""

    def url(token: str) -> str:
        name = assets.get(token) if assets is not None else None
        part = sealing.seal(key, code, name) if name else token
        return reverse("studies:participant-image", args=[code, part])

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: walk(v) for k, v in value.items()}
            if isinstance(value.get("asset"), str):
                out["url"] = url(value["asset"])
            return out
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(copy.deepcopy(shown))


def trial_shown(participant: Participant, trial: Trial) -> dict[str, Any]:
    """What the trial shows, with its pictures' sealed URLs."""
    return with_urls(trial.shown, participant.code, trial.assets)


def image_urls(shown: Any) -> list[str]:
    """Every picture URL in a :func:`with_urls` payload, in order, each once."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            url = value.get("url")
            if isinstance(value.get("asset"), str) and isinstance(url, str) and url not in found:
                found.append(url)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(shown)
    return found


def progress_percent(participant: Participant) -> int:
    if participant.page in ("debrief", "complete", "questionnaire"):
        return 100
    if not participant.n_trials:
        return 0
    return round(100 * participant.n_answered / participant.n_trials)


def trial_step(participant: Participant, index: int) -> str:
    """The page title's step for trial ``index`` (from 0, practice first): "Practice trial 1 of
    2" or "Trial 3 of 40", main trials and attention checks counted alike (the title must not
    tell an attention check apart)."""
    practice = participant.n_practice
    if index < practice:
        return f"Practice trial {index + 1} of {practice}"
    return f"Trial {index - practice + 1} of {participant.n_trials - practice}"


def trial_payload(participant: Participant, trial: Trial) -> dict[str, Any]:
    return {
        "index": trial.index,
        "protocol": participant.study.protocol,
        "shown": trial_shown(participant, trial),
    }


def instructions_text(study: Study) -> str:
    own = get_protocol(study.protocol).instructions(study.configuration)
    extra = str(study.flow.get("instructions") or "").strip()
    return f"{own}\n\n{extra}".strip()


def completion(participant: Participant) -> dict[str, Any]:
    study = participant.study
    return {
        "code": study.completion_code,
        "redirect_url": completion_redirect(
            source=participant.source,
            recruitment=participant.recruitment,
            flow=study.flow,
            code=study.completion_code,
        )
        if participant.mode != Participant.Mode.PREVIEW
        else None,
    }


def screen_out(participant: Participant) -> dict[str, Any]:
    url = None
    if participant.mode != Participant.Mode.PREVIEW:
        url = screen_out_redirect(source=participant.source, flow=participant.study.flow)
    return {"redirect_url": url}


def page_data(participant: Participant) -> dict[str, Any]:
    """The texts and questions of the participant's current (non-trial) page."""
    from studies.services.participants import questions_for

    study = participant.study
    page = participant.page
    if page == "consent":
        return {"text": study.flow["consent_text"]}
    if page == "instructions":
        return {"text": instructions_text(study)}
    if page in ("demographics", "questionnaire", "comprehension"):
        return {"questions": questions_for(study, page)}
    if page == "debrief":
        return {"text": study.flow["debrief"]}
    if page == "complete":
        return completion(participant)
    if page == "screened_out":
        return screen_out(participant)
    if page == "feedback":  # only ever reached after the practice answer is stored
        from studies.services.responses import current_feedback

        return current_feedback(participant) or {}
    return {}


def public_title(study: Study) -> str:
    return str(study.flow.get("public_title") or DEFAULT_PUBLIC_TITLE)
