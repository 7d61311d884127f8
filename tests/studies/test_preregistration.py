"""A study's preregistration: drafted before launch, frozen with its hash at launch, and the
deviations of what was run listed on the results page and in the report."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from analysis.preregistration import canonical_json, document_hash
from studies.bots import simulate
from studies.models import AnalysisRun, Event, Participant, Study
from studies.services.participants import participant_exclude
from studies.services.studies import study_transition

from .conftest import create_study

pytestmark = pytest.mark.django_db

FLOW = {
    "hypotheses": "H1: the Grad-CAM map is rated higher than the others.",
    "power_analysis": {"design": "paired", "effect": 0.5, "power": 0.8},
    "exclude_median_rt_below_ms": 200,
}


@pytest.fixture
def ada(client, researcher):
    client.force_login(researcher)
    return client


def _export(client, study, name):
    return client.get(reverse("studies:export", args=[study.uid, name]))


def test_draft_is_downloadable_and_the_launch_freezes_it_with_its_hash(ada, researcher, assets):
    study = create_study(researcher, assets, state=None, flow=FLOW)
    assert study.preregistration is None
    page = ada.get(reverse("studies:detail", args=[study.uid])).content.decode()
    assert "<h2>Preregistration</h2>" in page and "frozen with a hash when" in page
    draft = _export(ada, study, "preregistration.md")
    assert draft.status_code == 200 and draft["Content-Type"].startswith("text/markdown")
    text = draft.content.decode()
    assert "Draft: not frozen yet" in text and FLOW["hypotheses"] in text
    assert "`rating ~ method + (1|participant) + (1|item)`" in text
    assert "34 participants" in text  # d_z = 0.5, power 0.8: 33.37 → 34 (STATISTICS.md)

    study = study_transition(study=study, actor=researcher, action="launch")
    study.refresh_from_db()
    doc = study.preregistration
    assert doc["plan"]["n_items"] == study.stimuli.count() > 0  # frozen after the stimuli
    assert study.preregistration_sha256 == document_hash(doc)
    assert study.preregistered_at is not None
    canonical = _export(ada, study, "preregistration.json").content
    assert canonical == canonical_json(doc)
    assert hashlib.sha256(canonical).hexdigest() == study.preregistration_sha256
    frozen = _export(ada, study, "preregistration.md").content.decode()
    assert f"SHA-256 of its canonical JSON: `{study.preregistration_sha256}`" in frozen
    assert Event.objects.filter(study=study, kind="preregistration.frozen").count() == 1

    # pausing and launching again keeps the registration as it was
    sha = study.preregistration_sha256
    study = study_transition(study=study, actor=researcher, action="pause")
    Study.objects.filter(pk=study.pk).update(flow={**study.flow, "hypotheses": "changed"})
    study = study_transition(study=study, actor=researcher, action="launch")
    study.refresh_from_db()
    assert study.preregistration_sha256 == sha and document_hash(study.preregistration) == sha
    page = ada.get(reverse("studies:detail", args=[study.uid])).content.decode()
    assert sha in page


def test_deviations_on_the_results_page_and_in_the_report(ada, researcher, assets):
    study = create_study(researcher, assets, flow=FLOW)
    simulate(study, n=4, seed=2)
    url = reverse("studies:results", args=[study.uid])
    html = ada.get(url).content.decode()
    assert "<h2>Deviations from the preregistration</h2>" in html
    # only the sample differs: 34 planned (power analysis), 4 analysed
    assert "<strong>Sample size</strong>: registered 34 participants (power analysis); " in html
    assert "run 4 analysed (30 fewer)" in html
    assert "Exclusion rule" not in html

    # the exclusion rule changed after launch (outside the designer, which refuses it)
    Study.objects.filter(pk=study.pk).update(
        flow={**study.flow, "exclude_median_rt_below_ms": 800, "exclude_straightlining": True}
    )
    participant = Participant.objects.filter(study=study).order_by("number").first()
    participant_exclude(participant=participant, actor=researcher, reason="spoke to a friend")
    html = ada.get(url).content.decode()
    assert (
        "<strong>Exclusion rule exclude_median_rt_below_ms</strong>: registered 200; run 800"
        in html
    )
    assert "<strong>Exclusion rule exclude_straightlining</strong>: registered none; run true" in (
        html
    )
    assert "run 1 participant(s) excluded by the researcher" in html
    run = AnalysisRun.objects.filter(study=study).order_by("-pk").first()
    assert run.state == "done", run.error
    report = ada.get(
        reverse("studies:results-file", args=[study.uid, run.uid, "report.html"])
    ).content.decode()
    assert "<h2>Deviations from the preregistration</h2>" in report
    assert "exclusion rule exclude_median_rt_below_ms: registered 200; run 800" in report
    assert "sample size: registered 34 participants (power analysis); run 3 analysed" in report


def test_a_study_run_as_registered_says_so(ada, researcher, assets):
    flow = {**FLOW, "power_analysis": None, "quota_per_condition": None}
    study = create_study(researcher, assets, flow=flow)
    simulate(study, n=3, seed=2)
    html = ada.get(reverse("studies:results", args=[study.uid])).content.decode()
    assert "None: the study ran as registered." in html
    draft = create_study(researcher, assets, state=None, flow=flow)
    html = ada.get(reverse("studies:results", args=[draft.uid])).content.decode()
    assert "Deviations from the preregistration" not in html  # nothing registered yet
