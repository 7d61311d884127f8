"""Withdrawal: a participant's data deleted on request, audited; recruiter ids on request only."""

from __future__ import annotations

import csv
import io

import pytest

from studies.errors import StudyError
from studies.models import Event, Participant, Response, Trial
from studies.recruitment import pseudonym
from studies.services.withdrawal import (
    WITHDRAWN,
    ParticipantNotFound,
    participant_find,
    participant_withdraw,
)

from ..studies.helpers import arrive, finish
from .conftest import World, fresh_client

pytestmark = pytest.mark.django_db


def _prolific(world: World, pid: str) -> Participant:
    client = fresh_client()
    url, _ = arrive(client, world.study, PROLIFIC_PID=pid, STUDY_ID="s1", SESSION_ID="x1")
    return finish(client, url)


def test_withdrawal_deletes_the_participant_and_keeps_an_audit_event(world: World):
    leaving = _prolific(world, "PID-LEAVING-0001")
    staying = _prolific(world, "PID-STAYING-0002")
    kept = Response.objects.filter(participant=staying).count()
    assert Response.objects.filter(participant=leaving).count() > 0
    found = participant_find(study=world.study, recruiter_id="PID-LEAVING-0001")
    assert found.pk == leaving.pk
    done = participant_withdraw(
        participant=found, actor=world.users["owner"], reason="e-mail of 3 May"
    )
    assert done.number == leaving.number and done.responses > 0 and done.trials > 0
    assert not Participant.objects.filter(pk=leaving.pk).exists()
    assert not Trial.objects.filter(participant_id=leaving.pk).exists()
    assert not Response.objects.filter(participant_id=leaving.pk).exists()
    assert not Event.objects.filter(participant_id=leaving.pk).exists()
    assert Response.objects.filter(participant=staying).count() == kept
    audit = Event.objects.get(kind=WITHDRAWN)
    assert audit.participant is None and audit.actor == world.users["owner"]
    assert audit.data["number"] == leaving.number
    assert audit.data["responses"] == done.responses
    assert "PID-LEAVING" not in str(audit.data)
    with pytest.raises(ParticipantNotFound):
        participant_find(study=world.study, recruiter_id="PID-LEAVING-0001")
    # numbers are never reused
    newcomer = _prolific(world, "PID-NEW-0003")
    assert newcomer.number > max(leaving.number, staying.number)


def test_withdrawal_also_deletes_the_sessions_the_person_restarted(world: World):
    from ..studies.conftest import create_study
    from ..studies.helpers import submit, walk_to_trials

    researcher = world.users["owner"]
    study = create_study(
        researcher, world.assets, title="Restartable", flow={"resume_policy": "restart"}
    )
    pid = {"PROLIFIC_PID": "PID-RESTARTER-01", "STUDY_ID": "s1", "SESSION_ID": "x1"}
    first_client = fresh_client()
    url, _ = arrive(first_client, study, **pid)
    first = walk_to_trials(first_client, url)
    submit(first_client, first)  # one answer in the first session, then a fresh start
    second_client = fresh_client()
    url2, _ = arrive(second_client, study, **pid)
    second = finish(second_client, url2)
    other = _prolific_in(study, "PID-SOMEONE-ELSE")
    first.refresh_from_db()
    assert first.state == "restarted" and Response.objects.filter(participant=first).exists()

    found = participant_find(study=study, recruiter_id="PID-RESTARTER-01")
    assert found.pk == second.pk
    done = participant_withdraw(participant=found, actor=researcher, reason="asked by e-mail")
    assert not Participant.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not Response.objects.filter(participant_id__in=[first.pk, second.pk]).exists()
    assert Participant.objects.filter(pk=other.pk).exists()
    audit = Event.objects.get(kind=WITHDRAWN)
    assert audit.data["restarted_sessions"] == [first.number]
    assert done.responses == audit.data["responses"] > 0


def _prolific_in(study, pid: str) -> Participant:
    client = fresh_client()
    url, _ = arrive(client, study, PROLIFIC_PID=pid, STUDY_ID="s1", SESSION_ID="x1")
    return finish(client, url)


