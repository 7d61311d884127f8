"""Errors of the explainers' services, in a module of their own so that every layer (commands,
services, tasks, compute) can raise and catch them without importing one another."""

from __future__ import annotations


class JobError(ValueError):
    """A precompute request that cannot run; the message names the problem."""
