"""The demo serves at once: its studies are drafts that open by themselves when their maps are
ready (issue 23). Service level, real model and real maps, tasks in-process.

The demo's photographs are cut down to two and its methods to two fast ones. Inside a test
transaction ``on_commit`` never fires on its own, so the demo's precompute job stays pending (as
if the worker had not reached it yet) until a test runs its dispatch under
``django_capture_on_commit_callbacks(execute=True)``: that commits, for the callbacks, the way a
worker's transactions do, and the job-finished signal then reaches the studies app.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

from explainers import demo as explainers_demo
from explainers.models import PrecomputeJob, PrecomputeUnit, SaliencyMap
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.image_sets import image_set_import
from explainers.services.render_requests import map_renders_request
from explainers.services.units import precompute_job_dispatch, precompute_unit_run
from explainers.signals import precompute_job_finished
from explainers.tasks.jobs import dispatch_job
from studies.models import Event, Participant, Study
from studies.protocols import get_protocol
from studies.services.demo import BOTS, demo_studies, demo_studies_draft, demo_studies_open
from studies.services.preregistration import preregistration_of
from studies.stimuli import check_stimuli
from studies.tasks import open_demo_studies

from .conftest import Assets, create_study

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def demo(media_root, tmp_path: Path, monkeypatch, settings):
    """The demo researcher, the photographs' set and its demo job, pending."""
    settings.SHARED_DATA_DIR = str(tmp_path / "no-shared-data")
    photos = {p.file_name: p for p in explainers_demo.PHOTOS}
    monkeypatch.setattr(explainers_demo, "PHOTOS", (photos["coffee.png"], photos["chelsea.png"]))
    monkeypatch.setattr(explainers_demo, "METHODS", ("gradcam", "gradient"))
    monkeypatch.setattr(explainers_demo, "METRICS", ())
    owner = get_user_model().objects.create_user("researcher", is_staff=True, is_superuser=True)
    classifier = classifier_zoo_ensure(name=explainers_demo.CLASSIFIER)
    folder = tmp_path / "photos"
    folder.mkdir()
    assert explainers_demo.photos_write(folder, classifier.class_names) == 2
    image_set = image_set_import(
        name=explainers_demo.PHOTOS_SET,
        source=folder,
        owner=owner,
        class_names=classifier.class_names,
    ).image_set
    job = explainers_demo.demo_job_ensure(classifier=classifier, image_set=image_set, owner=owner)
    assert job.state == PrecomputeJob.State.PENDING
    return SimpleNamespace(owner=owner, classifier=classifier, image_set=image_set, job=job)


def states() -> dict[str, str]:
    return dict(demo_studies().values_list("protocol", "state"))


def test_drafts_wait_for_their_maps_and_open_with_bots_when_the_job_finishes(
    demo, client, django_capture_on_commit_callbacks
):
    refused = demo_studies_draft(owner=demo.owner)

    assert set(states()) >= {"likert", "preference"}, refused
    assert set(states().values()) == {"draft"}
    assert PrecomputeJob.objects.count() == 1, "the drafts reuse the demo's job"
    openings = demo_studies_open()
    assert openings and all(o.waiting and not o.opened for o in openings)
    client.force_login(demo.owner)
    dashboard = client.get("/dashboard/").content.decode()
    assert "Maps being computed: 0 of 4." in dashboard
    likert = demo_studies().get(protocol="likert")
    assert f"/studies/{likert.uid}/" in dashboard
    page = client.get(f"/studies/{likert.uid}/").content.decode()
    assert "it opens by itself when its maps are ready" in page
    assert "Maps being computed: 0 of 4." in page

    with django_capture_on_commit_callbacks(execute=True):
        dispatch_job.delay(demo.job.pk)  # the worker: units, job finished, signal, open task

    demo.job.refresh_from_db()
    assert demo.job.state == PrecomputeJob.State.DONE, demo.job.errors
    assert states()["likert"] == states()["preference"] == "live"
    for study in demo_studies():
        if study.state == "live":
            assert study.participants.count() == BOTS, study.protocol
            assert study.stimuli.exists() and study.launched_at is not None
        else:  # maps all there but the two photographs cannot serve it: says why, not waiting
            (opening,) = [o for o in demo_studies_open() if o.study.pk == study.pk]
            assert opening.reason and not opening.waiting, study.protocol
    assert "Maps being computed" not in client.get("/dashboard/").content.decode()
    assert "opens by itself" not in client.get(f"/studies/{likert.uid}/").content.decode()


