"""Resolved method parameters and their hash: the identity of a computed map or score.

A method's options split in two: those that change the map (hashed, stored with it: see
:func:`parameters_for`) and those that change only speed or memory, such as ``batch_size``
(``affects_result=False`` in the method's spec: see :func:`runtime_options`). The second kind is
passed to ``explainers.core.explain`` but never hashed, so a smaller batch finds the same maps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_hash(parameters: Mapping[str, Any]) -> str:
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parameters_for(method: str, options: Mapping[str, Any], seed: int = 0) -> dict[str, Any]:
    """Every option of ``method`` with defaults filled in, plus the seed (raises JobError)."""
    from explainers import core
    from explainers.services.errors import JobError

    try:
        resolved = dict(core.resolve_parameters(method, **dict(options)))
    except (ValueError, TypeError, KeyError) as error:
        raise JobError(f"options for {method}: {error}") from None
    resolved.setdefault("seed", seed)
    return resolved


def runtime_options(method: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of ``method`` given in ``options`` that change speed or memory only.

    Validated with the method's spec (raises JobError on a bad value), defaults not filled in.
    """
    from explainers import core
    from explainers.services.errors import JobError

    try:
        spec = core.METHODS[method]
        resolved = spec.resolve(dict(options))
    except (ValueError, TypeError, KeyError) as error:
        raise JobError(f"options for {method}: {error}") from None
    return {
        key: resolved[key]
        for key in options
        if key in spec.options and not spec.options[key].affects_result
    }


def metric_parameters(metric: str) -> dict[str, Any]:
    return {"metric": metric}
