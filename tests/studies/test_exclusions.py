"""Exclusion rules declared before launch, applied automatically; screen-out; timeouts."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studies.bots import ResponseModel, simulate
from studies.export import StudyExport
from studies.models import Event, Participant

from .conftest import METHODS, create_study
from .helpers import arrive, finish, submit, walk_to_trials
from .test_simulation import sim_assets

pytestmark = pytest.mark.django_db

RULES = {
    "attention_checks": 2,
    "exclude_attention_failures": 1,
    "exclude_median_rt_below_ms": 800,
    "exclude_straightlining": True,
}


@pytest.fixture
def sim_rules_study(researcher, media_root):
    # 12 yes/no tasks: a bot answering at random straight-lines with probability 2^-11 only
    return create_study(
        researcher, sim_assets(), protocol="simulation", configuration={"tasks": 12}, flow=RULES
    )


def rows_by_participant(study) -> dict[str, dict[str, str]]:
    return {
        r["participant_id"]: r
        for r in csv.DictReader(io.StringIO(StudyExport(study).participants_csv()))
    }


def test_declared_rules_exclude_at_completion_and_in_the_export(sim_rules_study):
    study = sim_rules_study
    simulate(study, n=2, seed=1, model=ResponseModel(effects={"map": 2.0}))  # fine
    simulate(study, n=1, seed=2, model=ResponseModel(attention_fail_rate=1.0))  # inattentive
    simulate(study, n=1, seed=3, model=ResponseModel(rt_mean_ms=150.0))  # too fast
    participants = list(Participant.objects.filter(study=study).order_by("number"))
    assert [p.state for p in participants] == ["completed", "completed", "excluded", "excluded"]
    assert participants[2].exclusion_reason == "failed attention checks"
    assert participants[3].exclusion_reason == "too fast"
    assert all(p.page == "complete" for p in participants)  # they still finish (and get paid)
    automatic = Event.objects.filter(study=study, kind="participant.excluded")
    assert [e.data for e in automatic] == [
        {"reason": "failed attention checks", "automatic": True},
        {"reason": "too fast", "automatic": True},
    ]
    table = rows_by_participant(study)
    assert [table[p.export_id]["excluded"] for p in participants] == ["0", "0", "1", "1"]
    assert table["P0003"]["exclusion_reason"] == "failed attention checks"
    assert table["P0004"]["exclusion_reason"] == "too fast"  # each reason once
    responses = list(csv.DictReader(io.StringIO(StudyExport(study).responses_csv())))
    flagged = {r["participant_id"] for r in responses if r["excluded"] == "1"}
    assert flagged == {"P0003", "P0004"}


def test_straight_lining_is_excluded(researcher, assets):
    study = create_study(researcher, assets, flow={**RULES, "attention_checks": 0})
    client = Client()
    url, _ = arrive(client, study)
    participant = finish(client, url)  # the helper always answers the top of the scale
    participant.refresh_from_db()
    assert participant.state == "excluded"
    assert participant.exclusion_reason == "straight-lining"


def test_excluded_participants_do_not_count_for_the_balanced_assignment(researcher, media_root):
    assets = sim_assets(methods=METHODS[:1])
    study = create_study(
        researcher,
        assets,
        protocol="simulation",
        configuration={"tasks": 2},
        flow={"attention_checks": 1, "exclude_attention_failures": 1},
    )
    simulate(study, n=1, seed=4, model=ResponseModel(attention_fail_rate=1.0))
    first = Participant.objects.get(study=study)
    assert first.state == "excluded"
    # the next arrival gets the same (least-filled, since the excluded one does not count) cell
    simulate(study, n=1, seed=5)
    second = Participant.objects.exclude(pk=first.pk).get(study=study)
    assert second.condition_id == first.condition_id
    # an active participant already past the attention-check limit does not hold a cell either
    client = Client()
    url, _ = arrive(client, study, PROLIFIC_PID="pidthree", STUDY_ID="s", SESSION_ID="x")
    third = walk_to_trials(client, url)
    assert third.condition.position == 1
    Participant.objects.filter(pk=third.pk).update(attention_failures=1)
    simulate(study, n=1, seed=6)
    fourth = Participant.objects.filter(study=study).order_by("-number").first()
    assert fourth.condition.position == 1


def test_include_again_overrides_the_declared_rules(researcher, media_root):
    """A participant excluded by a declared rule and included again by the researcher stays
    included: in the export, in the monitor, and in the balanced assignment."""
    from studies.monitoring import live_monitor, participant_rows

    study = create_study(
        researcher,
        sim_assets(methods=METHODS[:1]),
        protocol="simulation",
        configuration={"tasks": 2},
        flow={"attention_checks": 1, "exclude_attention_failures": 1},
    )
    simulate(study, n=1, seed=4, model=ResponseModel(attention_fail_rate=1.0))
    first = Participant.objects.get(study=study)
    assert first.state == "excluded" and first.attention_failures == 1
    ada = Client()
    ada.force_login(researcher)
    url = f"/studies/{study.uid}/participants/{first.number}/exclusion/"
    assert ada.post(url, {"exclude": "0"}).status_code == 302
    first.refresh_from_db()
    assert first.state == "completed" and first.included_by_researcher
    event = Event.objects.get(participant=first, kind="participant.included")
    assert event.actor_id == researcher.pk
    assert event.data["override"] is True
    assert event.data["overridden"] == "failed attention checks"
    # the export no longer applies the rule
    row = rows_by_participant(study)[first.export_id]
    assert row["excluded"] == "0" and row["exclusion_reason"] == "NA"
    responses = list(csv.DictReader(io.StringIO(StudyExport(study).responses_csv())))
    assert responses and {r["excluded"] for r in responses} == {"0"}
    # the monitor shows them included
    (monitored,) = participant_rows(live_monitor(study).participants)
    assert monitored["excluded"] is False and monitored["included_by_researcher"] is True
    # the assignment counts them: the next three arrivals fill the three other cells
    simulate(study, n=3, seed=5)
    others = Participant.objects.exclude(pk=first.pk).filter(study=study)
    assert first.condition_id not in {p.condition_id for p in others}
    # excluding again (the researcher's own reason) clears the override
    assert ada.post(url, {"exclude": "1", "reason": "duplicate"}).status_code == 302
    first.refresh_from_db()
    assert first.state == "excluded" and not first.included_by_researcher
    row = rows_by_participant(study)[first.export_id]
    assert row["excluded"] == "1"
    assert row["exclusion_reason"] == "duplicate; failed attention checks"


def test_failed_attention_check_screens_out_to_prolific(researcher, media_root):
    study = create_study(
        researcher,
        sim_assets(),
        protocol="simulation",
        configuration={"tasks": 3},
        flow={
            "attention_checks": 1,
            "screen_out_after_failures": 1,
            "screen_out_code": "SCREENED42",
        },
    )
    client = Client()
    url, _ = arrive(client, study, PROLIFIC_PID="pidfour", STUDY_ID="s", SESSION_ID="y")
    participant = walk_to_trials(client, url)
    for _ in range(10):
        participant.refresh_from_db()
        trial = participant.trials.get(index=participant.n_answered)
        if trial.kind == "attention":
            wrong = dict(trial.hidden["expected"])
            wrong["prediction"] = "no" if wrong["prediction"] == "yes" else "yes"
            assert submit(client, participant, wrong).status_code == 201
            break
        assert (
            submit(client, participant, {"prediction": "yes", "confidence": 3}).status_code == 201
        )
    participant.refresh_from_db()
    assert participant.state == "screened_out"
    page = client.get(url).content.decode()
    assert "https://app.prolific.com/submissions/complete?cc=SCREENED42" in page


def test_abandoned_sessions_time_out_and_free_their_cell(researcher, media_root):
    study = create_study(
        researcher,
        sim_assets(),
        protocol="simulation",
        configuration={"tasks": 2},
        flow={"timeout_minutes": 30},
    )
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    long_ago = timezone.now() - timedelta(minutes=31)
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=long_ago)
    page = client.get(url)
    participant.refresh_from_db()
    assert participant.state == "timed_out" and participant.page == "expired"
    assert page.status_code == 200 and b'name="page"' not in page.content
    assert Event.objects.filter(participant=participant, kind="participant.timed_out").count() == 1
    reply = submit(client, participant, {"prediction": "yes", "confidence": 3}, index=0)
    assert reply.status_code in (400, 409)  # nothing more is accepted
    simulate(study, n=1, seed=8)
    newcomer = Participant.objects.filter(study=study).order_by("-number").first()
    assert newcomer.condition_id == participant.condition_id


def test_a_stale_tab_cannot_answer_after_its_session_was_abandoned(researcher, media_root):
    """No GET or monitor view runs the timeout: the submit services do, before accepting."""
    from studies.models import Response

    study = create_study(
        researcher,
        sim_assets(),
        protocol="simulation",
        configuration={"tasks": 2},
        flow={"timeout_minutes": 30},
    )
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    long_ago = timezone.now() - timedelta(minutes=31)
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=long_ago)
    simulate(study, n=1, seed=8)  # the abandoned cell goes to someone else
    newcomer = Participant.objects.filter(study=study).order_by("-number").first()
    assert newcomer.condition_id == participant.condition_id
    reply = submit(client, participant, {"prediction": "yes", "confidence": 3}, index=0)
    assert reply.status_code == 409
    assert "session has expired" in reply.json()["error"]["message"]
    assert reply.json()["page"] == "expired"
    assert not Response.objects.filter(participant=participant).exists()
    participant.refresh_from_db()
    assert participant.state == "timed_out" and participant.page == "expired"
    assert Event.objects.filter(participant=participant, kind="participant.timed_out").count() == 1
    # the same for a page of the flow, through the API and the HTML form
    url, _ = arrive(Client(), study)
    other = Participant.objects.filter(study=study).order_by("-number").first()
    Participant.objects.filter(pk=other.pk).update(last_seen_at=long_ago)
    reply = Client().post(
        f"/api/participants/{other.code}/pages/consent/",
        {"answers": {"agree": "yes"}},
        content_type="application/json",
    )
    assert reply.status_code == 409 and "session has expired" in reply.json()["error"]["message"]
    other.refresh_from_db()
    assert other.state == "timed_out" and other.consented_at is None
    assert Event.objects.filter(participant=other, kind="consent.given").count() == 0


CHECK = [
    {
        "text": "What will you predict?",
        "options": ["The truth", "The system"],
        "answer": "The system",
    }
]


def test_comprehension_check_retries_then_screens_out(researcher, media_root):
    study = create_study(
        researcher,
        sim_assets(),
        protocol="simulation",
        configuration={"tasks": 2},
        flow={"comprehension": CHECK, "comprehension_attempts": 2, "screen_out_code": "NOPE1"},
    )
    client = Client()
    url, _ = arrive(client, study, PROLIFIC_PID="pidcheck", STUDY_ID="s", SESSION_ID="c")
    client.post(url, {"page": "consent", "agree": "yes"})
    client.post(url, {"page": "instructions"})
    page = client.get(url).content.decode()
    assert "What will you predict?" in page and "The system" in page
    assert "answer" not in page.lower().split("what will you predict?")[1].split("</form>")[0]
    client.post(url, {"page": "comprehension", "check_1": "The truth"})  # wrong: read again
    participant = Participant.objects.get(code=url.strip("/").split("/")[-1])
    assert participant.page == "instructions" and participant.state == "in_progress"
    client.post(url, {"page": "instructions"})
    client.post(url, {"page": "comprehension", "check_1": "The truth"})  # wrong again: out
    participant.refresh_from_db()
    assert participant.state == "screened_out"
    assert participant.exclusion_reason == "failed comprehension check"
    assert "cc=NOPE1" in client.get(url).content.decode()
    attempts = Event.objects.filter(participant=participant, kind="comprehension.failed")
    assert [e.data["attempt"] for e in attempts] == [1, 2]
    # bots that understood pass; the export flags the screened-out participant with the reason
    simulate(study, n=1, seed=9)
    simulate(study, n=1, seed=10, model=ResponseModel(comprehension_fail_rate=1.0))
    table = rows_by_participant(study)
    assert table["P0001"]["exclusion_reason"] == "screened out (failed comprehension check)"
    assert table["P0002"]["state"] == "completed" and table["P0002"]["excluded"] == "0"
    assert table["P0003"]["state"] == "screened_out" and table["P0003"]["excluded"] == "1"


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ([{"text": "Q", "options": ["a", "b"], "answer": "c"}], "must be one of the options"),
        ([{"text": "Q", "options": ["a"], "answer": "a"}], "at least two options"),
        ("yes", "must be a list"),
    ],
)
def test_comprehension_definitions_are_validated(check, message):
    from studies.configschema import ConfigError
    from studies.flow import validate_flow

    with pytest.raises(ConfigError, match=message):
        validate_flow({"comprehension": check})


def test_straight_lining_rule_is_refused_where_the_protocol_does_not_define_it(researcher, assets):
    from studies.configschema import ConfigError
    from studies.models import Study

    with pytest.raises(ConfigError) as error:
        create_study(
            researcher, assets, protocol="preference", flow={"exclude_straightlining": True}
        )
    (message,) = error.value.errors["flow.exclude_straightlining"]
    assert "straight-lining" in message and "preference" in message
    assert not Study.objects.exists()  # nothing was created
    # the protocols that define it accept it
    study = create_study(researcher, assets, flow={"exclude_straightlining": True})
    assert study.flow["exclude_straightlining"] is True
