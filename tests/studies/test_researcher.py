"""Researcher pages: design forms with validation, life cycle, preview, monitor, team, exports."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from studies.bots import simulate
from studies.models import Collaborator, Event, Participant, Study
from studies.services.studies import collaborator_set

from .conftest import create_study
from .helpers import finish

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(client, researcher):
    client.force_login(researcher)
    return client


@pytest.fixture
def bob(other_researcher):
    client = Client()
    client.force_login(other_researcher)
    return client


def form_data(assets, **extra):
    data = {
        "protocol": "likert",
        "title": "Justification study",
        "description": "",
        "classifier": assets.classifier.pk,
        "image_set": assets.image_set.pk,
        "methods": ", ".join(assets.methods),
        "images": "misclassified",
        "seed": 0,
        "cfg_variant": "justification",
        "cfg_points": 5,
        "cfg_neutral": "on",
        "cfg_design": "within",
        "cfg_show_image": "on",
        "cfg_show_classes": "on",
        "cfg_map_style": "overlay",
        "flow_public_title": "Image study",
        "flow_consent_text": "Do you agree?",
        "flow_practice_trials": 0,
        "flow_attention_checks": 1,
        "flow_questionnaire": "[]",
        "flow_debrief": "Thanks",
        "flow_resume_policy": "resume",
        "flow_timeout_minutes": 60,
        "flow_exclude_attention_failures": 1,
        "flow_exclude_incomplete": "on",
    }
    data.update(extra)
    return data


def test_create_study_through_the_form(ada, assets):
    assert ada.get("/studies/new/").status_code == 200
    page = ada.get("/studies/new/?protocol=likert")
    assert page.status_code == 200 and b"Scale points" in page.content
    response = ada.post("/studies/new/", form_data(assets))
    assert response.status_code == 302, response.content.decode()[:2000]
    study = Study.objects.get()
    assert response["Location"] == f"/studies/{study.uid}/"
    assert study.configuration["points"] == 5 and study.flow["public_title"] == "Image study"
    assert study.stimuli_selection["methods"] == list(assets.methods)
    assert [c.name for c in study.conditions.all()] == ["order 1", "order 2"]
    detail = ada.get(response["Location"])
    assert detail.status_code == 200 and b"Everything is precomputed" in detail.content


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cfg_points": 3}, b"must be 4, 5, 6 or 7"),
        ({"cfg_neutral": "", "cfg_points": 5}, b"even number of points"),
        ({"methods": ""}, b"This field is required"),
        ({"flow_questionnaire": '[{"name": "Bad Name", "text": "?"}]'}, b"lower-case letters"),
        ({"flow_questionnaire": "[not json"}, b"not valid JSON"),
        ({"flow_completion_url": "javascript:alert(1)"}, b"must be an http(s) address"),
        ({"title": ""}, b"This field is required"),
        ({"methods": "gradcam, no_such_method"}, b"unknown method(s): no_such_method (known: "),
    ],
)
def test_invalid_designs_show_messages_and_store_nothing(ada, assets, changes, message):
    response = ada.post("/studies/new/", form_data(assets, **changes))
    assert response.status_code == 400
    assert message in response.content
    assert not Study.objects.exists() and not Event.objects.exists()


def test_a_researcher_never_sees_another_researchers_study(ada, bob, likert_study):
    uid = likert_study.uid
    assert ada.get(f"/studies/{uid}/").status_code == 200
    for path in (
        f"/studies/{uid}/",
        f"/studies/{uid}/monitor/",
        f"/studies/{uid}/edit/",
        f"/studies/{uid}/export/responses.csv",
        f"/api/studies/{uid}/",
        f"/api/studies/{uid}/spec/",
    ):
        assert bob.get(path).status_code == 404, path
    for path in (f"/studies/{uid}/state/", f"/studies/{uid}/copy/", f"/studies/{uid}/preview/"):
        assert bob.post(path, {"action": "pause"}).status_code == 404, path
    assert likert_study.title.encode() not in bob.get("/studies/").content
    assert bob.get("/api/studies/").json()["count"] == 0
    assert likert_study.title.encode() not in bob.get("/dashboard/").content
    likert_study.refresh_from_db()
    assert likert_study.state == "live"


def test_collaborators_view_or_edit(ada, bob, researcher, other_researcher, likert_study):
    collaborator_set(study=likert_study, actor=researcher, user=other_researcher, role="view")
    uid = likert_study.uid
    assert bob.get(f"/studies/{uid}/").status_code == 200
    assert bob.get(f"/studies/{uid}/export/responses.csv").status_code == 200
    assert bob.post(f"/studies/{uid}/state/", {"action": "pause"}).status_code == 404
    assert bob.post(f"/api/studies/{uid}/state/", {"action": "pause"}).status_code == 403
    ada.post(f"/studies/{uid}/collaborators/", {"username": "bob", "role": "edit"})
    assert Collaborator.objects.get().role == "edit"
    assert bob.post(f"/studies/{uid}/state/", {"action": "pause"}).status_code == 302
    likert_study.refresh_from_db()
    assert likert_study.state == "paused"
    # only the owner manages the team
    bob.post(f"/studies/{uid}/collaborators/", {"username": "bob", "role": ""})
    assert Collaborator.objects.exists()


def test_view_only_collaborators_cannot_preview(ada, bob, researcher, other_researcher, assets):
    """A preview creates participants and freezes a draft's stimuli: it needs edit rights."""
    study = create_study(researcher, assets, state=None)
    collaborator_set(study=study, actor=researcher, user=other_researcher, role="view")
    assert not study.stimuli.exists()
    page = bob.get(f"/studies/{study.uid}/")
    assert page.status_code == 200  # they can still see it, without the preview form
    assert f"/studies/{study.uid}/preview/" not in page.content.decode()
    assert bob.post(f"/studies/{study.uid}/preview/").status_code == 404
    assert not Participant.objects.filter(study=study).exists()
    assert not study.stimuli.exists()  # the draft's stimuli are not frozen
    # an editor may
    collaborator_set(study=study, actor=researcher, user=other_researcher, role="edit")
    assert f"/studies/{study.uid}/preview/" in bob.get(f"/studies/{study.uid}/").content.decode()
    assert bob.post(f"/studies/{study.uid}/preview/").status_code == 302
    assert Participant.objects.get(study=study).mode == "preview"


