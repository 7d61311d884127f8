"""Power and sample size: the reference values and the simulation planner."""

from __future__ import annotations

import pytest

from analysis import power


def test_two_independent_groups():
    assert power.sample_size_two_sample_t(0.5).n_per_group == pytest.approx(63.7656, abs=1e-3)


def test_paired():
    assert power.sample_size_paired_t(0.5).n_per_group == pytest.approx(33.3671, abs=1e-3)


def test_two_proportions_uses_cohens_h():
    res = power.sample_size_two_proportions(0.65, 0.5)
    assert res.n_per_group == pytest.approx(169.088, abs=1e-3)
    assert res.effect_size == pytest.approx(0.3046927, abs=1e-6)


def test_anova_total_not_per_group():
    res = power.sample_size_anova(0.25, 4)
    assert res.n_total == pytest.approx(178.397, abs=1e-3)
    assert res.n_per_group == pytest.approx(178.397 / 4, abs=1e-3)


def test_power_is_the_inverse_of_sample_size():
    assert power.power_two_sample_t(0.5, 63.7656).power == pytest.approx(0.8, abs=1e-5)
    assert power.power_paired_t(0.5, 33.3671).power == pytest.approx(0.8, abs=1e-5)
    assert power.power_two_proportions(0.65, 0.5, 169.088).power == pytest.approx(0.8, abs=1e-5)
    assert power.power_anova(0.25, 4, 178.397).power == pytest.approx(0.8, abs=1e-5)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        power.sample_size_two_sample_t(0.5, alpha=1.5)
    with pytest.raises(ValueError, match="2 groups"):
        power.sample_size_anova(0.25, 1)


def test_simulated_glmm_power_small_and_large_effect():
    strong = power.simulate_glmm_power(
        n_participants=40, n_items=10, effect=1.5, sd_participant=0.3, sd_item=0.3, n_sims=6, seed=1
    )
    null = power.simulate_glmm_power(
        n_participants=40, n_items=10, effect=0.0, sd_participant=0.3, sd_item=0.3, n_sims=6, seed=1
    )
    assert strong.n_sims == 6 and strong.n_failed == 0
    assert strong.power >= 0.8 > null.power
    assert strong.ci_low <= strong.power <= strong.ci_high


def test_simulated_clmm_power_and_search():
    def at(n):
        return power.simulate_clmm_power(n_participants=n, n_items=8, effect=1.2, n_sims=4, seed=2)

    n, tried = power.participants_for_power(at, target=0.75, candidates=(10, 40))
    assert tried[0].n_participants == 10
    assert n in (10, 40)
    assert all(0 <= t.power <= 1 for t in tried)
