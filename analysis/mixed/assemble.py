"""Turn an :class:`~.optimize.Optimum` into a :class:`~.result.MixedModelResult` with notes."""

from __future__ import annotations

import numpy as np

from .crossed import CrossedDesign
from .design import Groups
from .optimize import SIGMA_MAX, Optimum
from .result import MixedModelResult

__all__ = ["build_result", "large_estimate_notes"]

#: |estimate| on the log-odds scale beyond which separation is suspected
LARGE_LOGODDS = 10.0


def large_estimate_notes(names: tuple[str, ...], est: np.ndarray, se: np.ndarray) -> list[str]:
    notes = []
    for name, b, s in zip(names, est, se, strict=True):
        if abs(b) > LARGE_LOGODDS or (np.isfinite(s) and s > LARGE_LOGODDS):
            notes.append(
                f"possible (quasi-)complete separation: the estimate for {name!r} is {b:.3g} "
                f"(SE {s:.3g}) on the log-odds scale; it and its CI are not trustworthy"
            )
    return notes


def build_result(
    *,
    family: str,
    opt: Optimum,
    n_psi: int,
    fixed_names: tuple[str, ...],
    threshold_names: tuple[str, ...],
    groups: Groups,
    design: CrossedDesign | None,
    n_obs: int,
    loglik_constant: float,
    notes: list[str],
) -> MixedModelResult:
    j, p = n_psi, len(fixed_names)
    params = opt.params
    psi, beta, sigma_internal = params[:j], params[j : j + p], params[j + p :]
    se = np.sqrt(np.diag(opt.cov)) if opt.cov.size else np.zeros(0)
    all_notes = list(notes) + list(opt.notes)

    variances: dict[str, float] = {}
    random_effects: dict[str, np.ndarray] = {}
    if design is not None:
        sigma_user = np.empty(design.k)
        sigma_user[list(design.order)] = sigma_internal
        u_blocks = {
            design.order[f]: opt.u[design.offsets[f] : design.offsets[f + 1]]
            for f in range(design.k)
        }
        boundary_user = {design.order[f] for f in opt.boundary}
        upper_user = {design.order[f] for f in opt.at_upper}
        for i, name in enumerate(groups.names):
            variances[name] = 0.0 if i in boundary_user else float(sigma_user[i] ** 2)
            random_effects[name] = sigma_user[i] * u_blocks[i]
            if i in boundary_user:
                all_notes.append(
                    f"boundary (singular) fit: the random-intercept variance of {name!r} is "
                    "estimated as 0"
                )
            if i in upper_user:
                all_notes.append(
                    f"the random-intercept SD of {name!r} reached its upper limit {SIGMA_MAX:g} "
                    "(the outcome is (nearly) constant within its groups); estimates are unreliable"
                )
    fixed_se = se[j : j + p]
    all_notes += large_estimate_notes(fixed_names, beta, fixed_se)
    if not np.all(np.isfinite(se)):
        all_notes.append("some standard errors are not finite; their CIs and p-values are NaN")
    return MixedModelResult(
        family=family,
        fixed_names=fixed_names,
        fixed=np.asarray(beta, dtype=float).copy(),
        fixed_se=np.asarray(fixed_se, dtype=float).copy(),
        threshold_names=threshold_names,
        thresholds=np.asarray(psi, dtype=float).copy(),
        threshold_se=np.asarray(se[:j], dtype=float).copy(),
        variances=variances,
        loglik=float(opt.loglik + loglik_constant),
        n_obs=int(n_obs),
        n_groups={name: len(lv) for name, lv in zip(groups.names, groups.levels, strict=True)},
        converged=bool(opt.converged),
        notes=tuple(dict.fromkeys(all_notes)),
        vcov=np.asarray(opt.cov, dtype=float).copy(),
        random_effects=random_effects,
        group_levels=dict(zip(groups.names, groups.levels, strict=True)),
        n_iterations=int(opt.n_iter),
    )
