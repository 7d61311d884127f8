"""The participant flow: entry, resume, refusal, page order, idempotency, redirects, pilot."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from studies.models import Event, Participant, Response, Trial
from studies.recruitment import pseudonym
from studies.services.studies import study_copy_as_version, study_transition

from .conftest import create_study
from .helpers import arrive, code_of, finish, submit, walk_to_trials

pytestmark = pytest.mark.django_db
PROLIFIC = {"PROLIFIC_PID": "5f1e2d3c4b5a", "STUDY_ID": "abc", "SESSION_ID": "sess1"}


def test_prolific_session_end_to_end_redirects_with_the_completion_code(client, likert_study):
    start = client.get(f"/take/{likert_study.link_token}/", PROLIFIC)
    assert start.status_code == 200 and b'name="PROLIFIC_PID" value="5f1e2d3c4b5a"' in start.content
    url, response = arrive(client, likert_study, **PROLIFIC)
    assert response.status_code == 302 and url.startswith("/s/")
    participant = walk_to_trials(client, url)
    assert participant.state == "in_progress" and participant.consented_at is not None
    for _ in range(participant.n_trials):
        assert submit(client, participant).status_code == 201
    participant.refresh_from_db()
    assert participant.page == "debrief"
    final = client.post(url, {"page": "debrief"})
    code = likert_study.completion_code
    assert final.status_code == 302 and final["Location"] == url
    participant.refresh_from_db()
    assert participant.state == "completed" and participant.completed_at is not None
    page = client.get(url).content.decode()
    prolific = f"https://app.prolific.com/submissions/complete?cc={code}"
    assert code in page and f'content="3;url={prolific}"' in page
    kinds = list(Event.objects.filter(participant=participant).values_list("kind", flat=True))
    assert kinds[0] == "participant.started" and kinds[-1] == "participant.completed"
    assert kinds.count("response.saved") == participant.n_trials
    assert kinds.count("trial.shown") == 0  # answered through the API without viewing pages


def test_recruiter_ids_are_stored_only_as_keyed_hashes(client, likert_study):
    url, _ = arrive(client, likert_study, **PROLIFIC)
    participant = Participant.objects.get(code=code_of(url))
    assert participant.recruiter_hash == pseudonym("5f1e2d3c4b5a")
    assert "5f1e2d3c4b5a" not in str(participant.recruitment)
    assert "sess1" not in str(participant.recruitment)


def test_reopening_the_link_resumes_where_the_participant_was(likert_study):
    first = Client()
    url, _ = arrive(first, likert_study, **PROLIFIC)
    participant = walk_to_trials(first, url)
    assert submit(first, participant).status_code == 201
    # a reload of the page shows the next trial, not the first one
    page = first.get(url)
    assert f'data-trial="{1}"'.encode() in page.content
    # a new browser with the same Prolific id lands on the same session and page
    second = Client()
    reopened = second.get(f"/take/{likert_study.link_token}/", PROLIFIC)
    assert reopened.status_code == 302 and reopened["Location"] == url
    url2, _ = arrive(second, likert_study, **PROLIFIC)  # a stale start page posted again
    assert url2 == url
    assert Participant.objects.filter(study=likert_study).count() == 1
    assert b'data-trial="1"' in second.get(url2).content


def test_a_returning_participant_resumes_even_when_the_study_is_paused(researcher, likert_study):
    url, _ = arrive(Client(), likert_study, **PROLIFIC)
    study_transition(study=likert_study, actor=researcher, action="pause")
    assert Client().get(f"/take/{likert_study.link_token}/", PROLIFIC)["Location"] == url
    assert arrive(Client(), likert_study, **PROLIFIC)[0] == url
    refused = Client().get(f"/take/{likert_study.link_token}/", {"PROLIFIC_PID": "newcomer"})
    assert refused.status_code == 403


def test_anonymous_link_resumes_through_the_browser_session(client, likert_study):
    url, _ = arrive(client, likert_study)
    again = client.get(f"/take/{likert_study.link_token}/")
    assert again.status_code == 302 and again["Location"] == url
    other_url, _ = arrive(Client(), likert_study)
    assert other_url != url
    assert Participant.objects.filter(study=likert_study, source="anonymous").count() == 2


def test_repeat_participation_is_refused_when_the_policy_blocks(researcher, assets):
    study = create_study(researcher, assets, flow={"resume_policy": "block"})
    url, _ = arrive(Client(), study, **PROLIFIC)
    assert url
    _, again = arrive(Client(), study, **PROLIFIC)
    assert again.status_code == 403 and b"taken once" in again.content
    assert Participant.objects.filter(study=study).count() == 1


def test_a_completed_participant_cannot_start_another_version(researcher, likert_study):
    client = Client()
    url, _ = arrive(client, likert_study, **PROLIFIC)
    finish(client, url)
    newer = study_copy_as_version(study=likert_study, actor=researcher)
    study_transition(study=newer, actor=researcher, action="launch")
    _, again = arrive(Client(), newer, **PROLIFIC)
    assert again.status_code == 403 and b"version of this study" in again.content
    assert not newer.participants.exists()


def test_restart_policy_starts_afresh_and_keeps_the_old_session(researcher, assets):
    study = create_study(researcher, assets, flow={"resume_policy": "restart"})
    client = Client()
    url, _ = arrive(client, study, **PROLIFIC)
    participant = walk_to_trials(client, url)
    submit(client, participant)
    url2, _ = arrive(Client(), study, **PROLIFIC)
    assert url2 != url
    old = Participant.objects.get(code=code_of(url))
    assert old.state == "restarted"
    assert Participant.objects.get(code=code_of(url2)).page == "consent"


def test_skipping_ahead_or_going_back_is_redirected_to_the_current_page(client, likert_study):
    url, _ = arrive(client, likert_study)
    skip = client.post(url, {"page": "debrief"})
    assert skip.status_code == 302 and skip["Location"] == url
    participant = Participant.objects.get(code=code_of(url))
    assert participant.page == "consent"
    # answering a trial before consenting is refused by the API too, with the page to go to
    response = submit(client, participant, {"justification": 3}, index=0)
    assert response.status_code == 409 and response.json()["next"] == url
    walk_to_trials(client, url)
    back = client.post(url, {"page": "consent", "agree": "yes"})
    assert back.status_code == 302 and back["Location"] == url
    participant.refresh_from_db()
    assert participant.page == "trials" and not Response.objects.exists()


def test_declining_consent_screens_out_to_the_prolific_screen_out_code(researcher, assets):
    study = create_study(researcher, assets, flow={"screen_out_code": "NOCONSENT"})
    client = Client()
    url, _ = arrive(client, study, **PROLIFIC)
    response = client.post(url, {"page": "consent", "agree": "no"})
    assert response.status_code == 302 and response["Location"] == url
    assert b"complete?cc=NOCONSENT" in client.get(url).content
    participant = Participant.objects.get(code=code_of(url))
    assert (
        participant.state == "screened_out" and participant.exclusion_reason == "declined consent"
    )


def test_double_submitted_response_is_stored_once(client, likert_study):
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    key = uuid.uuid4().hex
    first = submit(client, participant, key=key, index=0)
    second = submit(client, participant, key=key, index=0)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    assert second.status_code == 200 and second.json()["duplicate"] is True
    assert Response.objects.filter(participant=participant).count() == 1
    participant.refresh_from_db()
    assert participant.n_answered == 1
    # a new key for the answered trial is a conflict, not a second answer
    third = submit(client, participant, key=uuid.uuid4().hex, index=0)
    assert third.status_code == 409 and third.json()["error"]["code"] == "wrong_page"
    assert Response.objects.filter(participant=participant).count() == 1


def test_html_form_post_without_javascript_is_also_idempotent(client, likert_study):
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    trial = Trial.objects.get(participant=participant, index=0)
    value = {i["name"]: "2" for i in trial.shown.get("items", [])} or trial.hidden["expected"]
    form = {"page": "trials", "trial": "0", "idempotency_key": "k" * 20, "rt_ms": "", **value}
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302
    assert Response.objects.filter(participant=participant).count() == 1


@pytest.mark.parametrize(
    ("value", "rt_ms", "message"),
    [
        ({"justification": 9}, 100, "choose one of 1–5"),
        ({}, 100, "answer for every question"),
        ({"justification": 3, "extra": 1}, 100, "unexpected answer field"),
        ("three", 100, "must be an object"),
        ({"justification": 3}, -5, "rt_ms"),
        # str.isdigit() accepts these, int() then raises (500) or reads another script
        ({"justification": "²"}, 100, "justification: choose one of 1–5"),
        ({"justification": "٣"}, 100, "justification: choose one of 1–5"),
        ({"justification": "3" * 4301}, 100, "justification: choose one of 1–5"),
    ],
)
def test_invalid_responses_give_clear_messages_and_store_nothing(
    client, likert_study, value, rt_ms, message
):
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    trial = Trial.objects.get(participant=participant, index=0)
    if "expected" in trial.hidden:  # the first trial is never an attention check
        pytest.fail("attention check in first position")
    response = submit(client, participant, value, index=0, rt_ms=rt_ms)
    assert response.status_code == 400
    assert message in str(response.json()["error"])
    assert not Response.objects.exists()
    participant.refresh_from_db()
    assert participant.n_answered == 0 and participant.page == "trials"


def test_invalid_html_answer_rerenders_the_trial_with_the_message(client, likert_study):
    url, _ = arrive(client, likert_study)
    walk_to_trials(client, url)
    response = client.post(url, {"page": "trials", "trial": "0", "idempotency_key": "x" * 16})
    assert response.status_code == 400
    assert b"Please choose an answer for every question." in response.content
    assert not Response.objects.exists()


@pytest.mark.parametrize("raw", ["²", "٣", "3" * 4301, "-²"])
def test_non_ascii_or_overlong_digits_in_the_html_form_are_a_form_error(client, likert_study, raw):
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    trial = Trial.objects.get(participant=participant, index=0)
    value = {i["name"]: raw for i in trial.shown["items"]}
    form = {"page": "trials", "trial": "0", "idempotency_key": "z" * 16, "rt_ms": "", **value}
    response = client.post(url, form)
    assert response.status_code == 400
    assert "justification: choose one of 1–5" in response.content.decode()
    assert not Response.objects.exists()


def test_failed_attention_checks_are_counted_and_can_screen_out(researcher, assets):
    study = create_study(
        researcher,
        assets,
        flow={
            "attention_checks": 2,
            "screen_out_after_failures": 2,
            "screen_out_url": "https://example.org/out",
        },
    )
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    checks = list(participant.trials.filter(kind="attention").order_by("index"))
    assert len(checks) == 2 and checks[0].index > 0
    for _ in range(participant.n_trials):
        participant.refresh_from_db()
        if participant.page != "trials":
            break
        trial = participant.trials.get(index=participant.n_answered)
        value = None
        if trial.kind == "attention":
            expected = trial.hidden["expected"]["justification"]
            value = {"justification": 1 if expected != 1 else 2}
        assert submit(client, participant, value).status_code == 201
    participant.refresh_from_db()
    assert participant.attention_failures == 2
    assert participant.state == "screened_out" and participant.page == "screened_out"
    assert Event.objects.filter(participant=participant, kind="attention.failed").count() == 2
    assert b"https://example.org/out" in client.get(url).content


def test_demographics_questionnaire_and_practice_pages(researcher, assets):
    study = create_study(
        researcher,
        assets,
        flow={
            "demographics": True,
            "practice_trials": 2,
            "questionnaire": [
                {
                    "name": "difficulty",
                    "text": "How hard was it?",
                    "type": "likert",
                    "points": 5,
                    "required": True,
                },
            ],
        },
    )
    client = Client()
    url, _ = arrive(client, study)
    client.post(url, {"page": "consent", "agree": "yes"})
    bad = client.post(url, {"page": "demographics", "age": "7"})
    assert bad.status_code == 400 and b"greater than or equal to 18" in bad.content
    assert client.post(url, {"page": "demographics", "age": "31", "gender": ""}).status_code == 302
    participant = Participant.objects.get(code=code_of(url))
    assert participant.demographics["age"] == 31 and participant.demographics["gender"] is None
    client.post(url, {"page": "instructions"})
    participant.refresh_from_db()
    assert participant.page == "practice" and participant.n_practice == 2
    assert b"Practice" in client.get(url).content
    submit(client, participant)
    submit(client, participant)
    participant.refresh_from_db()
    assert participant.page == "trials"
    while participant.page == "trials":
        submit(client, participant)
        participant.refresh_from_db()
    assert participant.page == "questionnaire"
    missing = client.post(url, {"page": "questionnaire"})
    assert missing.status_code == 400 and b"This field is required" in missing.content
    assert client.post(url, {"page": "questionnaire", "difficulty": "4"}).status_code == 302
    participant.refresh_from_db()
    assert participant.questionnaire == {"difficulty": 4} and participant.page == "debrief"


def test_paused_and_closed_studies_take_no_new_participants(researcher, likert_study):
    client = Client()
    url, _ = arrive(client, likert_study)
    study_transition(study=likert_study, actor=researcher, action="pause")
    _, response = arrive(Client(), likert_study)
    assert response.status_code == 403 and b"not open" in response.content
    assert client.get(url).status_code == 200  # those already in may go on
    study_transition(study=likert_study, actor=researcher, action="close")
    assert Client().get(f"/take/{likert_study.link_token}/").status_code == 403


def test_pilot_responses_are_flagged(researcher, assets):
    study = create_study(researcher, assets, state="pilot")
    client = Client()
    url, _ = arrive(client, study)
    participant = finish(client, url)
    assert participant.mode == "pilot"
    assert set(Response.objects.values_list("mode", flat=True)) == {"pilot"}


def test_mturk_preview_and_assignment(researcher, assets):
    study = create_study(researcher, assets)
    preview = Client().get(
        f"/take/{study.link_token}/", {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"}
    )
    assert preview.status_code == 200 and b"Accept the HIT" in preview.content
    assert not study.participants.exists()
    client = Client()
    params = {
        "workerId": "W123",
        "assignmentId": "A9",
        "hitId": "H1",
        "turkSubmitTo": "https://workersandbox.mturk.com",
    }
    url, _ = arrive(client, study, **params)
    participant = finish(client, url)
    final = client.get(url)
    assert b"https://workersandbox.mturk.com/mturk/externalSubmit?assignmentId=A9" in final.content
    assert participant.source == "mturk" and participant.recruiter_hash == pseudonym("W123")
    evil = dict(params, workerId="W124", turkSubmitTo="https://evil.example.org")
    _, response = arrive(Client(), study, **evil)
    assert response.status_code == 400


def test_trial_plan_rebuilds_exactly_from_the_stored_seed(client, likert_study):
    from studies.services.plan import plan_trials

    url, _ = arrive(client, likert_study)
    participant = Participant.objects.get(code=code_of(url))
    rebuilt = plan_trials(
        study=likert_study,
        participant=participant,
        condition=participant.condition,
        stimuli=list(likert_study.stimuli.order_by("position")),
    )
    stored = list(participant.trials.order_by("index"))
    assert [(t.kind, t.item_id, t.shown, t.hidden) for t in rebuilt] == [
        (t.kind, t.item_id, t.shown, t.hidden) for t in stored
    ]


def test_a_start_interrupted_before_its_plan_is_completed_by_the_next_request(
    client, likert_study, monkeypatch
):
    """The participant row is committed under the study lock, the plan after it: a worker that
    dies in between leaves a session that the participant's next request plans, once."""
    from studies.services import participants as service

    real_plan = service.plan_trials

    def dying(**kwargs):
        raise SystemExit("worker killed while planning")

    monkeypatch.setattr(service, "plan_trials", dying)
    with pytest.raises(SystemExit):
        arrive(client, likert_study, **PROLIFIC)
    participant = Participant.objects.get(study=likert_study)
    assert not participant.planned and not participant.trials.exists()
    monkeypatch.setattr(service, "plan_trials", real_plan)
    url, response = arrive(Client(), likert_study, **PROLIFIC)  # the same person, again
    assert response.status_code == 302 and code_of(url) == participant.code
    participant.refresh_from_db()
    assert participant.planned and participant.n_trials == participant.trials.count() > 0
    # another interrupted session is planned by its page view, and planning twice adds nothing
    monkeypatch.setattr(service, "plan_trials", dying)
    with pytest.raises(SystemExit):
        arrive(Client(), likert_study, PROLIFIC_PID="6" * 24)
    monkeypatch.setattr(service, "plan_trials", real_plan)
    other = Participant.objects.get(study=likert_study, planned=False)
    assert Client().get(f"/s/{other.code}/").status_code == 200
    other.refresh_from_db()
    n_trials = other.trials.count()
    assert other.planned and n_trials == other.n_trials > 0
    stale = Participant.objects.get(pk=other.pk)
    stale.planned = False  # a request that read the row before the plan was stored
    service.participant_plan_ensure(participant=stale)
    assert other.trials.count() == n_trials


