"""Query budgets of the participant's hot paths (DESIGN.md: a few cheap queries per request)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from .helpers import arrive, walk_to_trials

pytestmark = pytest.mark.django_db


def test_trial_page_response_and_image_stay_within_their_query_budgets(
    likert_study, django_assert_max_num_queries
):
    client = Client()
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    client.get(url)  # the first view stamps the trial as shown
    with django_assert_max_num_queries(2):  # participant, trial: no transaction once shown
        page = client.get(url)
    assert page.status_code == 200
    token = next(iter(participant.trials.get(index=0).assets))
    with django_assert_max_num_queries(1):  # the file name, by session code and token at once
        assert client.get(f"/s/{participant.code}/img/{token}").status_code == 200
    trial = participant.trials.get(index=0)
    value = {item["name"]: 3 for item in trial.shown["items"]}
    body = {"trial": 0, "value": value, "rt_ms": 1000, "idempotency_key": uuid.uuid4().hex}
    with django_assert_max_num_queries(12):
        answer = client.post(
            f"/api/participants/{participant.code}/responses/",
            body,
            content_type="application/json",
        )
    assert answer.status_code == 201
    with django_assert_max_num_queries(8):
        nxt = client.get(url)  # the next trial: first view
    assert nxt.status_code == 200


def test_participant_json_state_and_form_pages_stay_within_their_query_budgets(
    likert_study, django_assert_max_num_queries
):
    client = Client()
    url, _ = arrive(client, likert_study)
    code = url.strip("/").split("/")[-1]
    with django_assert_max_num_queries(3):
        state = client.get(f"/api/participants/{code}/")
    assert state.status_code == 200 and state.json()["page"] == "consent"
    with django_assert_max_num_queries(8):
        consent = client.post(url, {"page": "consent", "agree": "yes"})
    assert consent.status_code == 302
    participant = walk_to_trials(client, url)
    client.get(url)
    with django_assert_max_num_queries(5):
        trial_state = client.get(f"/api/participants/{participant.code}/")
    assert trial_state.json()["trial"]["index"] == 0


def test_images_are_stored_files_served_with_caching_headers_never_rendered(
    likert_study, monkeypatch
):
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    client = Client()
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    trial = participant.trials.get(index=0)

    def no_rendering(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("an image was decoded or rendered while serving a request")

    monkeypatch.setattr(PILImage, "open", no_rendering)
    monkeypatch.setattr(PILImage, "new", no_rendering)
    for token, name in trial.assets.items():
        response = client.get(f"/s/{participant.code}/img/{token}")
        assert response.status_code == 200
        assert "max-age=" in response["Cache-Control"]
        assert response["Content-Type"].startswith("image/")
        with default_storage.open(name, "rb") as stored:
            assert b"".join(response.streaming_content) == stored.read()
