"""Guessing participant codes or study links is slowed down: HTTP 429 after a few misses.

A participant's code (and a study link's token) is the only credential of the participant
pages. Each unknown one is a failed guess; after ``CODE_GUESSES.attempts`` of them the client
gets 429 with a clear message and a Retry-After header on every code-bearing URL, even with a
right code, while other clients are unaffected.
"""

from __future__ import annotations

import secrets

import pytest

from studies.models import Participant
from studyplatform.ratelimit import CODE_GUESSES

from .conftest import World, fresh_client

pytestmark = pytest.mark.django_db

GUESSES = [
    lambda: f"/s/{secrets.token_urlsafe(16)}/",
    lambda: f"/api/participants/{secrets.token_urlsafe(16)}/",
    lambda: f"/take/{secrets.token_urlsafe(12)}/",
    lambda: f"/s/{secrets.token_urlsafe(16)}/img/{secrets.token_urlsafe(8)}",
]


def test_forged_codes_are_rate_limited_with_a_clear_429(world: World):
    guesser = fresh_client()
    for attempt in range(CODE_GUESSES.attempts):
        response = guesser.get(GUESSES[attempt % len(GUESSES)]())
        assert response.status_code == 404, attempt
    blocked = guesser.get(f"/s/{secrets.token_urlsafe(16)}/")
    assert blocked.status_code == 429
    assert b"Too many requests with an unknown participant code" in blocked.content
    assert 0 < int(blocked["Retry-After"]) <= CODE_GUESSES.window_seconds
    # a right guess from the same client is refused too: the limit must not reveal a hit
    right = guesser.get(f"/s/{world.participant.code}/")
    assert right.status_code == 429
    api = guesser.post(
        f"/api/participants/{world.participant.code}/responses/",
        {"trial": 0, "value": {}, "idempotency_key": "k" * 16},
        content_type="application/json",
    )
    assert api.status_code == 429
    body = api.json()
    assert body["error"]["code"] == "rate_limited"
    assert "try again in" in body["error"]["message"]
    assert world.participant.responses.count() == 0  # nothing stored
    # the participant with their real link, elsewhere, goes on
    assert world.clients["participant"].get(f"/s/{world.participant.code}/").status_code == 200


def test_participants_with_real_links_are_never_limited(world: World):
    client = world.clients["participant"]
    url = f"/api/participants/{world.participant.code}/"
    for _ in range(CODE_GUESSES.attempts + 5):
        assert client.get(url).status_code == 200


def test_forged_study_links_do_not_create_sessions(world: World):
    guesser = fresh_client()
    before = Participant.objects.count()
    for _ in range(CODE_GUESSES.attempts + 3):
        response = guesser.post(f"/api/take/{secrets.token_urlsafe(12)}/", {}, "application/json")
        assert response.status_code in (404, 429)
    assert response.status_code == 429
    assert guesser.post(f"/take/{world.study.link_token}/").status_code == 429
    assert Participant.objects.count() == before


def test_a_replayed_code_of_an_ended_session_cannot_answer(world: World):
    participant = world.participant
    Participant.objects.filter(pk=participant.pk).update(state="timed_out", page="expired")
    trial = participant.trials.get(index=0)
    value = {item["name"]: 3 for item in trial.shown["items"]}
    response = world.clients["participant"].post(
        f"/api/participants/{participant.code}/responses/",
        {"trial": 0, "value": value, "idempotency_key": secrets.token_hex(8)},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "there is no trial to answer now"
    assert participant.responses.count() == 0
