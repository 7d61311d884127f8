"""Fixtures for the mixed-model tests: the reference data sets as design matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def wine(reference_data_dir: Path) -> dict:
    """ordinal::wine: rating 1..5 (codes 0..4), tempwarm and contactyes dummies, judge."""
    d = pd.read_csv(reference_data_dir / "wine.csv")
    x = np.column_stack([(d.temp == "warm").astype(float), (d.contact == "yes").astype(float)])
    return {
        "y": d.rating.to_numpy() - 1,
        "X": x,
        "names": ("tempwarm", "contactyes"),
        "groups": {"judge": d.judge.to_numpy()},
    }


@pytest.fixture(scope="session")
def cbpp(reference_data_dir: Path) -> dict:
    """lme4::cbpp: incidence out of size, treatment-coded period (1 = reference), herd."""
    d = pd.read_csv(reference_data_dir / "cbpp.csv")
    x = np.column_stack([np.ones(len(d))] + [(d.period == k).astype(float) for k in (2, 3, 4)])
    return {
        "y": d.incidence.to_numpy(),
        "trials": d["size"].to_numpy(),
        "X": x,
        "names": ("(Intercept)", "period2", "period3", "period4"),
        "groups": {"herd": d.herd.to_numpy()},
    }


@pytest.fixture(scope="session")
def sleepstudy(reference_data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(reference_data_dir / "sleepstudy.csv")
