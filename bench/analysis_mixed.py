"""Fit times of the Laplace mixed models at the size of a full study (not a test).

    .venv/bin/python bench/analysis_mixed.py [--participants 1000] [--items 100] [--repeats 3]

Simulates the three mixed models of the protocols (STATISTICS.md) with crossed random intercepts
for participant and item and times each fit (median over --repeats, with min and max):

* glmm: correct ~ saliency * scores + (1|participant) + (1|item), 2×2 between subjects, ±0.5;
* clmm: rating (7 categories) ~ method (4 methods, within subject) + (1|participant) + (1|item);
* clmm: confidence (5 categories) ~ saliency * scores * correct + (1|participant) + (1|item).

Timings on a shared machine are noisy; the fits limit BLAS to one thread themselves.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.mixed import MixedModelResult, fit_clmm, fit_glmm_binomial  # noqa: E402
from analysis.mixed.simulate import (  # noqa: E402
    crossed_design,
    simulate_binomial,
    simulate_ordinal,
)


def _time(
    fit: Callable[[], MixedModelResult], repeats: int
) -> tuple[list[float], list[float], MixedModelResult]:
    """Wall-clock and process CPU seconds of each repeat, and the last result."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fit()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert result is not None
    return wall, cpu, result


def _report(
    name: str, timed: tuple[list[float], list[float], MixedModelResult], truth: np.ndarray
) -> float:
    wall, cpu, r = timed
    var = ", ".join(f"{k} {v:.3f}" for k, v in r.variances.items())
    err = np.max(np.abs(r.fixed - truth) / r.fixed_se)
    print(
        f"{name:<36} wall median {statistics.median(wall):6.2f} s (min {min(wall):.2f}, max "
        f"{max(wall):.2f}), CPU {statistics.median(cpu):6.2f} s; iterations "
        f"{r.n_iterations:3d}; converged {r.converged}; max |β̂−β|/SE {err:.2f}; variances: {var}"
    )
    return statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n_p, n_i = args.participants, args.items
    part, item = crossed_design(n_p, n_i)
    n = len(part)
    groups = {"participant": part, "item": item}
    print(f"{n_p} participants × {n_i} items = {n} responses, {args.repeats} repeats each")

    saliency = np.where(rng.permutation(n_p) % 2 == 0, 0.5, -0.5)[part]
    scores = np.where(rng.permutation(n_p) % 4 < 2, 0.5, -0.5)[part]
    x = np.column_stack([np.ones(n), saliency, scores, saliency * scores])
    beta = np.array([0.5, 0.4, -0.3, 0.2])
    correct = simulate_binomial(x, beta, groups, {"participant": 0.5, "item": 1.0}, rng)
    names = ("(Intercept)", "saliency", "scores", "saliency:scores")
    timed = _time(lambda: fit_glmm_binomial(correct, x, groups, fixed_names=names), args.repeats)
    total = _report("glmm correct ~ saliency*scores", timed, beta)

    method = rng.integers(0, 4, n)
    xm = np.column_stack([(method == k).astype(float) for k in (1, 2, 3)])
    beta_m = np.array([0.3, 0.6, -0.4])
    rating = simulate_ordinal(
        xm, [-2.0, -0.7, 0.3, 1.2, 2.5, 3.5], beta_m, groups, {"participant": 0.8, "item": 0.4}, rng
    )
    timed = _time(
        lambda: fit_clmm(rating, xm, groups, fixed_names=("m2", "m3", "m4"), n_categories=7),
        args.repeats,
    )
    total += _report("clmm rating ~ method", timed, beta_m)

    c = correct - 0.5
    xc = np.column_stack(
        [saliency, scores, c, saliency * scores, saliency * c, scores * c, saliency * scores * c]
    )
    beta_c = np.array([0.2, -0.1, 0.8, 0.1, 0.2, -0.2, 0.1])
    confidence = simulate_ordinal(
        xc, [-1.5, -0.4, 0.6, 1.7], beta_c, groups, {"participant": 0.7, "item": 0.3}, rng
    )
    cnames = ("s", "m", "c", "s:m", "s:c", "m:c", "s:m:c")
    timed = _time(
        lambda: fit_clmm(confidence, xc, groups, fixed_names=cnames, n_categories=5), args.repeats
    )
    total += _report("clmm confidence ~ sal*scores*correct", timed, beta_c)
    print(f"total of the wall-clock medians: {total:.2f} s")


if __name__ == "__main__":
    main()
