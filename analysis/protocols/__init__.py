"""One pipeline per protocol: ``run(prepared_table, options) -> ProtocolOutput``."""

from __future__ import annotations

from collections.abc import Callable

from analysis.protocols import gt_prediction, likert, preference, simulation
from analysis.protocols._common import Options, ProtocolOutput
from analysis.table import PreparedTable

__all__ = ["PIPELINES", "Options", "ProtocolOutput"]

PIPELINES: dict[str, Callable[[PreparedTable, Options], ProtocolOutput]] = {
    "likert": likert.run,
    "preference": preference.run,
    "simulation": simulation.run,
    "gt_prediction": gt_prediction.run,
}