def test_life_cycle_buttons_and_invalid_transitions(ada, researcher, assets):
    study = create_study(researcher, assets, state=None)
    uid = study.uid
    ada.post(f"/studies/{uid}/state/", {"action": "pilot"})
    study.refresh_from_db()
    assert study.state == "pilot" and study.stimuli.count() == 4
    ada.post(f"/studies/{uid}/state/", {"action": "launch"})
    ada.post(f"/studies/{uid}/state/", {"action": "pause"})
    ada.post(f"/studies/{uid}/state/", {"action": "launch"})
    study.refresh_from_db()
    assert study.state == "live" and study.launched_at is not None
    page = ada.post(f"/studies/{uid}/state/", {"action": "pilot"}, follow=True)
    assert b"a live study cannot pilot" in page.content
    ada.post(f"/studies/{uid}/state/", {"action": "close"})
    study.refresh_from_db()
    assert study.state == "closed" and study.closed_at is not None
    changes = list(
        Event.objects.filter(study=study, kind="study.state_changed").values_list(
            "data__to", flat=True
        )
    )
    assert changes == ["pilot", "live", "paused", "live", "closed"]


def test_design_is_locked_once_there_are_real_responses(ada, researcher, likert_study, assets):
    simulate(likert_study, n=1, seed=0)
    uid = likert_study.uid
    page = ada.get(f"/studies/{uid}/edit/")
    assert b"Copy it as a new version" in page.content and b"Scale points" not in page.content
    response = ada.post(f"/studies/{uid}/edit/", {"title": "Renamed", "cfg_points": 7})
    assert response.status_code == 302
    likert_study.refresh_from_db()
    assert likert_study.title == "Renamed" and likert_study.configuration["points"] == 5
    api = ada.put(
        f"/api/studies/{uid}/spec/",
        json.dumps(
            {
                "title": "x",
                "protocol": "likert",
                "stimuli": {"classifier": "lite0", "image_set": "animals", "methods": ["gradcam"]},
            }
        ),
        content_type="application/json",
    )
    assert api.status_code == 409 and api.json()["error"]["code"] == "design_locked"
    copy = ada.post(f"/studies/{uid}/copy/")
    newer = Study.objects.exclude(pk=likert_study.pk).get()
    assert copy["Location"] == f"/studies/{newer.uid}/"
    assert newer.version == 2 and newer.lineage == likert_study.lineage
    assert newer.state == "draft" and newer.previous_version == likert_study
    assert newer.link_token != likert_study.link_token


