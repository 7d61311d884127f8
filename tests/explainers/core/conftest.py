"""Fixtures of the engine's tests: the real EfficientNet-Lite0 (loaded once per session), a few
real photos, and tiny networks whose every number can be computed by hand.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from explainers import core


class TinyNet(nn.Module):
    """Conv → BN → ReLU → pool → conv → BN → ReLU (``features``: K×h×w) → GAP → linear."""

    def __init__(self, classes: int = 5, channels: int = 6, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, classes)
        with torch.no_grad():  # non-trivial running statistics, so that BN folding matters
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.2, 0.2)
                    module.running_var.uniform_(0.5, 1.5)
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.1, 0.3)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def _tiny_images(n: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def tiny_net() -> type[TinyNet]:
    """The TinyNet class (tests build their own instances)."""
    return TinyNet


@pytest.fixture
def tiny_images():
    """``tiny_images(n, size, seed)``: N×3×size×size standard normal images."""
    return _tiny_images


@pytest.fixture
def tiny() -> core.Classifier:
    """A classifier around a fresh TinyNet (16×16 inputs, 6×8×8 feature maps, 5 classes)."""
    return core.Classifier(TinyNet(), target_layer="features", input_size=16, device="cpu")


@pytest.fixture(scope="session")
def lite0() -> core.Classifier:
    """The zoo's EfficientNet-Lite0 on the CPU, loaded once for the whole session."""
    return core.load_classifier("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def sample_rows(imagenet_sample_dir: Path) -> list[dict[str, str]]:
    with (imagenet_sample_dir / "labels.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def sample_images(imagenet_sample_dir: Path, sample_rows: list[dict[str, str]]):
    """A loader of the first ``n`` photos of the ImageNet sample as PIL images."""

    def load(n: int) -> list[Image.Image]:
        return [
            Image.open(imagenet_sample_dir / row["file"]).convert("RGB") for row in sample_rows[:n]
        ]

    return load


@pytest.fixture(scope="session")
def photos(lite0: core.Classifier, sample_images) -> torch.Tensor:
    """Four real photos preprocessed for EfficientNet-Lite0 (4×3×224×224)."""
    return lite0.preprocess(sample_images(4))
