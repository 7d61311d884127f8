"""What a planned sample costs: participants × duration × hourly rate, plus the platform's cut.

For each condition with ``n`` participants:

- reward per participant  r = round(minutes / 60 × hourly rate, 2) (to the cent: what a
  recruitment platform pays out, and what it charges its fee on);
- payment  P = n × r;
- service fee  F = P × fee % / 100 (Prolific: a share of the rewards; MTurk: a commission);
- tax  T = F × tax % / 100 when ``tax_on="fee"`` (e.g. UK VAT on Prolific's fee), or
  (P + F) × tax % / 100 when ``tax_on="total"``;
- total  P + F + T.

The total of a plan is the sum over its conditions. Every amount is rounded to the cent once, as
the last step of its own line, so a table of conditions adds up to its total row exactly (the
total is the sum of the rounded lines). The duration is the researcher's estimate or the pilot's
median (:func:`median_minutes`).

Pure Python; no Django.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

__all__ = ["CostLine", "CostPlan", "median_minutes", "plan_cost"]

TaxBase = Literal["fee", "total"]
CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: float, name: str, *, positive: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(float(value)) or value < 0 or (positive and value == 0):
        bound = "greater than 0" if positive else "0 or more"
        raise ValueError(f"{name} must be a finite number {bound} (got {value})")
    return Decimal(str(value))


@dataclass(frozen=True)
class CostLine:
    """One condition's cost (or the plan's total, ``condition="total"``)."""

    condition: str
    participants: int
    payment: Decimal
    fee: Decimal
    tax: Decimal

    @property
    def total(self) -> Decimal:
        return self.payment + self.fee + self.tax


@dataclass(frozen=True)
class CostPlan:
    """The cost of a plan: per condition and in total, with the inputs it was computed from."""

    lines: tuple[CostLine, ...]
    minutes: float
    hourly_rate: float
    reward: Decimal  # per participant, to the cent
    fee_percent: float
    tax_percent: float
    tax_on: TaxBase
    currency: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> CostLine:
        return CostLine(
            "total",
            sum(line.participants for line in self.lines),
            sum((line.payment for line in self.lines), Decimal(0)),
            sum((line.fee for line in self.lines), Decimal(0)),
            sum((line.tax for line in self.lines), Decimal(0)),
        )

    def describe(self) -> str:
        """One sentence: the total and how it was computed."""
        t = self.total
        unit = f" {self.currency}" if self.currency else ""
        tax = (
            f" + tax {self.tax_percent:g} % of the {'fee' if self.tax_on == 'fee' else 'sum'}"
            f" ({t.tax}{unit})"
            if self.tax_percent
            else ""
        )
        return (
            f"{t.total}{unit} for {t.participants} participants: {t.participants} × "
            f"{self.reward}{unit} ({self.minutes:g} min at {self.hourly_rate:g}{unit}/h) = "
            f"{t.payment}{unit}, + service fee {self.fee_percent:g} % ({t.fee}{unit}){tax}"
        )


def plan_cost(
    participants: Mapping[str, int] | Sequence[tuple[str, int]],
    *,
    minutes: float,
    hourly_rate: float,
    fee_percent: float = 0.0,
    tax_percent: float = 0.0,
    tax_on: TaxBase = "fee",
    currency: str = "",
) -> CostPlan:
    """The cost of ``participants`` (condition → number) at ``minutes`` each (formulas above).

    Raises ``ValueError`` naming the input for a negative or non-finite number, a non-integer
    number of participants, no conditions, or an unknown ``tax_on``.
    """
    items = list(participants.items() if isinstance(participants, Mapping) else participants)
    if not items:
        raise ValueError("the plan has no conditions: give at least one condition's sample size")
    if tax_on not in ("fee", "total"):
        raise ValueError(f"tax_on must be 'fee' or 'total' (got {tax_on!r})")
    m = _decimal(minutes, "the duration (minutes)", positive=True)
    rate = _decimal(hourly_rate, "the hourly rate")
    fee_share = _decimal(fee_percent, "the service fee (%)") / 100
    tax_share = _decimal(tax_percent, "the tax (%)") / 100
    reward = _cents(m / 60 * rate)
    lines = []
    for name, n in items:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(
                f"condition {name!r}: the number of participants must be a whole number "
                f"0 or more (got {n!r})"
            )
        payment = reward * n
        fee = payment * fee_share
        tax = (fee if tax_on == "fee" else payment + fee) * tax_share
        lines.append(CostLine(str(name), n, _cents(payment), _cents(fee), _cents(tax)))
    notes = []
    if reward == 0 and rate > 0:
        notes.append("the reward per participant rounds to 0.00")
    return CostPlan(
        tuple(lines),
        float(minutes),
        float(hourly_rate),
        reward,
        float(fee_percent),
        float(tax_percent),
        tax_on,
        currency,
        notes,
    )


def median_minutes(durations_s: Iterable[float | None]) -> float | None:
    """The median of completed sessions' durations in minutes (``None`` without any)."""
    values = [float(d) for d in durations_s if d is not None and math.isfinite(float(d))]
    return statistics.median(values) / 60 if values else None
