"""A trial whose pictures do not load: the participant's page reports it (``trial.image_failed``
in the event log, with the trial's index only) through the participant API. The page itself
(retries, answers kept disabled, the message and its retry button) is tested under node
(test_participant_js.py) and in Chromium (tests/browser/test_participant_trial_pages.py)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from studies.models import Event, Participant
from studies.services.participants import IMAGE_FAILURES_LOGGED

from .helpers import arrive, code_of, submit, walk_to_trials

pytestmark = pytest.mark.django_db


def report(client: Client, code: str, body: object):
    return client.post(
        f"/api/participants/{code}/events/", json.dumps(body), content_type="application/json"
    )


def failures(participant: Participant) -> list[dict]:
    return list(
        Event.objects.filter(participant=participant, kind="trial.image_failed")
        .order_by("pk")
        .values_list("data", flat=True)
    )


def test_a_failed_image_of_the_current_trial_is_logged_with_its_index_only(client, likert_study):
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    reply = report(client, participant.code, {"kind": "trial.image_failed", "trial": 0})
    assert reply.status_code == 201
    assert reply.json() == {"kind": "trial.image_failed", "trial": 0, "logged": True}
    assert failures(participant) == [{"index": 0}]

    # the next trial, once the first is answered; an old or a future trial is refused
    assert submit(client, participant).status_code == 201
    for index in (0, 2):
        stale = report(client, participant.code, {"kind": "trial.image_failed", "trial": index})
        assert stale.status_code == 409 and stale.json()["error"]["code"] == "wrong_page"
    assert (
        report(client, participant.code, {"kind": "trial.image_failed", "trial": 1}).status_code
        == 201
    )
    assert failures(participant) == [{"index": 0}, {"index": 1}]


def test_only_known_kinds_and_only_on_a_trial_page(client, likert_study):
    url, _ = arrive(client, likert_study)
    code = code_of(url)
    # still on the consent page: nothing to report on
    early = report(client, code, {"kind": "trial.image_failed", "trial": 0})
    assert early.status_code == 409 and early.json()["page"] == "consent"
    participant = walk_to_trials(client, url)
    for body in (
        {"kind": "response.saved", "trial": 0},  # the client cannot write other events
        {"kind": "trial.image_failed"},
        {"kind": "trial.image_failed", "trial": -1},
    ):
        assert report(client, code, body).status_code == 400, body
    missing = report(client, "no-such-code", {"kind": "trial.image_failed", "trial": 0})
    assert missing.status_code == 404
    assert failures(participant) == []


def test_a_page_that_keeps_failing_cannot_flood_the_log(client, likert_study):
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    body = {"kind": "trial.image_failed", "trial": 0}
    for _ in range(IMAGE_FAILURES_LOGGED):
        assert report(client, participant.code, body).json()["logged"] is True
    extra = report(client, participant.code, body)
    assert extra.status_code == 201 and extra.json()["logged"] is False
    assert len(failures(participant)) == IMAGE_FAILURES_LOGGED
