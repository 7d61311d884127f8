"""A tiny three-class CNN (three conv layers, 32×32 inputs) saved as each kind of upload.

``ARCH`` is its import path, the ``architecture`` of a ``state_dict`` upload (the server builds it
without arguments and loads the weights into it).
"""

from __future__ import annotations

import io

import torch
from torch import nn

ARCH = "tests.explainers.tiny_cnn.TinyCNN"
CLASSES = ["cat", "dog", "bird"]
INPUT_SIZE = 32
TARGET_LAYER = "features.6"  # the last conv block's ReLU: N×16×8×8 feature maps


class TinyCNN(nn.Module):
    """conv(3→8) → pool → conv(8→16) → pool → conv(16→16) → global average → linear(16→3)."""

    def __init__(self, n_classes: int = len(CLASSES)) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


def network(seed: int = 0) -> TinyCNN:
    torch.manual_seed(seed)
    return TinyCNN().eval()


def scripted(seed: int = 0) -> bytes:
    """A TorchScript archive made with ``torch.jit.script``."""
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(network(seed)), buffer)
    return buffer.getvalue()


def traced(seed: int = 0) -> bytes:
    """A TorchScript archive made with ``torch.jit.trace`` on a 32×32 example."""
    buffer = io.BytesIO()
    example = torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE)
    torch.jit.save(torch.jit.trace(network(seed), example), buffer)
    return buffer.getvalue()


def state_dict(seed: int = 0) -> bytes:
    """The network's weights, ``torch.save(model.state_dict())``."""
    buffer = io.BytesIO()
    torch.save(network(seed).state_dict(), buffer)
    return buffer.getvalue()
