"""One module per protocol, each declaring ``PROTOCOL`` (see :mod:`analysis.registry`).

A pipeline is ``run(prepared_table, options) -> ProtocolOutput``; the registry finds the modules
of this package (those not starting with ``_``, and not ``factors`` or ``shared``, which are
helpers) on first use.
"""

from __future__ import annotations

from analysis.protocols._common import Options, ProtocolOutput

__all__ = ["Options", "ProtocolOutput"]
