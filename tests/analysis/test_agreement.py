"""Krippendorff's α: the 2011 reference example; a cross-check with the `krippendorff` package."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.agreement import krippendorff_alpha, krippendorff_alpha_long

N = np.nan
DATA = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
        [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
    ]
)


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("nominal", 0.743),
        ("ordinal", 0.815),
        ("interval", 0.849),
        ("ratio", 0.797),
    ],
)
def test_krippendorff_2011_example(level, expected):
    assert krippendorff_alpha(DATA, level).alpha == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_matches_the_krippendorff_package(level):
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(7)
    truth = rng.integers(1, 6, 60)
    data = np.clip(truth[None, :] + rng.integers(-1, 2, (6, 60)), 1, 5).astype(float)
    data[rng.random(data.shape) < 0.25] = np.nan
    ours = krippendorff_alpha(data, level).alpha
    theirs = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=1e-10)


def test_long_form_equals_matrix_form_and_bootstrap_ci():
    rows = [
        {"unit": u, "value": DATA[o, u]}
        for o in range(4)
        for u in range(12)
        if np.isfinite(DATA[o, u])
    ]
    res = krippendorff_alpha_long(
        pd.DataFrame(rows), unit="unit", value="value", level="ordinal", n_boot=500, seed=1
    )
    assert res.alpha == pytest.approx(krippendorff_alpha(DATA, "ordinal").alpha, abs=1e-12)
    assert res.n_pairable == 40 and res.n_units == 11
    assert res.ci_low < res.alpha < res.ci_high <= 1
    again = krippendorff_alpha_long(
        pd.DataFrame(rows), unit="unit", value="value", level="ordinal", n_boot=500, seed=1
    )
    assert (again.ci_low, again.ci_high) == (res.ci_low, res.ci_high)


def test_undefined_alpha_has_a_note():
    constant = krippendorff_alpha(np.full((3, 5), 2.0), "ordinal")
    assert math.isnan(constant.alpha) and "same value" in constant.note
    single = krippendorff_alpha(np.array([[1.0, 2.0, N], [N, N, 3.0]]), "nominal")
    assert math.isnan(single.alpha) and "two or more" in single.note
