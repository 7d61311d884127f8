"""Statistics for human-subject evaluations of saliency maps (pure Python, no Django).

A tidy table in (one row per participant × trial), a results table out, shaped like R's
broom/effectsize output, plus plots and a self-contained HTML report::

    import analysis

    result = analysis.analyze("likert", table, metrics=None, seed=0)
    result.results            # DataFrame, columns analysis.RESULT_COLUMNS
    result.plots              # {"likert_ratings": b"\\x89PNG…", …}
    html = result.report_html()

    analysis.validate_table("preference", table)   # raises analysis.TableError on a bad table

The command line does the same: ``python -m analysis PROTOCOL TIDY.csv --out DIR``.
What is computed, and the stable ``analysis``/``term`` names, are in analysis/README.md; the
specification is STATISTICS.md. Power and sample size: :mod:`analysis.power`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.human_vs_metric import MetricsInput, normalize_metrics
from analysis.registry import (
    AnalysisProtocol,
    Column,
    analysis_protocols,
    get_analysis_protocol,
    protocol_ids,
    register,
)
from analysis.results import RESULT_COLUMNS, ResultBuilder, Row
from analysis.table import BASE_COLUMNS, PreparedTable, TableError, validate_table

__version__ = "1.0.0"

__all__ = [
    "BASE_COLUMNS",
    "RESULT_COLUMNS",
    "AnalysisProtocol",
    "AnalysisResult",
    "Column",
    "PreparedTable",
    "TableError",
    "__version__",
    "analysis_protocols",
    "analyze",
    "get_analysis_protocol",
    "protocol_ids",
    "read_table",
    "register",
    "software_versions",
    "source_digest",
    "source_hash",
    "validate_table",
]


def __getattr__(name: str) -> object:
    """``PROTOCOLS`` (the registered ids) and ``PROTOCOL_COLUMNS``, read when asked for."""
    if name in ("PROTOCOLS", "PROTOCOL_COLUMNS"):
        from analysis import table

        return getattr(table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def source_digest(root: str | os.PathLike[str]) -> str:
    """SHA-256 of a package's source: every ``*.py`` file under ``root``, by relative path.

    Any edit, addition, removal or rename of a source file gives another digest; compiled files
    (``__pycache__``) and other files are ignored.
    """
    base = Path(root)
    digest = hashlib.sha256()
    for path in sorted(base.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        name = path.relative_to(base).as_posix().encode()
        data = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(name), name, len(data)))
        digest.update(data)
    return digest.hexdigest()


@functools.cache
def source_hash() -> str:
    """:func:`source_digest` of this package, computed once per process.

    Results cached by the platform are stamped with it (next to :data:`__version__`, which is
    not bumped for every fix), so a change of the statistical code invalidates them.
    """
    return source_digest(Path(__file__).resolve().parent)


def software_versions() -> dict[str, str]:
    """Versions of the software that computed the results (for the report and the paper)."""
    import matplotlib
    import numpy
    import scipy
    import statsmodels

    return {
        "analysis": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "pandas": pd.__version__,
        "matplotlib": matplotlib.__version__,
    }


@dataclass
class AnalysisResult:
    """What :func:`analyze` returns.

    Attributes:
        protocol: the protocol analysed.
        results: the results table, columns :data:`RESULT_COLUMNS` in that order.
        plots: figure name → PNG bytes.
        notes: table-level notes (exclusions, missing responses, inconsistencies).
        n_participants, n_items, n_responses: what was analysed after exclusions.
        seed: the seed of every bootstrap.
        versions: software versions.
    """

    protocol: str
    results: pd.DataFrame
    plots: dict[str, bytes]
    notes: list[str]
    n_participants: int
    n_items: int
    n_responses: int
    seed: int
    versions: dict[str, str] = field(default_factory=software_versions)

    def report_html(
        self,
        *,
        title: str | None = None,
        sections: Sequence[tuple[str, Sequence[str]]] = (),
    ) -> str:
        """A self-contained HTML report: the table, notes, ``sections`` (more headed lists),
        embedded plots and versions."""
        from analysis.report import render_report

        return render_report(self, title=title, sections=sections)

    def write(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write ``results.csv`` (``NA`` for missing), ``report.html`` and one PNG per plot."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "results.csv", out / "report.html"]
        self.results.to_csv(written[0], index=False, na_rep="NA", float_format="%.10g")
        written[1].write_text(self.report_html(), encoding="utf-8")
        for name, png in sorted(self.plots.items()):
            path = out / f"{name}.png"
            path.write_bytes(png)
            written.append(path)
        return written


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a tidy CSV as exported by the platform (UTF-8, ``NA`` for missing values)."""
    try:
        return pd.read_csv(path, na_values=["NA"], keep_default_na=True)
    except FileNotFoundError:
        raise TableError(f"no such file: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TableError(f"cannot read {path} as CSV: {exc}") from None


def analyze(
    protocol: str,
    table: pd.DataFrame | str | os.PathLike[str],
    *,
    metrics: MetricsInput | None = None,
    seed: int = 0,
    reference: str | None = None,
    n_boot: int = 2000,
    plots: bool = True,
    strict: bool = False,
) -> AnalysisResult:
    """Analyse a study's tidy table with every analysis its protocol calls for.

    Args:
        protocol: a registered protocol's id (:func:`protocol_ids`; :mod:`analysis.registry`).
        table: the tidy long table (DataFrame, or a path to a CSV).
        metrics: faithfulness scores per method (long, wide or ``{metric: {method: value}}``;
            see :mod:`analysis.human_vs_metric`) for the ``human_vs_metric`` rows.
        seed: seed of every bootstrap; the same inputs and seed give the same table.
        reference: reference method for the method contrasts (default: first in sort order;
            for ``gt_prediction``, ``none`` — the no-explanation condition — when present).
        n_boot: bootstrap resamples for bootstrap CIs.
        plots: draw the figures (turn off for simulations and batch runs).
        strict: re-raise unexpected internal errors instead of turning them into notes (tests).

    Raises:
        TableError: the table cannot be analysed (the message names the column and problem).
    """
    from analysis.protocols import Options

    frame = read_table(table) if isinstance(table, str | os.PathLike) else table
    prepared = validate_table(protocol, frame)
    metric_table = normalize_metrics(metrics) if metrics is not None else None
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    options = Options(
        seed=seed,
        n_boot=n_boot,
        reference=reference,
        plots=plots,
        strict=strict,
        metrics=metric_table,
    )
    output = get_analysis_protocol(protocol).run(prepared, options)
    from analysis.protocols.factors import add_factor_rows

    add_factor_rows(output.builder, protocol, prepared.data, options)
    notes = [*prepared.notes, *output.notes]
    builder = ResultBuilder()
    from analysis.protocols._common import prepared_summary

    summary = prepared_summary(prepared)
    if notes:
        last = summary[2]
        summary[2] = Row(
            last.analysis, last.term, last.estimate, n=last.n, note="; ".join([last.note, *notes])
        )
    builder.extend(summary)
    builder.extend(output.builder.rows)
    return AnalysisResult(
        protocol=protocol,
        results=builder.frame(strict=strict),
        plots=output.plots,
        notes=notes,
        n_participants=prepared.n_participants,
        n_items=prepared.n_items,
        n_responses=len(prepared.data),
        seed=seed,
    )
