"""Laplace-approximated log-likelihood of a GLMM with crossed random intercepts, with its gradient.

Model (Bates, Mächler, Bolker & Walker 2015, lme4; Christensen 2019, ordinal):

    η = Xβ + ZΛu,   u ~ N(0, I_q),   Λ = diag(σ_f repeated over the levels of factor f),
    y_i | u ~ p(y_i | η_i; ψ)  (binomial logit, or cumulative logit with thresholds ψ).

The marginal likelihood ∫ p(y | u) φ(u) du is replaced by its Laplace approximation at the
conditional mode û = argmax_u {Σ_i ℓ_i(η_i) − ½‖u‖²}:

    ℓ_L(ψ, β, σ) = Σ_i ℓ_i(η̂_i) − ½‖û‖² − ½ log|H(û)|,   H = ΛZ'WZΛ + I,  W = diag(−ℓ_i″),

which is lme4's glmer objective with nAGQ = 1 and ordinal's clmm objective (Laplace). û is found
by penalised Newton iterations (PIRLS for the canonical logit link), warm-started from the last
evaluation. The gradient is exact: with the envelope theorem for the first two terms and

    ∂ log|H| / ∂t = tr(H⁻¹ ∂H/∂t),   dû/dt = H⁻¹ ∂g/∂t,   g = ΛZ'ℓ′ − u,

where ∂H/∂t involves ℓ‴ times the total derivative of η̂ (which moves with û), the traces reduce
to sums over observations of the entries of H⁻¹ at the observed cells (see :mod:`.crossed`).
Parameters are the natural ones, ordered (ψ, β, σ) with σ ≥ 0 the random-intercept standard
deviations; ℓ_L is even in each σ_f, so σ_f = 0 is a regular boundary point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .crossed import CrossedDesign
from .families import Family

__all__ = ["LaplaceModel", "ModeFailure"]


class ModeFailure(RuntimeError):
    """The penalised Newton iteration for the conditional modes did not converge."""


@dataclass
class Evaluation:
    loglik: float
    grad: np.ndarray
    u: np.ndarray


class LaplaceModel:
    """ℓ_L and ∇ℓ_L for one data set; ``design`` None gives the model without random effects."""

    def __init__(
        self,
        family: Family,
        X: np.ndarray,
        design: CrossedDesign | None,
        *,
        inner_tol: float = 1e-6,
        max_inner: int = 100,
    ) -> None:
        self.family = family
        self.X = np.asarray(X, dtype=float)
        self.design = design
        self.n, self.p = self.X.shape
        self.j = family.n_psi
        self.k = 0 if design is None else design.k
        self.n_params = self.j + self.p + self.k
        self.inner_tol = inner_tol
        self.max_inner = max_inner
        self.u = np.zeros(0 if design is None else design.q)
        self.inner_iterations = 0
        # first-order prediction of the next mode: û(φ) ≈ û(φ₀) + (dû/dφ)(φ − φ₀)
        self._anchor: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def reset(self, u: np.ndarray | None = None) -> None:
        """Forget the warm start (optionally set it to ``u``)."""
        self.u = np.zeros_like(self.u) if u is None else u.copy()
        self._anchor = None

    def _start(self, params: np.ndarray) -> np.ndarray:
        if self._anchor is not None:
            p0, u0, du = self._anchor
            if np.all(np.isfinite(params)) and float(np.max(np.abs(params - p0))) < 0.5:
                guess = u0 + du @ (params - p0)
                if np.all(np.isfinite(guess)):
                    return np.asarray(guess)
        return self.u.copy()

    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        j, p = self.j, self.p
        return params[:j], params[j : j + p], params[j + p :]

    # -- conditional modes -------------------------------------------------------------------
    def mode(self, psi: np.ndarray, beta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """û for the given parameters, by Newton with step halving from a warm start.

        Iterates until a full Newton step is below ``inner_tol`` (max-norm); that last step is
        taken without a further evaluation, as Newton's quadratic convergence leaves an error of
        the order of its square (≈ 1e-12).
        """
        design = self.design
        assert design is not None
        fam = self.family
        offset = self.X @ beta
        lam = design.sigma_q(sigma)
        u = self._start(np.concatenate([psi, beta, sigma]))
        if not np.all(np.isfinite(u)):
            u = np.zeros(design.q)
        eta = offset + design.z(lam * u)
        ll, d1, d2 = fam.inner(eta, psi)
        obj = ll - 0.5 * float(u @ u)
        for _ in range(self.max_inner):
            self.inner_iterations += 1
            grad = lam * design.zt(d1) - u
            step = design.factorize(-d2, sigma).solve(grad)
            decrement = float(grad @ step)
            if not np.isfinite(decrement):
                raise ModeFailure("non-finite Newton step in the conditional-mode iteration")
            if float(np.max(np.abs(step), initial=0.0)) < self.inner_tol or decrement < 1e-20:
                self.u = u + step
                return self.u
            t = 1.0
            while True:
                u_new = u + t * step
                eta_new = offset + design.z(lam * u_new)
                ll_new, d1_new, d2_new = fam.inner(eta_new, psi)
                obj_new = ll_new - 0.5 * float(u_new @ u_new)
                if np.isfinite(obj_new) and obj_new >= obj - 1e-12 * abs(obj):
                    break
                t *= 0.5
                if t < 1e-10:
                    raise ModeFailure("step halving failed in the conditional-mode iteration")
            u, ll, d1, d2, obj = u_new, ll_new, d1_new, d2_new, obj_new
        raise ModeFailure(
            f"the conditional modes did not converge in {self.max_inner} Newton iterations"
        )

    # -- objective and gradient --------------------------------------------------------------
    def evaluate(self, params: np.ndarray) -> Evaluation:
        """ℓ_L and its exact gradient with respect to (ψ, β, σ)."""
        psi, beta, sigma = self.split(np.asarray(params, dtype=float))
        fam, X, design = self.family, self.X, self.design
        if design is None:
            eta = X @ beta
            der = fam.full(eta, psi)
            grad = np.concatenate([np.bincount(der.psi_col, der.psi_l, self.j), der.d1 @ X])
            return Evaluation(der.loglik, grad, self.u)
        u = self.mode(psi, beta, sigma)
        lam = design.sigma_q(sigma)
        eta = X @ beta + design.z(lam * u)
        der = fam.full(eta, psi)
        w = np.maximum(-der.d2, 0.0)
        fac = design.factorize(w, sigma)
        loglik = der.loglik - 0.5 * float(u @ u) - 0.5 * fac.logdet

        j, p, k = self.j, self.p, self.k
        n_par = j + p + k
        ucell = design.cell_values(u)
        r = fac.cell_r()
        h = r @ sigma
        # ∂η/∂t at fixed u: 0 for thresholds, X for β, u at the level for σ_f
        deta_fixed_u = np.zeros((self.n, n_par))
        deta_fixed_u[:, j : j + p] = X
        deta_fixed_u[:, j + p :] = ucell
        # ∂g/∂t, g = ΛZ'ℓ′ − u: ΛZ'(ℓ″ ∂η/∂t + ∂ℓ′/∂ψ) plus, for σ_f, the f-block of Z'ℓ′
        q_mat = der.d2[:, None] * deta_fixed_u
        q_mat.ravel()[der.psi_row * n_par + der.psi_col] += der.psi_d1
        rhs = lam[:, None] * design.zt(q_mat)
        ztd1 = design.zt(der.d1)
        for f in range(k):
            sl = slice(design.offsets[f], design.offsets[f + 1])
            rhs[sl, j + p + f] += ztd1[sl]
        du = fac.solve(rhs)
        deta = deta_fixed_u + design.z(lam[:, None] * du)
        # tr(H⁻¹ ∂H/∂t) = Σ_i h_i ∂W_i/∂t (+ 2 Σ_i W_i r_f(i) for σ_f), ∂W/∂t = −ℓ‴ dη/dt − ∂ℓ″/∂t
        trace = -((h * der.d3) @ deta)
        trace[:j] -= np.bincount(der.psi_col, h[der.psi_row] * der.psi_d2, j)
        trace[j + p :] += 2.0 * (w @ r)
        envelope = der.d1 @ deta_fixed_u
        envelope[:j] += np.bincount(der.psi_col, der.psi_l, j)
        self._anchor = (np.asarray(params, dtype=float).copy(), u.copy(), du)
        return Evaluation(loglik, envelope - 0.5 * trace, u)

    def loglik(self, params: np.ndarray) -> float:
        """ℓ_L alone (still solves for the modes)."""
        psi, beta, sigma = self.split(np.asarray(params, dtype=float))
        if self.design is None:
            return self.family.loglik(self.X @ beta, psi)
        design = self.design
        u = self.mode(psi, beta, sigma)
        eta = self.X @ beta + design.z(design.sigma_q(sigma) * u)
        ll, _, d2 = self.family.inner(eta, psi)
        fac = design.factorize(np.maximum(-d2, 0.0), sigma)
        return ll - 0.5 * float(u @ u) - 0.5 * fac.logdet
