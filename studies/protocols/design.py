"""Counterbalancing: balanced Latin squares (Williams designs) and balanced rotations.

Pure functions of integers and a seeded RNG, shared by the protocols.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def williams_square(n: int) -> list[list[int]]:
    """A balanced Latin square for ``n`` treatments (Williams 1949).

    Every treatment appears once in each row and each column, and (for even ``n``) every
    treatment follows every other exactly once. For odd ``n`` the square and its mirror image
    together (2n rows) give that balance, so both are returned.
    """
    if n < 1:
        raise ValueError("a Latin square needs at least one treatment")
    # 0, 1, n-1, 2, n-2, ...; the other rows are its cyclic shifts.
    first = [0] + [((j + 1) // 2 if j % 2 else n - j // 2) % n for j in range(1, n)]
    rows = [[(value + r) % n for value in first] for r in range(n)]
    if n % 2 == 1 and n > 1:
        rows += [list(reversed(row)) for row in rows]
    return rows


def rotate(items: Sequence[T], row: int, n_positions: int) -> list[T]:
    """Position ``k`` gets ``items[(k + row) % len(items)]``: across ``len(items)`` consecutive
    rows every position gets every item once (a cyclic Latin square)."""
    return [items[(k + row) % len(items)] for k in range(n_positions)]


def square_assignment(n_positions: int, square_row: Sequence[int]) -> list[int]:
    """Treatment of each position from one row of a Latin square, repeated along the positions."""
    return [square_row[k % len(square_row)] for k in range(n_positions)]


def balanced_flags(n: int, rng: random.Random) -> list[bool]:
    """``n`` booleans, half of them true (one more at random when ``n`` is odd), shuffled."""
    flags = [k % 2 == 0 for k in range(n)]
    if n % 2 == 1 and rng.random() < 0.5:
        flags = [not f for f in flags]
    rng.shuffle(flags)
    return flags


def insert_positions(n_main: int, n_checks: int, rng: random.Random) -> list[int]:
    """Where to put ``n_checks`` attention checks among ``n_main`` trials: spread evenly, jittered,
    never first. Returns indices into the final sequence, sorted."""
    if n_checks <= 0:
        return []
    total = n_main + n_checks
    slots = total - 1
    if slots < n_checks:
        return list(range(total - n_checks, total))
    out = []
    for j in range(n_checks):  # one check in each of n_checks equal segments of 1..total-1
        start, end = 1 + (j * slots) // n_checks, 1 + ((j + 1) * slots) // n_checks
        out.append(rng.randrange(start, end))
    return out
