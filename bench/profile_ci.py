"""Benchmark: coverage of Wald and profile-likelihood intervals of a logistic mixed model.

Simulates ``--studies`` ground-truth-prediction studies (analysis.synthetic.gt_prediction_study:
explanation shown to odd participants, true log odds ratio ``--effect``, random intercepts for
participant and item), fits ``correct ~ explanation + (1|participant) + (1|item)`` by Laplace
maximum likelihood and counts how often each 95 % interval of the explanation effect covers the
true value. The count's own uncertainty is a Wilson interval. This is the evidence behind
``PROFILE_BELOW_PARTICIPANTS`` in analysis/protocols/_common.py (issue 21): with few
participants the Wald interval (estimate ± 1.96 SE) covers less than its nominal 95 %.

    .venv/bin/python bench/profile_ci.py [--studies 200] [--participants 24 48 96] [--items 10]

Each study takes about 0.5–2 s on one core (the profile refits the model along the effect);
200 studies × 3 sample sizes take some minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from analysis import synthetic  # noqa: E402
from analysis.effect_sizes import wilson_interval  # noqa: E402
from analysis.mixed import fit_glmm_binomial  # noqa: E402
from analysis.mixed.laplace import ModeFailure  # noqa: E402
from analysis.mixed.profile import profile_intervals_binomial  # noqa: E402

NAMES = ("(Intercept)", "explanation")


def one_study(
    participants: int, items: int, effect: float, seed: int
) -> tuple[float, tuple[float, float], tuple[float, float] | None]:
    """The estimate of one simulated study, its Wald interval and its profile interval (None:
    the profile could not be computed)."""
    data = synthetic.gt_prediction_study(
        n_participants=participants, n_items=items, explanation=effect, seed=seed
    )
    y = data["correct"].to_numpy(dtype=float)
    e = data["explanation_shown"].to_numpy(dtype=float) - 0.5
    x = np.column_stack([np.ones_like(e), e])
    groups = {
        "participant": data["participant_id"].to_numpy(),
        "item": data["item_id"].to_numpy(),
    }
    fit = fit_glmm_binomial(y, x, groups, fixed_names=NAMES)
    low, high = fit.conf_int()[1]
    estimate = float(fit.fixed[1])
    try:
        profile = profile_intervals_binomial(y, x, groups, fixed_names=NAMES, fit=fit)
    except (ValueError, ModeFailure):
        return estimate, (float(low), float(high)), None
    return estimate, (float(low), float(high)), (float(profile[1, 0]), float(profile[1, 1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--participants", type=int, nargs="+", default=[24, 48, 96])
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--effect", type=float, default=0.5, help="true log odds ratio")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(
        f"{args.studies} studies per size, {args.items} items, true log OR {args.effect}; "
        "coverage of the 95 % intervals of the explanation effect (Wilson 95 % CI of the share), "
        "bias of the estimate (mean − truth), median widths"
    )
    print(
        f"{'participants':>12} {'Wald':>22} {'profile':>22} {'failed':>6} {'bias':>7} "
        f"{'width W':>8} {'width P':>8} {'s/study':>8}"
    )
    for n in args.participants:
        start = time.perf_counter()
        wald, profile, failed = 0, 0, 0
        estimates: list[float] = []
        widths: tuple[list[float], list[float]] = ([], [])
        for i in range(args.studies):
            est, w, p = one_study(n, args.items, args.effect, args.seed + 1000 * n + i)
            estimates.append(est)
            wald += w[0] <= args.effect <= w[1]
            widths[0].append(w[1] - w[0])
            if p is None:
                failed += 1
            else:
                profile += p[0] <= args.effect <= p[1]
                widths[1].append(p[1] - p[0])
        per = (time.perf_counter() - start) / args.studies
        done = args.studies - failed

        def share(k: int, m: int) -> str:
            if m == 0:
                return "—"
            lo, hi = wilson_interval(k, m)
            return f"{k / m:6.1%} [{lo:.1%}, {hi:.1%}]"

        bias = float(np.mean(estimates)) - args.effect
        w_wald = float(np.median(widths[0]))
        w_prof = float(np.median(widths[1])) if widths[1] else float("nan")
        print(
            f"{n:>12} {share(wald, args.studies):>22} {share(profile, done):>22} "
            f"{failed:>6} {bias:>+7.3f} {w_wald:>8.3f} {w_prof:>8.3f} {per:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