def test_editing_a_draft_replaces_its_design(ada, researcher, assets):
    study = create_study(researcher, assets, state=None)
    response = ada.post(
        f"/studies/{study.uid}/edit/", form_data(assets, cfg_design="between", cfg_points=7)
    )
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.configuration["points"] == 7
    assert [c.name for c in study.conditions.all()] == list(assets.methods)


def test_preview_as_a_participant_is_flagged_and_not_counted(ada, researcher, assets):
    study = create_study(researcher, assets, state=None)
    condition = study.conditions.get(name="order 2")
    response = ada.post(f"/studies/{study.uid}/preview/", {"condition": condition.pk})
    assert response.status_code == 302 and response["Location"].startswith("/s/")
    preview = Participant.objects.get()
    assert preview.mode == "preview" and preview.condition == condition
    assert preview.recruiter_hash == ""
    participant = finish(ada, response["Location"])
    assert participant.state == "completed"
    assert b"Return to the recruitment site" not in ada.get(response["Location"]).content
    # a design change discards previews and the frozen stimuli
    ada.post(f"/studies/{study.uid}/edit/", form_data(assets, cfg_points=7))
    assert not Participant.objects.exists() and not study.stimuli.exists()


def test_missing_maps_are_reported_and_their_precompute_offered(ada, researcher, db, media_root):
    from .conftest import make_assets

    partial = make_assets(methods=("gradcam", "rise"), skip_maps=lambda k, m: m == "rise" and k < 3)
    study = create_study(researcher, partial, state=None)
    page = ada.get(f"/studies/{study.uid}/")
    assert b"of rise for the predicted class are not precomputed" in page.content
    # creating the draft started the missing work: the page shows the job, not the button
    assert b"Being computed now" in page.content
    refused = ada.post(f"/studies/{study.uid}/state/", {"action": "launch"}, follow=True)
    assert b"not precomputed" in refused.content
    study.refresh_from_db()
    assert study.state == "draft" and not study.stimuli.exists()
    from explainers.models import PrecomputeJob

    job_page = ada.post(f"/studies/{study.uid}/precompute/")
    job = PrecomputeJob.objects.get()
    assert job_page["Location"] == f"/jobs/{job.uid}/"
    assert job.methods == ["rise"] and set(job.targets) == {"predicted", "truth"}


def test_a_draft_with_the_designers_defaults_starts_its_missing_maps_at_once(
    ada, researcher, db, media_root
):
    """Likert's defaults (justification, misclassified images) need the true class's maps: a
    draft whose image set has only the predicted class's starts that job when it is created, and
    its page shows the job instead of a launch that is refused later."""
    from explainers.models import PrecomputeJob

    from .conftest import make_assets

    only_predicted = make_assets(methods=("gradcam",), targets=("predicted",))
    study = create_study(researcher, only_predicted, state=None)
    assert study.configuration["variant"] == "justification"
    job = PrecomputeJob.objects.get()
    assert job.methods == ["gradcam"] and "truth" in job.targets
    page = ada.get(f"/studies/{study.uid}/")
    assert f"/jobs/{job.uid}/".encode() in page.content and b"Being computed now" in page.content
    # a second draft and the page's button reuse the job in progress
    create_study(researcher, only_predicted, state=None, title="Second")
    assert ada.post(f"/studies/{study.uid}/precompute/")["Location"] == f"/jobs/{job.uid}/"
    assert PrecomputeJob.objects.count() == 1