def test_a_study_opens_only_when_all_its_maps_are_there_and_only_once(
    demo, django_capture_on_commit_callbacks
):
    demo_studies_draft(owner=demo.owner)
    units = precompute_job_dispatch(job_id=demo.job.pk)
    assert len(units) == 2  # one batch, two methods
    gradcam = PrecomputeUnit.objects.get(pk__in=units, method="gradcam")
    precompute_unit_run(unit_id=gradcam.pk)

    # the gradcam maps are there, the gradient ones not: only a study of gradcam alone opens
    opened = [o.study for o in demo_studies_open() if o.opened]
    assert all(s.stimuli_selection["methods"] == ["gradcam"] for s in opened), opened
    assert states()["likert"] == states()["preference"] == "draft"

    (gradient,) = [u for u in units if u != gradcam.pk]
    with django_capture_on_commit_callbacks(execute=True):
        precompute_unit_run(unit_id=gradient)
    assert states()["likert"] == states()["preference"] == "live"
    counts = (Participant.objects.count(), Event.objects.count(), Study.objects.count())

    # the task delivered again (acks_late redelivery, a second job ending): nothing twice
    result = open_demo_studies.delay().get()
    assert result["opened"] == [] and result["waiting"] == []
    demo_studies_draft(owner=demo.owner)
    assert (Participant.objects.count(), Event.objects.count(), Study.objects.count()) == counts


def test_the_job_finished_signal_is_sent_on_commit_and_callbacks_can_be_logged(
    demo, django_capture_on_commit_callbacks
):
    received: list[dict] = []

    def receiver(sender, **kwargs):  # type: ignore[no-untyped-def]
        received.append(kwargs)

    precompute_job_finished.connect(receiver, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            units = precompute_job_dispatch(job_id=demo.job.pk)
            for unit in units:
                precompute_unit_run(unit_id=unit)
            map_ids = list(SaliencyMap.objects.values_list("id", flat=True))
            assert map_renders_request(map_ids=map_ids, presentations=["default"]) == len(map_ids)
        assert received == []  # the job is done in this transaction, not yet committed
        # the signal's sender and the render chunks' senders: Django logs a robust callback that
        # raises by its __qualname__ (a functools.partial had none: the log call raised instead)
        assert len(callbacks) == 2
        for callback in callbacks:
            assert callback.__qualname__
            callback()
    finally:
        precompute_job_finished.disconnect(receiver)
    assert [(r["job_id"], r["state"]) for r in received] == [(demo.job.pk, "done")]


def test_a_draft_with_the_designers_defaults_on_the_demo_set_needs_no_job_of_its_own(
    demo, django_capture_on_commit_callbacks
):
    """Issue 23: the designer's Likert defaults (justification, misclassified images) need the
    true class's maps: the demo's job computes them, so a draft made while it runs reuses it and
    has them all once it ends (launch is never where the researcher learns they are missing)."""
    assert "truth" in demo.job.targets
    assets = Assets(demo.classifier, demo.image_set, [], ("gradcam", "gradient"))
    study = create_study(demo.owner, assets, state=None, title="Mine")
    assert study.configuration["variant"] == "justification"
    assert PrecomputeJob.objects.count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        dispatch_job.delay(demo.job.pk)

    check = check_stimuli(
        classifier=study.classifier,
        image_set=study.image_set,
        selection=study.stimuli_selection,
        protocol=get_protocol("likert"),
        config=study.configuration,
    )
    assert not check.missing_maps and not check.missing_predictions, check.messages()
    assert (
        Study.objects.get(pk=study.pk).state == "draft"
    )  # not a demo study: it never opens by itself


def test_each_demo_study_is_preregistered_with_conditions_formula_exclusions_and_planned_n(
    demo, client, django_capture_on_commit_callbacks
):
    """The demo shows what a preregistration holds: every draft's document names its
    conditions, its confirmatory model's formula, the exclusion rules and the planned sample;
    the launch (when the maps are there) freezes it."""
    demo_studies_draft(owner=demo.owner)
    drafts = list(demo_studies())
    assert {s.protocol for s in drafts} >= {"likert", "preference"}
    for study in drafts:
        registration = preregistration_of(study)
        text = registration.markdown()
        doc = registration.document
        assert study.flow["hypotheses"] in text, study.protocol
        # the confirmatory model with its formula (a mixed model's, or Bradley–Terry's)
        assert re.search(r"Confirmatory: [^`]*`[^`]*(~|=)[^`]*`", text), study.protocol
        assert "attention check" in text.lower(), f"{study.protocol}: no exclusion rule"
        planned = doc["plan"]["planned_sample"]
        assert planned and planned["source"] == "power analysis" and planned["n_total"] > 0
        assert f"({planned['n_total']} in total" in text, study.protocol
        for condition in study.conditions.values_list("name", flat=True):
            assert condition in text, f"{study.protocol}: condition {condition!r} not named"
        page = registration.html()
        assert page.startswith("<!DOCTYPE html>") and escape(study.flow["hypotheses"]) in page

    client.force_login(demo.owner)
    likert = demo_studies().get(protocol="likert")
    shown = client.get(f"/studies/{likert.uid}/export/preregistration.html")
    assert shown.status_code == 200 and shown["Content-Type"].startswith("text/html")
    assert shown["Content-Disposition"].startswith("inline;")
    assert "<h2>" in shown.content.decode() and "Draft: not frozen yet" in shown.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        dispatch_job.delay(demo.job.pk)
    likert.refresh_from_db()
    assert likert.state == "live" and likert.preregistration_sha256
    frozen = client.get(f"/studies/{likert.uid}/export/preregistration.html").content.decode()
    assert f"<code>{likert.preregistration_sha256}</code>" in frozen