def test_images_are_served_only_to_their_participant_with_cache_headers(client, likert_study):
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    trial = participant.trials.get(index=0)
    token = next(iter(trial.assets))
    image = client.get(f"/s/{participant.code}/img/{token}")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert "max-age" in image["Cache-Control"] and "private" in image["Cache-Control"]
    assert token in image["Content-Disposition"]
    other_url, _ = arrive(Client(), likert_study)
    assert client.get(f"/s/{code_of(other_url)}/img/{token}").status_code == 404
    assert client.get(f"/s/{participant.code}/img/notatoken").status_code == 404
    assert client.get("/s/unknown-code/").status_code == 404


def test_assignment_fills_the_least_filled_cell_within_quotas(researcher, assets):
    from datetime import timedelta

    from django.utils import timezone

    from studies.errors import StudyFull
    from studies.recruitment import Arrival
    from studies.services.participants import condition_assign, participant_start

    study = create_study(researcher, assets, flow={"quota_per_condition": 2, "timeout_minutes": 30})
    first, _ = participant_start(study=study, arrival=Arrival("anonymous"))
    second, _ = participant_start(study=study, arrival=Arrival("anonymous"))
    assert {first.condition.name, second.condition.name} == {"order 1", "order 2"}
    # a stale session and a screened-out one free their places; previews never take one
    Participant.objects.filter(pk=first.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=31)
    )
    Participant.objects.filter(pk=second.pk).update(state="screened_out")
    participant_start(
        study=study,
        arrival=Arrival("preview"),
        preview=True,
        condition=study.conditions.get(name="order 1"),
    )
    assert condition_assign(study=study, mode="live").name == "order 1"
    for _ in range(4):
        participant_start(study=study, arrival=Arrival("anonymous"))
    with pytest.raises(StudyFull):
        participant_start(study=study, arrival=Arrival("anonymous"))
    _, response = arrive(Client(), study)
    assert response.status_code == 403 and b"all the participants it needs" in response.content