def test_withdrawal_needs_an_editor_and_a_reason_and_changes_nothing_otherwise(world: World):
    target = world.participant
    events = Event.objects.count()
    with pytest.raises(StudyError, match="owner or an editor"):
        participant_withdraw(participant=target, actor=world.users["viewer"], reason="asked")
    with pytest.raises(StudyError, match="owner or an editor"):
        participant_withdraw(participant=target, actor=world.users["other"], reason="asked")
    with pytest.raises(StudyError, match="reason"):
        participant_withdraw(participant=target, actor=world.users["owner"], reason="  ")
    assert Participant.objects.filter(pk=target.pk).exists()
    assert Event.objects.count() == events


def test_withdrawal_through_the_api_and_the_page(world: World):
    first = _prolific(world, "PID-API-0001")
    second = _prolific(world, "PID-PAGE-0002")
    api = world.clients["editor"].post(
        f"/api/studies/{world.study.uid}/withdraw/",
        {"recruiter_id": "PID-API-0001", "reason": "withdrew consent"},
        content_type="application/json",
    )
    assert api.status_code == 200, api.content
    assert api.json()["number"] == first.number
    missing = world.clients["editor"].post(
        f"/api/studies/{world.study.uid}/withdraw/",
        {"recruiter_id": "PID-API-0001", "reason": "again"},
        content_type="application/json",
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "this study has no such participant"
    unconfirmed = world.clients["owner"].post(
        f"/studies/{world.study.uid}/withdraw/",
        {"number": f"P{second.number:04d}", "reason": "asked"},
    )
    assert unconfirmed.status_code == 400
    assert b"tick the box" in unconfirmed.content
    page = world.clients["owner"].post(
        f"/studies/{world.study.uid}/withdraw/",
        {"number": f"P{second.number:04d}", "reason": "asked", "confirm": "1"},
    )
    assert page.status_code == 302
    assert not Participant.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert Event.objects.filter(kind=WITHDRAWN).count() == 2


def _participants_csv(client, study, query: str = "") -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    response = client.get(f"/studies/{study.uid}/export/participants.csv{query}")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_recruiter_ids_are_stored_as_keyed_hashes_and_exported_only_on_request(world: World):
    done = _prolific(world, "PID-EXPORT-0001")
    stored = Participant.objects.get(pk=done.pk)
    assert stored.recruiter_hash == pseudonym("PID-EXPORT-0001")
    assert "PID-EXPORT-0001" not in str(stored.recruitment) + str(
        list(Event.objects.values_list("data", flat=True))
    )
    plain = _participants_csv(world.clients["owner"], world.study)
    assert plain and "recruiter_pseudonym" not in plain[0]
    assert not Event.objects.filter(kind="export.recruiter_ids").exists()
    asked = _participants_csv(world.clients["owner"], world.study, "?recruiter_ids=1")
    assert {row["recruiter_pseudonym"] for row in asked} >= {stored.recruiter_hash}
    assert not any("PID-EXPORT" in value for row in asked for value in row.values())
    assert (
        Event.objects.filter(kind="export.recruiter_ids", actor=world.users["owner"]).count() == 1
    )
    viewer = world.clients["viewer"].get(
        f"/studies/{world.study.uid}/export/participants.csv?recruiter_ids=1"
    )
    assert viewer.status_code == 403


def test_the_recruiter_id_key_survives_a_secret_key_rotation(settings):
    settings.RECRUITER_ID_KEY = ""
    settings.SECRET_KEY = "first-secret-" + "x" * 40
    derived = pseudonym("PID-ROTATE-0001")
    settings.SECRET_KEY = "second-secret-" + "y" * 40
    assert pseudonym("PID-ROTATE-0001") != derived  # without the key, rotation changes hashes
    settings.RECRUITER_ID_KEY = "a-stable-recruiter-key"
    keyed = pseudonym("PID-ROTATE-0001")
    settings.SECRET_KEY = "third-secret-" + "z" * 40
    assert pseudonym("PID-ROTATE-0001") == keyed != derived
    assert len(keyed) == 64 and "PID" not in keyed
