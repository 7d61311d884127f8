"""Feedback after practice answers (flow option ``practice_feedback``): the server tells the
participant whether a stored practice answer was right, on a page of its own, before going on.

Walked through the participant pages and through the JSON API; refused for protocols whose
practice answers have no right answer; never in a payload before the answer is stored.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from studies.bots import simulate
from studies.configschema import ConfigError
from studies.models import Event, Participant, Response, Study, Trial
from studies.services.studies import design_validate
from studies.spec import spec_parse, study_spec

from .conftest import METHODS, create_study, design_kwargs, make_assets
from .helpers import arrive, walk_to_trials
from .test_leaks import Crawl, assert_no_leak, forbidden_strings, play

pytestmark = pytest.mark.django_db
FEEDBACK_FLOW = {"practice_trials": 2, "practice_feedback": True, "attention_checks": 0}


@pytest.fixture
def sim_assets(media_root):
    """24 images, 4 per class, half of them misclassified: enough for simulation tasks."""
    return make_assets(n_images=24, methods=METHODS[:1], misclassified=lambda k: (k // 6) % 2 == 0)


@pytest.fixture
def gt_assets(media_root):
    return make_assets(n_images=8, methods=METHODS[:1])


def sim_study(researcher, assets, **flow: Any) -> Study:
    return create_study(
        researcher,
        assets,
        protocol="simulation",
        configuration={"tasks": 3},
        flow={**FEEDBACK_FLOW, **flow},
    )


def current(participant: Participant) -> Trial:
    participant.refresh_from_db()
    return Trial.objects.get(participant=participant, index=participant.n_answered)


def sim_answer(trial: Trial, *, right: bool) -> dict[str, str]:
    said = bool(trial.hidden["model_output"]) == right
    return {"prediction": "yes" if said else "no", "confidence": "3"}


def gt_answer(trial: Trial, *, right: bool) -> dict[str, Any]:
    truth = trial.hidden["truth_position"]
    options = [o["value"] for o in trial.shown["choice"]["options"]]
    answer = truth if right else next(v for v in options if v != truth)
    return {"answer": answer, "confidence": 2}


def post_json(client: Client, path: str, body: Any):
    return client.post(path, json.dumps(body), content_type="application/json")


def feedback_words(text: str) -> bool:
    return bool(re.search(r"\bCorrect\b|Not quite|data-feedback", text))


def main_text(page: str) -> str:
    """The words a participant reads in the page's main element (tags dropped)."""
    main = page.split('<main id="main" class="p-main">', 1)[1].split("</main>", 1)[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def sim_detail(trial: Trial) -> str:
    said = bool(trial.hidden["model_output"])
    return (
        f"The system's answer was “{'Yes' if said else 'No'}”: it "
        f"{'recognised' if said else 'did not recognise'} “{trial.hidden['target_label']}” in "
        "this photo."
    )


# --- through the participant pages ---------------------------------------------------------------
def test_simulation_feedback_through_the_pages_wrong_then_right(researcher, sim_assets):
    study = sim_study(researcher, sim_assets)
    client = Client()
    url, _ = arrive(client, study, PROLIFIC_PID="feedback01", STUDY_ID="s", SESSION_ID="x")
    participant = walk_to_trials(client, url)
    assert participant.page == "practice" and participant.n_practice == 2

    # before the answer: the trial page and the API state carry no feedback (nor the answer)
    trial = current(participant)
    page = client.get(url).content.decode()
    assert f'data-trial="{trial.index}"' in page and 'value="feedback"' not in page
    assert not feedback_words(page) and "model_output" not in page
    state = client.get(f"/api/participants/{participant.code}/").json()
    assert state["page"] == "practice" and state["page_data"] == {}
    assert not feedback_words(json.dumps(state)) and "model_output" not in json.dumps(state)
    # Continue on a feedback page that does not exist yet changes nothing
    assert client.post(url, {"page": "feedback"})["Location"] == url
    participant.refresh_from_db()
    assert participant.page == "practice" and participant.n_answered == 0

    # a wrong answer, posted twice with the same key (a double click): stored once
    key = uuid.uuid4().hex
    form = {"page": "practice", "trial": trial.index, "idempotency_key": key}
    form.update(sim_answer(trial, right=False))
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302
    assert Response.objects.filter(participant=participant).count() == 1
    participant.refresh_from_db()
    assert participant.page == "feedback" and participant.n_answered == 1
    expected = sim_detail(trial)
    first = html.unescape(client.get(url).content.decode())
    assert expected in first and 'name="page" value="feedback"' in first
    # the verdict is said once, as the heading, and the right answer below it
    assert main_text(first) == f"Practice Not quite {expected} Continue"
    assert 'data-feedback="wrong"' in first and "autofocus" in first
    reload = html.unescape(client.get(url).content.decode())
    assert expected in reload  # a reload shows the same feedback

    # Continue: the second practice trial, answered right
    assert client.post(url, {"page": "feedback"})["Location"] == url
    participant.refresh_from_db()
    assert participant.page == "practice"
    trial = current(participant)
    assert trial.index == 1 and trial.kind == Trial.Kind.PRACTICE
    assert not feedback_words(client.get(url).content.decode())
    form = {"page": "practice", "trial": trial.index, "idempotency_key": uuid.uuid4().hex}
    form.update(sim_answer(trial, right=True))
    assert client.post(url, form).status_code == 302
    page = client.get(url).content.decode()
    assert "<h1>Correct</h1>" in page and 'data-feedback="right"' in page
    assert main_text(page) == "Practice Correct Continue"

    # after the last practice feedback: the main trials, without feedback
    client.post(url, {"page": "feedback"})
    participant.refresh_from_db()
    assert participant.page == "trials"
    trial = current(participant)
    form = {"page": "trials", "trial": trial.index, "idempotency_key": uuid.uuid4().hex}
    form.update(sim_answer(trial, right=False))
    client.post(url, form)
    participant.refresh_from_db()
    assert participant.page == "trials" and participant.n_answered == 3
    kinds = list(Event.objects.filter(participant=participant).values_list("kind", flat=True))
    assert kinds.count("feedback.read") == 2
    while participant.page == "trials":
        trial = current(participant)
        form = {"page": "trials", "trial": trial.index, "idempotency_key": uuid.uuid4().hex}
        client.post(url, {**form, **sim_answer(trial, right=True)})
        participant.refresh_from_db()
    assert participant.page == "debrief" and not feedback_words(client.get(url).content.decode())


def test_without_the_option_practice_goes_straight_on(researcher, sim_assets):
    study = sim_study(researcher, sim_assets, practice_feedback=False)
    assert study.flow["practice_feedback"] is False
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    trial = current(participant)
    form = {"page": "practice", "trial": trial.index, "idempotency_key": uuid.uuid4().hex}
    form.update(sim_answer(trial, right=False))
    client.post(url, form)
    participant.refresh_from_db()
    assert participant.page == "practice" and participant.n_answered == 1
    assert not feedback_words(client.get(url).content.decode())


def test_a_study_stored_before_the_option_existed_has_no_feedback(researcher, sim_assets):
    study = sim_study(researcher, sim_assets)
    del study.flow["practice_feedback"]
    Study.objects.filter(pk=study.pk).update(flow=study.flow)
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    trial = current(participant)
    reply = post_json(
        client,
        f"/api/participants/{participant.code}/responses/",
        {"trial": 0, "value": sim_answer(trial, right=True), "idempotency_key": "k" * 10},
    ).json()
    assert reply["page"] == "practice" and reply["feedback"] is None


# --- through the JSON API --------------------------------------------------------------------
def test_gt_prediction_feedback_through_the_api(researcher, gt_assets):
    study = create_study(researcher, gt_assets, protocol="gt_prediction", flow=FEEDBACK_FLOW)
    client = Client()
    state = post_json(client, f"/api/take/{study.link_token}/", {}).json()
    code = state["code"]
    api = f"/api/participants/{code}"
    post_json(client, f"{api}/pages/consent/", {"answers": {"agree": True}})
    state = post_json(client, f"{api}/pages/instructions/", {}).json()
    assert state["page"] == "practice" and state["trial"]["index"] == 0
    assert state["page_data"] == {} and not feedback_words(json.dumps(state))
    early = post_json(client, f"{api}/pages/feedback/", {})
    assert early.status_code == 409 and early.json()["page"] == "practice"

    participant = Participant.objects.get(code=code)
    trial = current(participant)
    body = {
        "trial": 0,
        "value": gt_answer(trial, right=False),
        "rt_ms": 800,
        "idempotency_key": uuid.uuid4().hex,
    }
    saved = post_json(client, f"{api}/responses/", body)
    detail = f"The photo shows {trial.hidden['truth']}."
    expected = {
        "trial": 0,
        "correct": False,
        "title": "Not quite",
        "detail": detail,
        "message": f"Not quite. {detail}",
    }
    assert saved.status_code == 201
    assert saved.json()["page"] == "feedback" and saved.json()["feedback"] == expected
    again = post_json(client, f"{api}/responses/", body)  # the same key: stored once
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["feedback"] == expected
    assert Response.objects.filter(participant=participant).count() == 1
    for _ in range(2):  # a reload gives the same feedback
        state = client.get(f"{api}/").json()
        assert state["page"] == "feedback" and state["trial"] is None
        assert state["page_data"] == expected
    # an answer to the next trial is refused until the feedback is read
    nxt = Trial.objects.get(participant=participant, index=1)
    early = post_json(
        client,
        f"{api}/responses/",
        {"trial": 1, "value": gt_answer(nxt, right=True), "idempotency_key": uuid.uuid4().hex},
    )
    assert early.status_code == 409
    assert Response.objects.filter(participant=participant).count() == 1

    state = post_json(client, f"{api}/pages/feedback/", {}).json()
    assert state["page"] == "practice" and state["trial"]["index"] == 1
    assert state["page_data"] == {}
    assert post_json(client, f"{api}/pages/feedback/", {}).status_code == 409  # read once
    body = {"trial": 1, "value": gt_answer(nxt, right=True), "idempotency_key": uuid.uuid4().hex}
    saved = post_json(client, f"{api}/responses/", body).json()
    assert saved["feedback"] == {
        "trial": 1,
        "correct": True,
        "title": "Correct",
        "detail": "",
        "message": "Correct.",
    }
    state = post_json(client, f"{api}/pages/feedback/", {}).json()
    assert state["page"] == "trials" and state["trial"]["index"] == 2
    main = current(participant)
    body = {"trial": 2, "value": gt_answer(main, right=False), "idempotency_key": uuid.uuid4().hex}
    saved = post_json(client, f"{api}/responses/", body).json()
    assert saved["feedback"] is None and saved["page"] in ("trials", "debrief")


def test_gt_prediction_verify_feedback_names_the_true_class(researcher, gt_assets):
    study = create_study(
        researcher,
        gt_assets,
        protocol="gt_prediction",
        configuration={"variant": "verify"},
        flow=FEEDBACK_FLOW,
    )
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    trial = current(participant)
    wrong = "no" if trial.hidden["model_correct"] else "yes"
    form = {"page": "practice", "trial": 0, "idempotency_key": uuid.uuid4().hex}
    form.update({"answer": wrong, "confidence": "1"})
    client.post(url, form)
    page = html.unescape(client.get(url).content.decode())
    truth = trial.hidden["truth"]
    assert main_text(page) == f"Practice Not quite The photo shows {truth}. Continue"


def test_feedback_appears_in_no_payload_before_its_answer(researcher, sim_assets):
    """A whole session crawled (pages, images, API): nothing forbidden anywhere, and each
    feedback sentence appears only in responses received after its practice answer."""
    study = sim_study(researcher, sim_assets)
    crawl = Crawl()
    participant = play(study, crawl, pid="feedbackleak")
    assert_no_leak(crawl, forbidden_strings(study, sim_assets, labels_hidden=False))
    saves = [
        k
        for k, (what, _) in enumerate(crawl.seen)
        if what.startswith("POST /api/participants/") and "/responses/" in what
    ]
    first_feedback = [
        k for k, (_, body) in enumerate(crawl.seen) if feedback_words(body.decode(errors="replace"))
    ]
    assert first_feedback and min(first_feedback) >= saves[0]  # the first save's reply onwards
    assert participant.events.filter(kind="feedback.read").count() == 2


def test_bots_get_through_the_feedback_pages(researcher, sim_assets):
    study = sim_study(researcher, sim_assets)
    simulate(study, n=1, seed=1)
    participant = Participant.objects.get(study=study)
    assert participant.state == "completed"
    assert participant.events.filter(kind="feedback.read").count() == 2


# --- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["likert", "preference"])
def test_refused_for_protocols_without_a_right_answer(researcher, assets, protocol):
    kwargs = design_kwargs(assets, protocol=protocol, flow=FEEDBACK_FLOW)
    if protocol == "preference":
        kwargs["configuration"] = {"question": "Which map shows the object best?"}
    with pytest.raises(ConfigError) as caught:
        design_validate(user=researcher, **kwargs)
    (message,) = caught.value.errors["flow.practice_feedback"]
    assert "practice_feedback" in message and f"the {protocol} protocol" in message
    kwargs["flow"] = {**FEEDBACK_FLOW, "practice_feedback": False}
    assert design_validate(user=researcher, **kwargs).flow["practice_feedback"] is False


def test_refused_without_practice_trials(researcher, gt_assets):
    kwargs = design_kwargs(
        gt_assets, protocol="gt_prediction", flow={**FEEDBACK_FLOW, "practice_trials": 0}
    )
    with pytest.raises(ConfigError) as caught:
        design_validate(user=researcher, **kwargs)
    assert "practice_trials" in caught.value.errors["flow.practice_feedback"][0]


def test_the_designer_form_offers_and_refuses_the_option(client, researcher, assets):
    client.force_login(researcher)
    page = client.get("/studies/new/?protocol=likert").content.decode()
    assert 'name="flow_practice_feedback"' in page
    data = {
        "protocol": "likert",
        "title": "Justification study",
        "classifier": assets.classifier.pk,
        "image_set": assets.image_set.pk,
        "methods": ", ".join(assets.methods),
        "images": "misclassified",
        "seed": 0,
        "cfg_variant": "justification",
        "cfg_points": 5,
        "cfg_neutral": "on",
        "cfg_design": "within",
        "cfg_map_style": "overlay",
        "flow_consent_text": "Do you agree?",
        "flow_practice_trials": 1,
        "flow_practice_feedback": "on",
        "flow_attention_checks": 1,
        "flow_questionnaire": "[]",
        "flow_debrief": "Thanks",
        "flow_resume_policy": "resume",
        "flow_timeout_minutes": 60,
    }
    refused = client.post("/studies/new/", data)
    assert refused.status_code == 400 and not Study.objects.exists()
    assert "practice_feedback is not available for the likert protocol" in refused.content.decode()


def test_the_study_document_round_trips_the_option(researcher, gt_assets):
    study = create_study(researcher, gt_assets, protocol="gt_prediction", flow=FEEDBACK_FLOW)
    document = json.loads(json.dumps(study_spec(study)))
    assert document["flow"]["practice_feedback"] is True
    _, _, design = spec_parse(document, user=researcher)
    assert design.flow == study.flow and design.flow["practice_feedback"] is True
    document["flow"]["practice_feedback"] = "yes"
    with pytest.raises(ConfigError) as caught:
        spec_parse(document, user=researcher)
    assert caught.value.errors["flow.practice_feedback"] == ["must be true or false"]


# --- the page script: Enter continues on the feedback page --------------------------------------
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(("marked", "submits"), [(True, 1), (False, 0)])
def test_enter_continues_once_on_the_feedback_page(marked, submits):
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            str(shutil.which("node")),
            str(Path(__file__).parent / "js" / "feedback_enter.js"),
            str(root / "static" / "js" / "participant.js"),
            "1" if marked else "0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["afterLetter"] == 0 and out["submits"] == submits
    # the template marks the feedback form so
    template = root / "templates" / "participant" / "feedback.html"
    assert "data-enter-continues" in template.read_text()
