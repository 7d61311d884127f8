"""The JSON API: researchers' studies, and the participant flow for custom front ends."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from studies.models import Event, Participant, Response, Study
from studies.spec import study_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, researcher):
    client.force_login(researcher)
    return client


def post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def spec(**changes):
    document = {
        "format": "saliency-study",
        "format_version": 1,
        "title": "Preference study",
        "protocol": "preference",
        "configuration": {"question": "Which map shows the object best?"},
        "flow": {"attention_checks": 0},
        "stimuli": {
            "classifier": {"name": "lite0"},
            "image_set": {"name": "animals"},
            "methods": ["gradcam", "occlusion"],
            "images": "all",
            "sample": 4,
        },
    }
    document.update(changes)
    return document


def test_schema_documents_the_participant_and_study_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in (
        "/api/take/{token}/",
        "/api/participants/{code}/",
        "/api/participants/{code}/pages/{page}/",
        "/api/participants/{code}/responses/",
        "/api/studies/",
        "/api/studies/{uid}/spec/",
        "/api/studies/{uid}/state/",
        "/api/studies/{uid}/monitor/",
        "/api/protocols/",
    ):
        assert path in schema["paths"], path
    response_in = schema["components"]["schemas"]["ResponseIn"]
    assert set(response_in["required"]) == {"trial", "value", "idempotency_key"}


def test_create_launch_and_play_a_study_through_the_api(api, assets):
    created = post(api, "/api/studies/", spec())
    assert created.status_code == 201, created.content
    uid = created.json()["uid"]
    assert [c["name"] for c in created.json()["conditions"]] == ["rotation 1"]
    assert api.get(f"/api/studies/{uid}/stimuli/").json() == {
        "ok": True,
        "n_items": 4,
        "messages": [],
    }
    launched = post(api, f"/api/studies/{uid}/state/", {"action": "launch"})
    assert launched.status_code == 200 and launched.json()["state"] == "live"
    study = Study.objects.get(uid=uid)

    front_end = Client()  # a jsPsych-like client: no cookies needed, no CSRF token
    start = post(front_end, f"/api/take/{study.link_token}/", {"PROLIFIC_PID": "pidjs1"})
    assert start.status_code == 201
    state = start.json()
    code = state["code"]
    assert state["page"] == "consent" and "research study" in state["page_data"]["text"]
    assert post(front_end, f"/api/participants/{code}/pages/instructions/", {}).status_code == 409
    state = post(
        front_end, f"/api/participants/{code}/pages/consent/", {"answers": {"agree": True}}
    ).json()
    assert state["page"] == "instructions"
    state = post(front_end, f"/api/participants/{code}/pages/instructions/", {}).json()
    while state["page"] == "trials":
        trial = state["trial"]
        assert all(o["url"].startswith(f"/s/{code}/img/") for o in trial["shown"]["options"])
        body = {
            "trial": trial["index"],
            "value": {"choice": 1},
            "rt_ms": 812.25,
            "idempotency_key": uuid.uuid4().hex,
        }
        saved = post(front_end, f"/api/participants/{code}/responses/", body)
        assert saved.status_code == 201
        state = front_end.get(f"/api/participants/{code}/").json()
    assert state["page"] == "debrief"
    state = post(front_end, f"/api/participants/{code}/pages/debrief/", {}).json()
    assert state["page"] == "complete"
    assert state["page_data"]["redirect_url"].endswith(f"cc={study.completion_code}")
    again = post(front_end, f"/api/take/{study.link_token}/", {"PROLIFIC_PID": "pidjs1"})
    assert again.status_code == 200 and again.json()["code"] == code  # resumed, not new
    participant = Participant.objects.get(code=code)
    assert Response.objects.filter(participant=participant).count() == 4
    assert {r.rt_ms for r in Response.objects.all()} == {812.25}

    monitor = api.get(f"/api/studies/{uid}/monitor/").json()
    assert monitor["states"] == {"completed": 1}
    csv_text = api.get(f"/api/studies/{uid}/export/?table=responses").content.decode()
    assert csv_text.splitlines()[0].startswith("participant_id,condition,set_rotation")
    assert len(csv_text.splitlines()) == 5
    codebook = api.get(f"/api/studies/{uid}/export/?table=codebook").json()
    assert codebook["profile"] == "tabular-data-package"


def test_invalid_study_documents_give_clear_messages_and_store_nothing(api, assets):
    bad = spec(
        configuration={"k": 9, "shape": "round"},
        flow={"attention_checks": -1, "questionnaire": [{"name": "q"}]},
        stimuli={"classifier": "lite0", "image_set": "nope", "methods": ["gradcam"]},
    )
    response = post(api, "/api/studies/", bad)
    assert response.status_code == 400
    error = response.json()["error"]
    details = error["details"]
    assert error["code"] == "invalid"
    assert "stimuli.image_set" in details and "nope" in details["stimuli.image_set"][0]
    assert "at least 2 method" in details["stimuli.methods"][0]
    assert "unknown option" in details["configuration.shape"][0]
    assert "at least 0" in details["flow.attention_checks"][0]
    assert "text is required" in details["flow.questionnaire"][0]
    assert not Study.objects.exists() and not Event.objects.exists()
    assert post(api, "/api/studies/", ["not", "an", "object"]).status_code == 400


def test_an_unknown_method_is_refused_naming_the_known_ones(api, assets):
    response = post(
        api,
        "/api/studies/",
        spec(stimuli={**spec()["stimuli"], "methods": ["gradcam", "no_such_method"]}),
    )
    assert response.status_code == 400
    message = response.json()["error"]["details"]["stimuli.methods"][0]
    assert "unknown method(s): no_such_method" in message and "gradcam" in message
    assert not Study.objects.exists()


def test_api_permissions(client, api, other_researcher, assets):
    uid = post(api, "/api/studies/", spec()).json()["uid"]
    assert client.get("/api/studies/").status_code == 200
    anonymous = Client()
    assert anonymous.get("/api/studies/").status_code in (401, 403)
    assert anonymous.get(f"/api/studies/{uid}/").status_code in (401, 403)
    bob = Client()
    bob.force_login(other_researcher)
    assert bob.get(f"/api/studies/{uid}/").status_code == 404
    assert post(bob, f"/api/studies/{uid}/state/", {"action": "launch"}).status_code == 404
    assert Study.objects.get().state == "draft"


def test_participants_only_reach_their_own_trials(api, assets):
    uid = post(api, "/api/studies/", spec()).json()["uid"]
    post(api, f"/api/studies/{uid}/state/", {"action": "launch"})
    study = Study.objects.get(uid=uid)
    one = post(Client(), f"/api/take/{study.link_token}/", {}).json()["code"]
    two = post(Client(), f"/api/take/{study.link_token}/", {}).json()["code"]
    for code in (one, two):
        post(Client(), f"/api/participants/{code}/pages/consent/", {"answers": {"agree": True}})
        post(Client(), f"/api/participants/{code}/pages/instructions/", {})
    state = Client().get(f"/api/participants/{one}/").json()
    token = state["trial"]["shown"]["options"][0]["asset"]
    assert Client().get(f"/s/{one}/img/{token}").status_code == 200
    assert Client().get(f"/s/{two}/img/{token}").status_code == 404
    assert Client().get("/api/participants/guessed-code/").status_code == 404
    body = {"trial": 0, "value": {"choice": 0}, "idempotency_key": "same-key-123"}
    assert post(Client(), f"/api/participants/{one}/responses/", body).status_code == 201
    # the same key from another participant is that participant's own answer
    assert post(Client(), f"/api/participants/{two}/responses/", body).status_code == 201
    assert Response.objects.count() == 2


def test_protocols_endpoint_lists_options(api):
    data = api.get("/api/protocols/").json()
    names = [p["name"] for p in data]
    assert "likert" in names and "preference" in names
    likert = data[names.index("likert")]
    assert any(o["name"] == "points" and o["default"] == 5 for o in likert["options"])


def test_spec_round_trip_through_the_api(api, likert_study):
    document = api.get(f"/api/studies/{likert_study.uid}/spec/").json()
    assert document == {**study_spec(likert_study), "source": document["source"]}
    created = post(api, "/api/studies/", document)
    assert created.status_code == 201
    copy = Study.objects.get(uid=created.json()["uid"])
    assert copy.configuration == likert_study.configuration and copy.flow == likert_study.flow
