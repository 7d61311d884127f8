"""The live monitor: counts per condition and state, rates, exclusions, refresh, CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from studies.bots import ResponseModel, simulate
from studies.models import Participant

from .conftest import create_study
from .helpers import arrive, walk_to_trials
from .test_simulation import sim_assets

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(client, researcher):
    client.force_login(researcher)
    return client


@pytest.fixture
def study(researcher, media_root):
    return create_study(
        researcher,
        sim_assets(),
        protocol="simulation",
        configuration={"tasks": 3},
        flow={"attention_checks": 1, "exclude_attention_failures": 1, "timeout_minutes": 30},
    )


def test_monitor_numbers_per_condition_and_state(ada, study):
    simulate(study, n=4, seed=1)
    simulate(study, n=1, seed=2, model=ResponseModel(attention_fail_rate=1.0))
    simulate(study, n=1, seed=3, model=ResponseModel(decline_rate=1.0))
    client = Client()
    url, _ = arrive(client, study)
    walk_to_trials(client, url)  # one still in progress
    data = ada.get(f"/studies/{study.uid}/monitor/?format=json").json()
    assert data["states"] == {"completed": 4, "excluded": 1, "screened_out": 1, "in_progress": 1}
    assert data["completion_rate"] == pytest.approx(5 / 7)
    assert data["attention_failures"] == 1 and data["participants_with_failures"] == 1
    assert data["exclusion_reasons"] == {"failed attention checks": 1, "declined consent": 1}
    assert data["median_minutes"] is not None and data["last_seen"]
    cells = {c["name"]: c for c in data["conditions"]}
    assert len(cells) == 4 and sum(c["total"] for c in cells.values()) == 7
    rates = [c["completion_rate"] for c in cells.values() if c["total"]]
    assert all(0 <= r <= 1 for r in rates)
    page = ada.get(f"/studies/{study.uid}/monitor/")
    html = page.content.decode()
    assert "failed attention checks: 1" in html and "Completion rate" in html
    assert "yes: failed attention checks" in html  # the flag and reason per participant


def test_monitor_refreshes_itself_with_a_static_script_only(ada, study):
    page = ada.get(f"/studies/{study.uid}/monitor/")
    html = page.content.decode()
    assert 'http-equiv="refresh"' not in html
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, re.S)
    assert all(body.strip() == "" for body in scripts)  # no inline script (strict CSP)
    assert "js/study_monitor.js" in html and 'id="monitor-live"' in html
    source = Path(settings.BASE_DIR, "static/js/study_monitor.js").read_text()
    assert "monitor-live" in source and "setTimeout" in source
    assert "script-src" in page["Content-Security-Policy"]


def test_csv_of_current_participants(ada, study):
    simulate(study, n=2, seed=4)
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    reply = ada.get(f"/studies/{study.uid}/monitor/?format=csv")
    assert reply["Content-Type"].startswith("text/csv")
    assert "attachment" in reply["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.content.decode())))
    assert rows[0]["participant_id"] == participant.export_id  # most recent first
    assert {r["state"] for r in rows} == {"completed", "in_progress"}
    current = rows[0]
    assert current["page"] == "trials" and current["duration_s"] == "NA"
    assert current["excluded"] == "0" and current["exclusion_reason"] == "NA"
    assert current["last_seen_at"].startswith(str(timezone.now().year))


def test_monitor_times_out_abandoned_sessions(ada, study):
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    Participant.objects.filter(pk=participant.pk).update(
        last_seen_at=timezone.now() - timedelta(hours=1)
    )
    data = ada.get(f"/studies/{study.uid}/monitor/?format=json").json()
    assert data["states"] == {"timed_out": 1}


def test_others_cannot_see_the_monitor(study, other_researcher):
    client = Client()
    client.force_login(other_researcher)
    assert client.get(f"/studies/{study.uid}/monitor/?format=csv").status_code == 404
