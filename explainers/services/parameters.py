"""Resolved method parameters and their hash: the identity of a computed map or score."""

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
    from explainers.services.precompute import JobError

    try:
        resolved = dict(core.resolve_parameters(method, **dict(options)))
    except (ValueError, TypeError, KeyError) as error:
        raise JobError(f"options for {method}: {error}") from None
    resolved.setdefault("seed", seed)
    return resolved


def metric_parameters(metric: str) -> dict[str, Any]:
    return {"metric": metric}
