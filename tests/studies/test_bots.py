"""Each protocol end to end: bots play whole sessions through the real flow."""

from __future__ import annotations

import pytest

from studies.bots import simulate
from studies.models import Participant, Response, Trial

pytestmark = pytest.mark.django_db


def test_likert_sessions_complete_with_balanced_conditions(likert_study):
    report = simulate(likert_study, n=4, seed=1)
    assert report.outcomes == {"complete": 4}, report.summary()
    participants = Participant.objects.filter(study=likert_study)
    assert {p.state for p in participants} == {"completed"}
    # two methods → a 2-row balanced Latin square: two participants per row
    rows = sorted(p.condition.name for p in participants)
    assert rows == ["order 1", "order 1", "order 2", "order 2"]
    main = Trial.objects.filter(participant__study=likert_study, kind="main")
    assert Response.objects.filter(trial__in=main).count() == main.count() == 4 * 4