def test_monitor_counts_participants_per_condition_and_state(ada, researcher, likert_study):
    from studies.bots import ResponseModel

    simulate(likert_study, n=3, seed=0, model=ResponseModel(attention_fail_rate=1.0))
    simulate(likert_study, n=1, seed=1, model=ResponseModel(decline_rate=1.0))
    page = ada.get(f"/studies/{likert_study.uid}/monitor/")
    assert page.status_code == 200 and b"P0004" in page.content
    data = ada.get(f"/studies/{likert_study.uid}/monitor/?format=json").json()
    # the declared rule (1 failed check) excludes them automatically at completion
    assert data["states"] == {"excluded": 3, "screened_out": 1}
    assert sum(c["total"] for c in data["conditions"]) == 4
    assert data["attention_failures"] == 3
    api = ada.get(f"/api/studies/{likert_study.uid}/monitor/").json()
    assert api["participants_with_failures"] == 3 and api["median_minutes"] is not None
    first = Participant.objects.get(number=1)
    ada.post(f"/studies/{likert_study.uid}/participants/1/exclusion/", {"reason": "bot"})
    first.refresh_from_db()
    assert first.state == "excluded" and first.exclusion_reason == "bot"


def test_exports_download_from_the_study_page(ada, likert_study):
    simulate(likert_study, n=1, seed=0)
    for name, kind in [
        ("responses.csv", "text/csv"),
        ("participants.csv", "text/csv"),
        ("datapackage.json", "application/json"),
        ("study.json", "application/json"),
    ]:
        response = ada.get(f"/studies/{likert_study.uid}/export/{name}")
        assert response.status_code == 200 and response["Content-Type"].startswith(kind)
    assert ada.get(f"/studies/{likert_study.uid}/export/secrets.txt").status_code == 404


def test_import_a_study_file(ada, likert_study):
    spec = ada.get(f"/studies/{likert_study.uid}/export/study.json").content
    response = ada.post("/studies/import/", {"text": spec.decode()})
    assert response.status_code == 302
    bad = ada.post("/studies/import/", {"text": '{"protocol": "nope"}'})
    assert bad.status_code == 400 and b"unknown protocol" in bad.content
    assert Study.objects.count() == 2


def test_dashboard_lists_the_researchers_studies(ada, likert_study):
    page = ada.get("/dashboard/")
    assert page.status_code == 200 and likert_study.title.encode() in page.content


def test_admin_pages_and_read_only_event_log(client, likert_study):
    from django.contrib.auth import get_user_model

    simulate(likert_study, n=1, seed=0)
    admin = get_user_model().objects.create_superuser("root")
    client.force_login(admin)
    for model in ("study", "participant", "response", "event"):
        assert client.get(f"/admin/studies/{model}/").status_code == 200, model
    event = Event.objects.first()
    assert client.get(f"/admin/studies/event/{event.pk}/change/").status_code == 200
    assert client.get("/admin/studies/event/add/").status_code == 403
    participant = Participant.objects.get()
    page = client.get(f"/admin/studies/participant/{participant.pk}/change/")
    assert page.status_code == 200 and participant.recruiter_hash.encode() not in page.content


def test_the_designer_reports_every_fields_problem_at_once(ada, assets):
    changes = {
        "flow_questionnaire": "[not json",
        "flow_attention_checks": -1,
        "cfg_points": 3,
        "methods": "gradcam, no_such_method",
    }
    response = ada.post("/studies/new/", form_data(assets, **changes))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "not valid JSON" in " ".join(errors["flow_questionnaire"])
    assert errors["flow_attention_checks"]
    assert "must be 4, 5, 6 or 7" in " ".join(errors["cfg_points"])
    assert "no_such_method" in " ".join(errors["methods"])
    assert not Study.objects.exists()


def test_the_only_classifier_and_image_set_are_preselected(ada, assets):
    form = ada.get("/studies/new/?protocol=likert").context["form"]
    assert form["classifier"].value() == assets.classifier.pk
    assert form["image_set"].value() == assets.image_set.pk
