"""Benchmark: the full analysis of a 1,000 participants × 100 items study (100,000 responses).

Generates one synthetic study per protocol (analysis.synthetic), times ``analysis.analyze`` with
everything on — mixed models, bootstraps, plots — and prints the figures. The target (issue 8) is
under 60 s per protocol on the development machine (2 CPU cores).

    .venv/bin/python bench/analysis.py [--participants 1000] [--items 100] [--protocols ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

import analysis  # noqa: E402
from analysis import synthetic  # noqa: E402

TARGET_S = 60.0


def make(protocol: str, participants: int, items: int, seed: int) -> pd.DataFrame:
    if protocol == "simulation":
        return synthetic.simulation_study(n_participants=participants, n_items=items, seed=seed)
    if protocol == "likert":
        return synthetic.likert_study(
            n_participants=participants,
            n_items=items,
            seed=seed,
            method_effects={"gradcam": 0.0, "rise": 0.4, "smoothgrad": -0.2, "lime": 0.1},
        )
    if protocol == "preference":
        return synthetic.preference_study(
            n_participants=participants,
            n_items=items,
            seed=seed,
            strengths={"gradcam": 0.0, "rise": 0.4, "smoothgrad": -0.2, "lime": 0.1},
        )
    if protocol == "gt_prediction":
        return synthetic.gt_prediction_study(n_participants=participants, n_items=items, seed=seed)
    raise SystemExit(f"unknown protocol {protocol}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument(
        "--protocols", nargs="+", default=["simulation", "likert", "preference", "gt_prediction"]
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    metrics = {"dauc": {"gradcam": 0.03, "rise": 0.02, "smoothgrad": 0.04, "lime": 0.05}}
    print(
        f"analysis {analysis.__version__}: {args.participants} participants × {args.items} "
        f"items = {args.participants * args.items:,} responses per protocol"
    )
    worst = 0.0
    for protocol in args.protocols:
        table = make(protocol, args.participants, args.items, args.seed)
        start = time.perf_counter()
        result = analysis.analyze(protocol, table, metrics=metrics, seed=0)
        elapsed = time.perf_counter() - start
        worst = max(worst, elapsed)
        failed = result.results["estimate"].isna() & result.results["analysis"].str.contains(
            "glmm|clmm"
        )
        status = "ok" if elapsed < TARGET_S else "SLOW"
        print(
            f"  {protocol:14s} {len(table):>8,} rows  {elapsed:6.1f} s  "
            f"{len(result.results):3d} result rows, {len(result.plots)} plots, "
            f"{int(failed.sum())} model rows not estimated  [{status}]"
        )
    print(f"slowest: {worst:.1f} s (target < {TARGET_S:.0f} s)")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
