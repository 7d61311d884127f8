"""A trial's form, for the full page and for the answer's reply alike (issue 22).

The trial page and the reply to an answer render the same template
(``participant/_trial_form.html``), so that the browser can put the next trial in place of the
one just answered, one request per trial, and a browser without JavaScript posts the very same
form to the page. Both carry the URLs of the pictures of the trial after it, which the page
fetches while the participant answers.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from studies import presenters
from studies.models import Participant, Trial
from studies.protocols import get_protocol
from studies.selectors import current_and_next_trial
from studies.services.participants import trial_show

FORM_TEMPLATE = "participant/_trial_form.html"


def trial_context(
    participant: Participant, trial: Trial, following: Trial | None
) -> dict[str, Any]:
    """What the trial form's template gets: the shown payload, never the trial row."""
    shown = presenters.trial_shown(participant, trial)
    prefetch = (
        presenters.image_urls(presenters.trial_shown(participant, following)) if following else []
    )
    return {
        "code": participant.code,
        "page": participant.page,
        "trial_index": trial.index,
        "step": presenters.trial_step(participant, trial.index),
        "shown": shown,
        "images": presenters.image_urls(shown),
        "prefetch": prefetch,
        "protocol_template": get_protocol(participant.study.protocol).template,
        "idempotency_key": uuid.uuid4().hex,
    }


def next_trial(request: HttpRequest, participant: Participant) -> dict[str, Any] | None:
    """The participant's current trial as the answer's reply carries it (shown from now on),
    or None when their next page is not a trial (the reply's ``next`` URL is then the way on)."""
    trial, following = current_and_next_trial(participant)
    if trial is None:
        return None
    trial_show(participant=participant, trial=trial)
    context = trial_context(participant, trial, following)
    public_title = presenters.public_title(participant.study)
    return {
        "index": trial.index,
        "title": f"{context['step']} · {public_title}",
        "progress": presenters.progress_percent(participant),
        "url": reverse("studies:participant-page", args=[participant.code]),
        "images": context["images"],
        "prefetch": context["prefetch"],
        "html": render_to_string(
            FORM_TEMPLATE, {**context, "error": "", "public_title": public_title}, request
        ),
    }
