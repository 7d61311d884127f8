"""The power planner and the designer show what the planned sample costs (analysis.cost)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from studies.bots import simulate
from studies.models import Participant
from studies.selectors import study_cost

from .conftest import create_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(client, researcher):
    client.force_login(researcher)
    return client


COST = {"minutes": "12", "hourly_rate": "9", "currency": "GBP", "fee_percent": "33.33"}


def test_planner_costs_the_sample_for_80_90_and_95_percent_power(ada):
    query = {"design": "paired", "effect": "0.5", "alpha": "0.05", "target_power": "0.8", **COST}
    page = ada.get(reverse("studies:power"), {**query, "tax_percent": "20"})
    assert page.status_code == 200
    html = page.content.decode()
    # d_z = 0.5: 34, 44 and 54 pairs (33.37, 43.995, 53.94); 1.80 each, fee 33.33 %, VAT 20 %
    for n, total in ((34, "85.68"), (44, "110.88"), (54, "136.08")):
        payment = n * 1.8
        fee = round(payment * 0.3333 + 1e-9, 2)
        assert f"{payment + fee + round(fee * 0.2 + 1e-9, 2):.2f}" == total  # by hand
        assert f"<td>{n}</td><td>{payment:.2f}</td><td>{fee:.2f}</td>" in html
        assert f"<strong>{total} GBP</strong>" in html
    for goal in ("80 %", "90 %", "95 %"):
        assert f"<td>{goal}</td>" in html


def test_planner_costs_each_group_of_a_between_design(ada):
    query = {"design": "two_groups", "effect": "0.5", "alpha": "0.05", "target_power": "0.8"}
    html = ada.get(reverse("studies:power"), {**query, **COST}).content.decode()
    # 64 per group at 80 %: 115.20 + 38.40 fee each, 307.20 in total
    assert html.count("<td>group 1</td><td>64</td><td>115.20</td><td>38.40</td>") == 1
    assert "<td>128</td><td>230.40</td><td>76.80</td><td>0.00</td><td><strong>307.20 GBP" in html


def test_planner_asks_for_the_rate_with_the_duration(ada):
    query = {"design": "paired", "effect": "0.5", "alpha": "0.05", "target_power": "0.8"}
    page = ada.get(reverse("studies:power"), {**query, "minutes": "10"})
    assert page.status_code == 400
    assert "needs both the duration and the hourly rate" in page.content.decode()


def test_designer_shows_the_cost_of_the_quota_with_the_stated_duration(ada, researcher, assets):
    flow = {"quota_per_condition": 30, "expected_minutes": 20, "hourly_rate": 12.0}
    flow |= {"platform_fee_percent": 25.0, "currency": "EUR"}
    study = create_study(
        researcher,
        assets,
        state=None,
        protocol="gt_prediction",
        configuration={"confidence": False},
        stimuli={"methods": [assets.methods[0]]},
        flow=flow,
    )
    cost = study_cost(study)
    assert cost.source == "stated duration"
    # 2 conditions × 30 × 4.00 = 240.00, + 25 % = 60.00
    assert [(line.condition, str(line.total)) for line in cost.plan.lines] == [
        ("explanation hidden", "150.00"),
        ("explanation shown", "150.00"),
    ]
    html = ada.get(reverse("studies:detail", args=[study.uid])).content.decode()
    assert "<strong>300.00 EUR</strong>" in html and "Duration: stated duration." in html
    form = ada.get(reverse("studies:edit", args=[study.uid])).content.decode()
    assert "<strong>300.00 EUR</strong>" in form and 'name="flow_hypotheses"' in form


def test_designer_uses_the_pilots_median_duration(ada, researcher, assets):
    flow = {"quota_per_condition": 10, "hourly_rate": 6.0}
    study = create_study(researcher, assets, state="pilot", flow=flow)
    assert study_cost(study).plan is None
    assert "run a pilot" in study_cost(study).source
    simulate(study, n=3, seed=1)  # a pilot study's participants are pilot participants
    minutes = iter((8, 10, 30))
    for p in study.participants.filter(mode=Participant.Mode.PILOT).order_by("pk"):
        p.completed_at = p.started_at + timedelta(minutes=next(minutes))
        p.save(update_fields=["completed_at"])
    cost = study_cost(study)
    assert cost.source == "the pilot's median duration (3 completed sessions)"
    assert cost.plan.minutes == 10 and str(cost.plan.reward) == "1.00"
    n_conditions = study.conditions.count()
    assert [line.participants for line in cost.plan.lines] == [10] * n_conditions
    assert str(cost.plan.total.total) == f"{10 * n_conditions}.00"  # 10 × 1.00 per condition
