"""The methods section downloaded beside the results: the export's numbers, the study's design."""

from __future__ import annotations

import csv
import io
import statistics

import pytest
from django.urls import reverse

from analysis.methods_text import duration
from studies.bots import simulate
from studies.models import Participant
from studies.services.participants import participant_exclude

from .conftest import create_study

pytestmark = pytest.mark.django_db


def test_methods_text_names_the_study_and_has_the_export_s_numbers(client, researcher, assets):
    client.force_login(researcher)
    study = create_study(
        researcher,
        assets,
        title="Maps rated",
        flow={"hourly_rate": 12.0, "currency": "EUR", "exclude_median_rt_below_ms": 100},
    )
    simulate(study, n=5, seed=4)
    first = Participant.objects.filter(study=study).order_by("number").first()
    participant_exclude(participant=first, actor=researcher, reason="spoke to a friend")
    results = client.get(reverse("studies:results", args=[study.uid])).content.decode()
    url = reverse("studies:export", args=[study.uid, "methods.md"])
    assert f'href="{url}"' in results
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()

    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    reverse("studies:export", args=[study.uid, "participants.csv"])
                ).content.decode()
            )
        )
    )
    excluded = [r for r in rows if r["excluded"] == "1"]
    minutes = statistics.median(float(r["duration_s"]) for r in rows if r["duration_s"] != "NA")
    assert f"{len(rows)} participants took part" in text
    assert f"The median duration was {duration(minutes / 60)}." in text
    assert len(excluded) == 1 and excluded[0]["exclusion_reason"] == "spoke to a friend"
    assert f"1 participant was excluded (spoke to a friend: 1), leaving {len(rows) - 1}" in text
    assert "paid at a rate of 12 EUR per hour" in text
    assert "had a median response time over the main trials below 100 ms" in text
    assert f"{study.stimuli.count()} images from the image set “{assets.image_set.name}”" in text
    for method in assets.methods:
        assert method in text
    assert "(likert)" in text and "`rating ~ method + (1|participant) + (1|item)`" in text
    conditions = [c.name for c in study.conditions.all()]
    assert all(name in text for name in conditions)
    assert "Maps were presented as follows:" in text
    assert "Software: " in text and "analysis 1.0.0" in text
