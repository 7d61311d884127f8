"""Run the fits with single-threaded BLAS.

The matrices in the fits are small (a few hundred columns at most) and each is used many times;
multi-threaded BLAS gains nothing on them and, on a machine whose cores are busy, its spinning
threads slow a fit down several-fold. ``threadpoolctl`` (installed with scikit-learn) sets the
limit for the duration of a fit; without it the fits run unchanged.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["single_threaded_blas"]

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    threadpool_limits = None


def single_threaded_blas() -> AbstractContextManager[Any]:
    if threadpool_limits is None:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
