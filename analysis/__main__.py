"""Command line: ``python -m analysis PROTOCOL TIDY.csv --out DIR``.

Writes ``results.csv``, ``report.html`` and the plots as PNG files into DIR. Exit status 0 on
success, 2 with a one-line ``error:`` message on stderr when the table (or the metrics table) is
unusable, an option is out of range, or DIR cannot be written (e.g. it is an existing file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis import TableError, analyze, protocol_ids, read_table


def _at_least_one(text: str) -> int:
    """``--n-boot``: an integer ≥ 1 (argparse names the option in its message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _out_problem(out: Path) -> str | None:
    """Why DIR cannot be the output directory, found before the (long) analysis."""
    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                return f"--out {out}: {path} exists and is not a directory"
            return None
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Analyse a study's tidy table: results.csv, report.html and plots.",
    )
    parser.add_argument("protocol", choices=protocol_ids(), help="the study's protocol")
    parser.add_argument("table", help="tidy CSV, one row per participant × trial (NA = missing)")
    parser.add_argument("--out", required=True, help="output directory (created if needed)")
    parser.add_argument(
        "--metrics",
        help="CSV of faithfulness scores: method, metric, value "
        "[, item_id] (or one column per metric)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--reference", help="reference method for contrasts")
    parser.add_argument(
        "--n-boot", type=_at_least_one, default=2000, help="bootstrap resamples (at least 1)"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = _out_problem(Path(args.out))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        table = read_table(args.table)
        metrics = read_table(args.metrics) if args.metrics else None
        result = analyze(
            args.protocol,
            table,
            metrics=metrics,
            seed=args.seed,
            reference=args.reference,
            n_boot=args.n_boot,
            plots=not args.no_plots,
        )
    except TableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        written = result.write(args.out)
    except OSError as exc:
        print(f"error: cannot write the results to {args.out}: {exc}", file=sys.stderr)
        return 2
    print(
        f"{len(result.results)} result rows for {result.n_participants} participants; wrote "
        + ", ".join(str(p) for p in written)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
