"""Maximisation of the Laplace log-likelihood and the covariance of the estimates.

1. L-BFGS-B on −ℓ_L/n with the exact gradient of :mod:`.laplace`, over (ψ, β, σ) with σ_f in
   [0, σ_max]; ordered thresholds are optimised as (θ₀, log(θ_k − θ_{k−1})) so that they stay
   ordered (the covariance is computed in the natural parameters).
2. Boundary: ℓ_L is even in each σ_f, so σ_f = 0 is always a stationary point; a σ_f stuck
   there although ℓ_L increases away from 0 is restarted from σ_f = 0.5. A σ_f that ends near 0
   is set to exactly 0 when that does not lower ℓ_L by more than 1e-6 (a singular fit, reported
   with a note). σ_f is bounded above by 50 (groups with constant outcomes; noted).
3. Hessian of ℓ_L in the natural parameters by forward differences of the exact gradient, a few
   Newton steps with it to polish the optimum, and the covariance −H⁻¹. Like lme4 (vcov with the
   finite-difference Hessian of glmer) and ordinal (clmm), the covariance of the fixed effects is
   the fixed-effect block of the inverse of the Hessian over all free parameters, variance
   parameters included; σ_f on the boundary are held fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize

from .laplace import LaplaceModel, ModeFailure

__all__ = ["Optimum", "maximize"]

SIGMA_MAX = 50.0
BOUNDARY_SIGMA = 0.05
ESCAPE_SIGMA = 0.5
#: forward differences of the gradient for the Hessian (central ones: twice the evaluations)
CENTRAL_DIFFERENCES = False
#: starting SD of each random intercept (lme4 starts at θ = 1 too)
START_SIGMA = 1.0


@dataclass
class Optimum:
    params: np.ndarray
    loglik: float
    cov: np.ndarray  # covariance of (ψ, β), NaN where unavailable
    converged: bool
    n_iter: int
    boundary: list[int] = field(default_factory=list)
    at_upper: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    u: np.ndarray = field(default_factory=lambda: np.zeros(0))


class _Transform:
    """Natural parameters ↔ optimiser parameters (ordered thresholds via log increments)."""

    def __init__(self, j: int, ordered: bool) -> None:
        self.j = j
        self.ordered = ordered and j > 1

    def to_x(self, nat: np.ndarray) -> np.ndarray:
        x = nat.copy()
        if self.ordered:
            x[1 : self.j] = np.log(np.diff(nat[: self.j]))
        return x

    def to_nat(self, x: np.ndarray) -> np.ndarray:
        nat = x.copy()
        if self.ordered:
            nat[: self.j] = x[0] + np.concatenate([[0.0], np.cumsum(np.exp(x[1 : self.j]))])
        return nat

    def grad_x(self, grad_nat: np.ndarray, x: np.ndarray) -> np.ndarray:
        g = grad_nat.copy()
        if self.ordered:
            tail = np.cumsum(grad_nat[: self.j][::-1])[::-1]  # Σ_{k ≥ i} ∂ℓ/∂θ_k
            g[0] = tail[0]
            g[1 : self.j] = np.exp(x[1 : self.j]) * tail[1:]
        return g


def _valid(model: LaplaceModel, nat: np.ndarray) -> bool:
    psi, _, sigma = model.split(nat)
    return bool(np.all(sigma >= 0) and np.all(np.diff(psi) > 0) and np.all(np.isfinite(nat)))


def _hessian(
    model: LaplaceModel, nat: np.ndarray, grad: np.ndarray, free: np.ndarray, central: bool
) -> np.ndarray:
    """Finite differences of the exact gradient, restricted to the free parameters.

    Forward differences (one gradient per parameter, step 1e-6 relative) are accurate to about
    1e-6 here because the gradient is exact up to the conditional-mode tolerance; central
    differences (two per parameter, step 1e-4) are the safer, twice as costly option.
    """
    u_saved = model.u.copy()
    j, p = model.j, model.p
    rel = 1e-4 if central else 1e-6
    cols = []
    for t in free:
        h = rel * max(1.0, abs(nat[t]))
        if t >= j + p:
            h = min(h, 0.5 * nat[t])
        if t < j and j > 1:
            gaps = np.diff(nat[:j])
            near = gaps[max(t - 1, 0) : t + 1]
            h = min(h, 0.25 * float(np.min(near)))
        up = nat.copy()
        up[t] += h
        g_up = model.evaluate(up).grad
        if central:
            down = nat.copy()
            down[t] -= h
            g_down = model.evaluate(down).grad
            cols.append((g_up - g_down)[free] / (2.0 * h))
        else:
            cols.append((g_up - grad)[free] / h)
    model.reset(u_saved)
    hess = np.column_stack(cols) if cols else np.zeros((0, 0))
    return 0.5 * (hess + hess.T)


def _escapes_zero(model: LaplaceModel, nat: np.ndarray, t: int, loglik: float) -> bool:
    """σ at index t is (nearly) 0 but ℓ_L is higher at σ = ESCAPE_SIGMA / 5."""
    if nat[t] > 1e-3:
        return False
    trial = nat.copy()
    trial[t] = ESCAPE_SIGMA / 5.0
    try:
        better = model.loglik(trial) > loglik + 1e-8 * max(1.0, abs(loglik))
    except ModeFailure:
        better = False
    model.loglik(nat)
    return bool(better)


def maximize(
    model: LaplaceModel,
    start: np.ndarray,
    *,
    ordered_psi: bool,
    max_iter: int = 500,
    tol: float = 1e-8,
    finish: bool = True,
) -> Optimum:
    """Maximise ℓ_L from ``start`` (natural parameters (ψ, β, σ)).

    ``tol`` is L-BFGS-B's tolerance on the projected gradient of −ℓ_L/n; Newton steps with the
    finite-difference Hessian then polish the optimum. ``converged`` means a positive definite
    −Hessian and a final Newton decrement g'(−H)⁻¹g below 1e-6.

    ``finish=False`` stops after L-BFGS-B (for starting values): no boundary handling, Hessian,
    polishing or covariance.
    """
    j, p, k = model.j, model.p, model.k
    tr = _Transform(j, ordered_psi)
    scale = 1.0 / model.n
    notes: list[str] = []
    state: dict[str, float] = {"best": np.inf}

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        nat = tr.to_nat(x)
        try:
            ev = model.evaluate(nat)
        except ModeFailure:
            model.reset()
            return float(state["best"]) + 1e6, np.zeros_like(x)
        f = -ev.loglik * scale
        if not np.isfinite(f):
            return float(state["best"]) + 1e6, np.zeros_like(x)
        state["best"] = min(state["best"], f)
        return f, -tr.grad_x(ev.grad, x) * scale

    bounds = [(None, None)] * (j + p) + [(0.0, SIGMA_MAX)] * k
    x_start = tr.to_x(np.asarray(start, dtype=float))
    n_iter = 0
    for _ in range(k + 1):
        res = optimize.minimize(
            fun,
            x_start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter, "maxfun": 3 * max_iter, "ftol": 1e-15, "gtol": tol},
        )
        n_iter += int(res.nit)
        nat = tr.to_nat(res.x)
        loglik = model.loglik(nat)
        # ℓ_L is even in σ_f, so σ_f = 0 is always stationary: restart from σ_f > 0 when a σ_f
        # stuck at 0 is a minimum rather than a maximum there
        stuck = [f for f in range(k) if _escapes_zero(model, nat, j + p + f, loglik)]
        if not finish or not stuck:
            break
        x_start = res.x.copy()
        x_start[[j + p + f for f in stuck]] = ESCAPE_SIGMA
    if not finish:
        npar = j + p
        return Optimum(nat, float(loglik), np.full((npar, npar), np.nan), bool(res.success), n_iter)

    boundary: list[int] = []
    for f in range(k):
        t = j + p + f
        if nat[t] < BOUNDARY_SIGMA:
            trial = nat.copy()
            trial[t] = 0.0
            ll0 = model.loglik(trial)
            if ll0 >= loglik - 1e-6:
                nat, loglik = trial, ll0
                boundary.append(f)
            else:
                model.loglik(nat)
    at_upper = [f for f in range(k) if nat[j + p + f] > 0.99 * SIGMA_MAX]

    free = np.array(
        [t for t in range(j + p + k) if t < j + p or (t - j - p) not in boundary], dtype=np.intp
    )
    ev = model.evaluate(nat)
    hess = _hessian(model, nat, ev.grad, free, CENTRAL_DIFFERENCES)
    neg = -hess
    eig = np.linalg.eigvalsh(neg) if len(free) else np.ones(1)
    pd_ok = bool(np.all(np.isfinite(eig)) and eig.min() > 1e-10 * max(1.0, float(eig.max())))

    decrement = np.inf
    if pd_ok:
        chol = linalg.cho_factor(neg)
        for _ in range(8):
            g = ev.grad[free]
            step = linalg.cho_solve(chol, g)
            decrement = float(g @ step)
            if decrement < 1e-14:
                break
            trial = nat.copy()
            trial[free] += step
            if not _valid(model, trial):
                break
            ev_new = model.evaluate(trial)
            if not ev_new.loglik >= ev.loglik - 1e-10:
                model.evaluate(nat)
                break
            nat, ev = trial, ev_new
            n_iter += 1
        decrement = float(ev.grad[free] @ linalg.cho_solve(chol, ev.grad[free]))
    loglik = ev.loglik

    npar = j + p
    cov = np.full((npar, npar), np.nan)
    if pd_ok:
        inv = linalg.cho_solve(linalg.cho_factor(neg), np.eye(len(free)))
        cov = inv[:npar, :npar]
        cov = 0.5 * (cov + cov.T)
    else:
        notes.append(
            "standard errors unavailable: the Hessian of the log-likelihood is not negative "
            "definite at the estimate (separation, too little data, or a non-identified "
            "parameter)"
        )
    converged = bool(pd_ok and decrement < 1e-6)
    if not converged and pd_ok:
        notes.append(
            f"the optimiser did not converge (L-BFGS-B: {res.message}; Newton decrement "
            f"{decrement:.2g})"
        )
    return Optimum(
        params=nat,
        loglik=float(loglik),
        cov=cov,
        converged=converged,
        n_iter=n_iter,
        boundary=boundary,
        at_upper=at_upper,
        notes=notes,
        u=ev.u.copy(),
    )
