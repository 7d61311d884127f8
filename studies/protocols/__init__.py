"""Protocols as plug-ins: one module per protocol, discovered by :func:`protocols`."""

from studies.protocols.base import (
    Column,
    ConditionSpec,
    PlanContext,
    PlannedTrial,
    Protocol,
    ResponseError,
    StimulusItem,
    get_protocol,
    protocols,
    register,
)

__all__ = [
    "Column",
    "ConditionSpec",
    "PlanContext",
    "PlannedTrial",
    "Protocol",
    "ResponseError",
    "StimulusItem",
    "get_protocol",
    "protocols",
    "register",
]
