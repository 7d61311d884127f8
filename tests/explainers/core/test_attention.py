"""Attention models: a small Vision Transformer built here exposes its last-layer CLS attention
(Eq. 10 of the tutorial) through the ``attention_maps`` hook; the registry's ``attention``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from explainers import core
from explainers.core import render
from explainers.core.attention import attention_maps, cls_attention, has_attention
from explainers.core.hooks import count_hooks

SIZE, PATCH, DIM, HEADS = 16, 4, 16, 2
GRID = SIZE // PATCH


class Block(nn.Module):
    """Pre-norm transformer block; keeps the attention matrix of its last forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.qkv, self.proj = nn.Linear(DIM, 3 * DIM), nn.Linear(DIM, DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.last_attention: torch.Tensor | None = None

    def query_key_value(self, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n, t, _ = tokens.shape
        qkv = self.qkv(self.norm1(tokens)).reshape(n, t, 3, HEADS, DIM // HEADS)
        return tuple(qkv.permute(2, 0, 3, 1, 4))  # 3 × (N×heads×T×d)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        q, k, v = self.query_key_value(tokens)
        attention = torch.softmax(q @ k.transpose(-2, -1) / (DIM // HEADS) ** 0.5, dim=-1)
        self.last_attention = attention.detach()
        mixed = (attention @ v).transpose(1, 2).reshape(tokens.shape)
        tokens = tokens + self.proj(mixed)
        return tokens + self.mlp(self.norm2(tokens))


class TinyViT(nn.Module):
    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv2d(3, DIM, PATCH, stride=PATCH)
        self.cls = nn.Parameter(torch.randn(1, 1, DIM))
        self.position = nn.Parameter(torch.randn(1, 1 + GRID * GRID, DIM))
        self.blocks = nn.ModuleList([Block(), Block()])
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), patches], 1) + self.position

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.tokens(x)
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.norm(tokens[:, 0]))

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 10 per head: the last layer's CLS attention, N×heads×(H/p)×(W/p)."""
        tokens = self.tokens(x)
        for block in self.blocks[:-1]:
            tokens = block(tokens)
        q, k, _ = self.blocks[-1].query_key_value(tokens)
        return cls_attention(q, k, (GRID, GRID))


class ClassMaps(nn.Module):
    """A toy part model whose maps depend on the class: map of class c = channel c of a conv."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))

    def attention_maps(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        maps = self.conv(x)
        return maps[torch.arange(x.shape[0]), targets][:, None]


def _images(n: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))


def test_attention_is_the_cls_row_of_the_last_attention_matrix() -> None:
    vit = TinyViT().eval()
    clf = core.Classifier(vit, input_size=SIZE, device="cpu")
    x = _images()
    maps = attention_maps(clf, x)
    with torch.no_grad():
        vit(x)  # the forward pass records the attention it used
    recorded = vit.blocks[-1].last_attention
    assert recorded is not None and maps.shape == (3, HEADS, GRID, GRID)
    expected = recorded[:, :, 0, 1:].reshape(3, HEADS, GRID, GRID)
    torch.testing.assert_close(maps, expected, rtol=1e-5, atol=1e-6)
    # Softmax over CLS + patches: each head's patch weights sum to 1 − (CLS attends to CLS).
    torch.testing.assert_close(maps.sum(dim=(2, 3)), 1 - recorded[:, :, 0, 0], rtol=0, atol=1e-5)

    mean = core.explain(clf, x, "attention")
    torch.testing.assert_close(mean, expected.mean(dim=1), rtol=1e-5, atol=1e-6)
    head = core.explain(clf, x, "attention", part=1)
    torch.testing.assert_close(head, expected[:, 1], rtol=1e-5, atol=1e-6)
    peak = core.explain(clf, x, "attention", reduction="max")
    torch.testing.assert_close(peak, expected.amax(dim=1), rtol=1e-5, atol=1e-6)


def test_attention_keeps_the_contract() -> None:
    vit = TinyViT()
    vit.train()
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    clf = core.Classifier(vit, input_size=SIZE, device="cpu")
    x = _images(4)
    maps = core.explain(clf, x, "attention", targets=[0, 1, 2, 3], seed=3)
    assert maps.dtype == torch.float32 and maps.shape == (4, GRID, GRID)
    assert torch.equal(maps, core.explain(clf, x, "attention", targets=[0, 1, 2, 3], seed=3))
    alone = core.explain(clf, x[2:3], "attention", batch_size=1)
    torch.testing.assert_close(alone, maps[2:3], rtol=1e-5, atol=1e-7)
    assert vit.training and count_hooks(vit) == 0 and count_hooks(clf.network) == 0
    assert all(torch.equal(v, before[k]) for k, v in vit.state_dict().items())


def test_hook_with_targets_gets_the_target_classes() -> None:
    model = ClassMaps().eval()
    clf = core.Classifier(model, input_size=SIZE, device="cpu")
    x = _images(2)
    maps = core.explain(clf, x, "attention", targets=[3, 1])
    with torch.no_grad():
        channels = model.conv(x)
    torch.testing.assert_close(maps, channels[[0, 1], [3, 1]], rtol=1e-5, atol=1e-6)


def test_several_maps_render_as_rgb_channels() -> None:
    clf = core.Classifier(TinyViT().eval(), input_size=SIZE, device="cpu")
    maps = attention_maps(clf, _images(1))[0]
    picture = render.channels_to_rgb(maps, (64, 64))
    assert picture.size == (64, 64)
    pixels = np.asarray(picture)
    assert int(pixels[..., 2].max()) == 0  # two heads: red and green, blue empty
    # Each head normalised to [0, 1], then upsampled 4 → 64 (its peak lies between pixels).
    assert int(pixels[..., 0].max()) >= 240 and int(pixels[..., 1].max()) >= 240


def test_model_without_attention_maps_is_a_clear_error() -> None:
    plain = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )
    clf = core.Classifier(plain, input_size=SIZE, device="cpu")
    assert not has_attention(clf)
    with pytest.raises(core.ExplainerInputError, match=r"^classifier: .*no attention maps"):
        core.explain(clf, _images(1), "attention")
    vit = core.Classifier(TinyViT().eval(), input_size=SIZE, device="cpu")
    with pytest.raises(core.ExplainerInputError, match=r"^part: .*2 attention maps"):
        core.explain(vit, _images(1), "attention", part=2)
    with pytest.raises(ValueError, match="grid"):
        cls_attention(torch.zeros(1, 1, 5, 4), torch.zeros(1, 1, 5, 4), (3, 3))
