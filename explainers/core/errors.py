"""Errors raised for bad input: every message starts with the name of the offending argument."""

from __future__ import annotations


class ExplainerInputError(ValueError):
    """A bad argument to ``explainers.core``; raised before any computation starts.

    ``argument`` is the name of the argument (``"x"``, ``"targets"``, ``"method"``, an option's
    name, ``"target_layer"``, ``"module"``, …) and the message says what is wrong with it.
    """

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {message}")
