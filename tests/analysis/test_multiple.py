"""Holm and Benjamini–Hochberg against Benjamini & Hochberg (1995)'s example."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.multiple import adjust_p, bh, holm

P = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.000,
]


def test_holm_reference():
    adjusted = holm(P)
    assert adjusted[:4] == pytest.approx([0.0015, 0.0056, 0.0247, 0.1140], abs=1e-10)
    assert int(np.sum(adjusted < 0.05)) == 3


def test_bh_reference():
    adjusted = bh(P)
    assert adjusted[:5] == pytest.approx([0.0015, 0.0030, 0.0095, 0.035625, 0.0603], abs=1e-10)
    assert int(np.sum(adjusted < 0.05)) == 4


def test_agree_with_statsmodels_in_any_order():
    rng = np.random.default_rng(0)
    p = rng.permutation(np.array(P))
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    assert bh(p) == pytest.approx(multipletests(p, method="fdr_bh")[1])


def test_missing_p_values_are_left_out():
    out = holm([0.01, math.nan, 0.04])
    assert math.isnan(out[1])
    assert out[[0, 2]] == pytest.approx([0.02, 0.04])
    assert adjust_p([0.2], "none") == pytest.approx([0.2])
    with pytest.raises(ValueError, match="unknown adjustment"):
        adjust_p([0.1], "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([1.2])
