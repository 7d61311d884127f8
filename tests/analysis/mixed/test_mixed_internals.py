"""The building blocks: family derivatives, the Schur-complement factorisation, the exact
gradient of the Laplace log-likelihood, and the purity of the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.mixed.crossed import CrossedDesign
from analysis.mixed.families import Binomial, CumulativeLogit
from analysis.mixed.laplace import LaplaceModel

RNG = np.random.default_rng(11)
N = 500
CODES = [RNG.integers(0, 30, N), RNG.integers(0, 12, N), RNG.integers(0, 4, N)]
LEVELS = [30, 12, 4]


def _numeric_derivative(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    return np.array([(f(x + e * h) - f(x - e * h)) / (2 * h) for e in np.eye(len(x))]).T


@pytest.mark.parametrize("family", ["binomial", "ordinal"])
def test_family_derivatives(family):
    eta = RNG.normal(size=40)
    if family == "binomial":
        fam = Binomial(RNG.integers(0, 4, 40).astype(float), np.full(40, 3.0))
        psi = np.zeros(0)
    else:
        fam = CumulativeLogit(RNG.integers(0, 5, 40), 5)
        psi = np.array([-1.2, -0.1, 0.7, 1.9])
    der = fam.full(eta, psi)
    h = 1e-5
    d0 = np.array([fam.loglik(eta + h * e, psi) - fam.loglik(eta - h * e, psi) for e in np.eye(40)])
    np.testing.assert_allclose(der.d1, d0 / (2 * h), rtol=1e-5, atol=1e-8)
    d1 = (fam.inner(eta + h, psi)[1] - fam.inner(eta - h, psi)[1]) / (2 * h)
    np.testing.assert_allclose(der.d2, d1, rtol=1e-5, atol=1e-8)
    d2 = (fam.inner(eta + h, psi)[2] - fam.inner(eta - h, psi)[2]) / (2 * h)
    np.testing.assert_allclose(der.d3, d2, rtol=1e-4, atol=1e-7)
    assert fam.loglik(eta, psi) == pytest.approx(der.loglik)
    if family == "ordinal":
        # ψ-derivatives of Σℓ, of ℓ′ and of ℓ″ summed against a random weight vector
        w = RNG.normal(size=40)
        for values, f in (
            (der.psi_l, lambda p: fam.loglik(eta, p)),
            (der.psi_d1, lambda p: float(w @ fam.inner(eta, p)[1])),
            (der.psi_d2, lambda p: float(w @ fam.inner(eta, p)[2])),
        ):
            weights = np.ones(40) if values is der.psi_l else w
            analytic = np.bincount(der.psi_col, weights[der.psi_row] * values, 4)
            np.testing.assert_allclose(analytic, _numeric_derivative(f, psi), rtol=1e-5, atol=1e-7)


def test_cumulative_logit_tails_are_accurate():
    fam = CumulativeLogit(np.array([4, 0, 2]), 5)
    psi = np.array([-1.0, 0.0, 1.0, 2.0])
    # far in the upper tail P(Y = 4) → 1, P(Y = 0) ≈ e^{-(η+1)}: no cancellation or log(0)
    ll = fam.loglik(np.array([40.0, 40.0, 40.0]), psi)
    assert np.isfinite(ll)
    assert ll == pytest.approx(-41.0 + np.log(np.exp(-39.0) - np.exp(-40.0)), rel=1e-9)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_schur_factorisation_matches_dense_algebra(k):
    design = CrossedDesign(CODES[:k], LEVELS[:k])
    w = RNG.uniform(0.05, 0.3, N)
    sigma = RNG.uniform(0.3, 1.5, k)
    fac = design.factorize(w, sigma)
    # dense H = ΛZ'WZΛ + I in the design's internal (largest-first) order
    z = np.zeros((N, design.q))
    for f in range(k):
        z[np.arange(N), design.offsets[f] + design.codes[f]] = 1.0
    internal_sigma = sigma[list(design.order)]
    lam = np.repeat(internal_sigma, design.n_levels)
    zl = z * lam
    h = zl.T @ (w[:, None] * zl) + np.eye(design.q)
    assert fac.logdet == pytest.approx(np.linalg.slogdet(h)[1], rel=1e-10)
    rhs = RNG.normal(size=(design.q, 3))
    np.testing.assert_allclose(fac.solve(rhs), np.linalg.solve(h, rhs), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(design.zt(w), z.T @ w)
    np.testing.assert_allclose(design.z(rhs), z @ rhs)
    hinv = np.linalg.inv(h)
    expected = (zl @ hinv) * z  # r_f(i) = Σ_g σ_g H⁻¹[l_f(i), l_g(i)]
    r_dense = np.column_stack(
        [expected[:, design.offsets[f] : design.offsets[f + 1]].sum(axis=1) for f in range(k)]
    )
    np.testing.assert_allclose(fac.cell_r(), r_dense, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("family", ["binomial", "ordinal"])
def test_gradient_of_laplace_loglik_is_exact(k, family):
    design = CrossedDesign(CODES[:k], LEVELS[:k])
    x = np.column_stack([np.ones(N), RNG.normal(size=N), RNG.integers(0, 2, N)])
    if family == "binomial":
        fam = Binomial(RNG.integers(0, 4, N).astype(float), np.full(N, 3.0))
        params = np.r_[0.1, 0.4, -0.3, np.linspace(0.5, 1.2, k)]
    else:
        x = x[:, 1:]
        fam = CumulativeLogit(RNG.integers(0, 5, N), 5)
        params = np.r_[-1.4, 0.1, 1.1, 2.4, 0.7, -0.4, np.linspace(0.5, 1.2, k)]
    model = LaplaceModel(fam, x, design)
    grad = model.evaluate(params).grad
    numeric = _numeric_derivative(model.loglik, params, h=1e-5)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_gradient_vanishes_in_sigma_at_zero():
    design = CrossedDesign(CODES[:2], LEVELS[:2])
    fam = Binomial(RNG.integers(0, 2, N).astype(float), np.ones(N))
    model = LaplaceModel(fam, np.ones((N, 1)), design)
    grad = model.evaluate(np.array([0.2, 0.0, 0.7])).grad
    assert grad[1] == 0.0


def test_too_many_levels_in_the_dense_block_raises():
    codes = [np.arange(7000), np.arange(7000)]  # the largest factor is eliminated, not the other
    with pytest.raises(ValueError, match="at most"):
        CrossedDesign(codes, [7000, 7000])


def test_mixed_package_imports_no_django():
    root = Path(__file__).resolve().parents[3]
    code = "import sys, analysis.mixed; print([m for m in sys.modules if m.startswith('django')])"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
