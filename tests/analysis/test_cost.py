"""The cost of a planned sample equals the hand computation (analysis.cost)."""

from decimal import Decimal

import pytest

from analysis.cost import median_minutes, plan_cost


def test_cost_per_condition_and_total_equal_a_hand_computation():
    # 2 conditions × 40 participants, 12 min at 9.00/h: 1.80 each; fee 33.33 % of the rewards;
    # VAT 20 % of the fee
    plan = plan_cost(
        {"explanation hidden": 40, "explanation shown": 40},
        minutes=12,
        hourly_rate=9.0,
        fee_percent=33.33,
        tax_percent=20,
        currency="GBP",
    )
    assert plan.reward == Decimal("1.80")
    hidden, shown = plan.lines
    assert (hidden.condition, hidden.participants) == ("explanation hidden", 40)
    assert hidden.payment == Decimal("72.00")  # 40 × 1.80
    assert hidden.fee == Decimal("24.00")  # 72 × 0.3333 = 23.9976
    assert hidden.tax == Decimal("4.80")  # 23.9976 × 0.2 = 4.79952
    assert hidden.total == Decimal("100.80")
    assert shown == hidden.__class__(
        "explanation shown", 40, hidden.payment, hidden.fee, hidden.tax
    )
    total = plan.total
    assert (total.participants, total.payment, total.fee, total.tax, total.total) == (
        80,
        Decimal("144.00"),
        Decimal("48.00"),
        Decimal("9.60"),
        Decimal("201.60"),
    )
    assert plan.describe().startswith("201.60 GBP for 80 participants: 80 × 1.80 GBP")


def test_tax_on_the_total_and_a_reward_rounded_to_the_cent():
    # 7 min at 10/h = 1.1666… → 1.17 per participant; 25 × 1.17 = 29.25; fee 10 % = 2.925 →
    # 2.93; tax 5 % of (29.25 + 2.925) = 1.60875 → 1.61
    plan = plan_cost(
        [("all", 25)], minutes=7, hourly_rate=10, fee_percent=10, tax_percent=5, tax_on="total"
    )
    line = plan.lines[0]
    assert plan.reward == Decimal("1.17")
    assert (line.payment, line.fee, line.tax, line.total) == (
        Decimal("29.25"),
        Decimal("2.93"),
        Decimal("1.61"),
        Decimal("33.79"),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"minutes": 0, "hourly_rate": 9}, "duration"),
        ({"minutes": 10, "hourly_rate": -1}, "hourly rate"),
        ({"minutes": 10, "hourly_rate": 9, "fee_percent": float("nan")}, "service fee"),
        ({"minutes": 10, "hourly_rate": 9, "tax_on": "reward"}, "tax_on"),
    ],
)
def test_bad_inputs_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_cost({"a": 10}, **kwargs)


def test_bad_sample_sizes_are_named():
    with pytest.raises(ValueError, match="no conditions"):
        plan_cost({}, minutes=10, hourly_rate=9)
    with pytest.raises(ValueError, match=r"condition 'a'.*whole number"):
        plan_cost({"a": 2.5}, minutes=10, hourly_rate=9)  # type: ignore[dict-item]


def test_median_minutes_of_completed_sessions():
    assert median_minutes([600, None, 300, 900]) == 10.0
    assert median_minutes([]) is None
