"""Faithfulness metrics against curves and values computed by hand (METHODS.md, section 3.1).

``MeanModel`` has logits ``[α·mean(x), 0]``: the score of every perturbed image is known in
closed form, so each curve, area and correlation is recomputed here with numpy/scipy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import uniform_filter
from torch import nn

from explainers import core
from explainers.core.metrics.multi_step import step_plan

ALPHA = 3.0


class MeanModel(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = ALPHA * x.mean(dim=(1, 2, 3))
        return torch.stack([mean, torch.zeros_like(mean)], dim=1)


class EnergyModel(nn.Module):
    """Class 0 when the image has energy (mean x² > 0.5), class 1 when it is flat."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = (x * x).mean(dim=(1, 2, 3))
        return torch.stack([energy, torch.full_like(energy, 0.5)], dim=1)


class ConstantModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([1.0, -1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], 2)


def clf_of(model: nn.Module, size: int) -> core.Classifier:
    return core.Classifier(model, input_size=max(size, 8), device="cpu")


def score_of(image: np.ndarray, score: str) -> float:
    logit = ALPHA * image.mean()
    return logit if score == "logit" else 1.0 / (1.0 + np.exp(-logit))


def hand_curve(x: np.ndarray, saliency: np.ndarray, start: np.ndarray, end: np.ndarray, score: str):
    """Scores s_0…s_T: cells change from ``start`` to ``end`` by descending saliency."""
    h, w = saliency.shape
    cell = x.shape[1] // h
    k, steps = step_plan(h * w, 196)
    order = np.argsort(-saliency.flatten(), kind="stable")
    scores, means = [], []
    for t in range(steps + 1):
        changed = np.zeros(h * w)
        changed[order[: min(t * k, h * w)]] = 1
        mask = np.kron(changed.reshape(h, w), np.ones((cell, cell)))[None]
        scores.append(score_of(start * (1 - mask) + end * mask, score))
        if t < steps:
            means.append(saliency.flatten()[order[t * k : min((t + 1) * k, h * w)]].mean())
    return np.array(scores), np.array(means)


def trapezoid(scores: np.ndarray) -> float:
    return float(np.trapezoid(scores, np.linspace(0.0, 1.0, len(scores))))


@pytest.fixture
def image() -> torch.Tensor:
    return torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(4)) + 0.2


SALIENCY = torch.tensor([[[0.9, 0.1], [0.5, 0.7]]])


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_deletion_by_hand(image, score):
    clf = clf_of(MeanModel(), 8)
    x = image[0].numpy().astype(np.float64)
    scores, means = hand_curve(x, SALIENCY[0].numpy(), x, np.zeros_like(x), score)
    assert len(scores) == 5  # 4 cells, one per step
    dauc = core.faithfulness(clf, image, SALIENCY, "dauc", targets=0, score=score)
    assert float(dauc[0]) == pytest.approx(trapezoid(scores), rel=1e-5)
    dc = core.faithfulness(clf, image, SALIENCY, "dc", targets=0, score=score)
    expected = np.corrcoef(scores[:-1] - scores[1:], means)[0, 1]
    assert float(dc[0]) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_insertion_by_hand_from_a_zero_padded_box_blur(image, score):
    clf = clf_of(MeanModel(), 8)
    x = image[0].numpy().astype(np.float64)
    # Kernel max(8 // 5, 9) = 9, zero padding, divisor 81: scipy's uniform filter with cval 0.
    blurred = np.stack([uniform_filter(c, size=9, mode="constant", cval=0.0) for c in x])
    scores, means = hand_curve(x, SALIENCY[0].numpy(), blurred, x, score)
    iauc = core.faithfulness(clf, image, SALIENCY, "iauc", targets=0, score=score)
    assert float(iauc[0]) == pytest.approx(trapezoid(scores), rel=1e-5)
    ic = core.faithfulness(clf, image, SALIENCY, "ic", targets=0, score=score)
    expected = np.corrcoef(scores[1:] - scores[:-1], means)[0, 1]
    assert float(ic[0]) == pytest.approx(expected, rel=1e-4)


def test_more_cells_than_steps_takes_k_cells_per_step_and_the_remainder_last():
    """A 15×15 map: k = ceil(225/196) = 2 cells per step, T = 113 steps, the last of 1 cell."""
    assert step_plan(225, 196) == (2, 113)
    assert step_plan(49, 196) == (1, 49)
    assert step_plan(224 * 224, 196) == (256, 196)
    clf = clf_of(MeanModel(), 30)
    generator = torch.Generator().manual_seed(9)
    image = torch.rand(1, 3, 30, 30, generator=generator)
    saliency = torch.rand(1, 15, 15, generator=generator)
    saliency[0, 3, :5] = 0.5  # ties: row-major order
    x = image[0].numpy().astype(np.float64)
    scores, _ = hand_curve(x, saliency[0].numpy(), x, np.zeros_like(x), "logit")
    assert len(scores) == 114
    dauc = core.faithfulness(clf, image, saliency, "dauc", targets=0, score="logit")
    assert float(dauc[0]) == pytest.approx(trapezoid(scores), rel=1e-5)


def test_correlations_are_missing_not_zero_when_undefined(image):
    clf = clf_of(MeanModel(), 8)
    flat = torch.full((1, 2, 2), 0.3)
    for metric in ("dc", "ic", "iic", "ad", "add"):
        value = core.faithfulness(clf, image, flat, metric, targets=0)
        assert torch.isnan(value).all(), metric
    assert torch.isfinite(core.faithfulness(clf, image, flat, "dauc", targets=0)).all()
    constant_model = clf_of(ConstantModel(), 8)
    assert torch.isnan(core.faithfulness(constant_model, image, SALIENCY, "dc", targets=0)).all()


def hand_single_step(x: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    y = score_of(x, "probability")
    kept = score_of(x * mask, "probability")
    removed = score_of(x * (1 - mask), "probability")
    return {
        "iic": float(kept > y),
        "ad": max(y - kept, 0.0) / y,
        "add": (y - removed) / y,
    }


def test_single_step_metrics_by_hand_at_full_resolution():
    clf = clf_of(MeanModel(), 8)
    generator = torch.Generator().manual_seed(6)
    image = torch.rand(2, 3, 8, 8, generator=generator) - 0.3
    saliency = torch.rand(2, 8, 8, generator=generator) * torch.tensor([1.0, 50.0]).view(2, 1, 1)
    for metric in ("iic", "ad", "add"):
        values = core.faithfulness(clf, image, saliency, metric, targets=0)
        for n in range(2):
            s = saliency[n].numpy().astype(np.float64)
            mask = (s - s.min()) / (s.max() - s.min())
            expected = hand_single_step(image[n].numpy().astype(np.float64), mask)[metric]
            assert float(values[n]) == pytest.approx(expected, rel=1e-5, abs=1e-7), metric


def test_single_step_mask_is_bicubic_upsampled_and_clipped():
    clf = clf_of(MeanModel(), 8)
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    saliency = torch.tensor([[[0.0, 1.0], [1.0, 0.2]]])
    up = F.interpolate(saliency[None], size=(8, 8), mode="bicubic", align_corners=False)[0, 0]
    mask = up.clamp(0, 1).double().numpy()
    assert float(up.max()) > 1.0, "bicubic overshoots: the clip matters"
    expected = hand_single_step(image[0].double().numpy(), mask)["ad"]
    value = core.faithfulness(clf, image, saliency, "ad", targets=0)
    assert float(value[0]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("metric", sorted(core.METRICS))
def test_an_images_value_does_not_depend_on_its_batch(tiny, tiny_images, metric):
    """Per-image normalisation (the reference code normalised over the batch: a defect)."""
    x = tiny_images(3, 16, seed=12)
    saliency = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    saliency[1] *= 100
    together = core.faithfulness(tiny, x, saliency, metric, targets=[0, 1, 2])
    for n in range(3):
        alone = core.faithfulness(tiny, x[n : n + 1], saliency[n : n + 1], metric, targets=[n])
        torch.testing.assert_close(alone, together[n : n + 1], rtol=1e-4, atol=1e-6)
    small_batches = core.faithfulness(tiny, x, saliency, metric, targets=[0, 1, 2], batch_size=3)
    torch.testing.assert_close(small_batches, together, rtol=1e-4, atol=1e-6)


def test_insertion_measures_the_original_images_class_not_the_blurred_ones():
    clf = clf_of(EnergyModel(), 16)
    image = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    saliency = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(4))
    from explainers.core.perturbation import blur_kernel_size, box_blur

    assert clf.predict(image).tolist() == [0]
    assert clf.predict(box_blur(image, blur_kernel_size(16))).tolist() == [1]
    default = core.faithfulness(clf, image, saliency, "iauc")
    assert torch.equal(default, core.faithfulness(clf, image, saliency, "iauc", targets=0))
    assert not torch.allclose(default, core.faithfulness(clf, image, saliency, "iauc", targets=1))


@pytest.mark.slow
def test_dauc_ranks_a_faithful_map_before_a_random_one_before_an_inverted_one(lite0, photos):
    """On real photos: the map of single-cell deletion effects (occlusion of each 7×7 cell,
    faithful by construction) < random maps < the same map inverted."""
    x = photos[:3]
    n = x.shape[0]
    targets = lite0.predict(x).tolist()
    probabilities = lite0.probabilities(x)[torch.arange(n), targets]
    drops = torch.zeros(n, 49)
    for cell in range(49):
        occluded = x.clone()
        row, col = divmod(cell, 7)
        occluded[:, :, row * 32 : (row + 1) * 32, col * 32 : (col + 1) * 32] = 0
        drops[:, cell] = probabilities - lite0.probabilities(occluded)[torch.arange(n), targets]
    faithful = drops.view(n, 7, 7)
    generator = torch.Generator().manual_seed(0)
    random_maps = [torch.rand(n, 7, 7, generator=generator) for _ in range(2)]

    def dauc(maps: torch.Tensor) -> torch.Tensor:
        return core.faithfulness(lite0, x, maps, "dauc", targets=targets, batch_size=16)

    good, bad = dauc(faithful), dauc(-faithful)
    random = torch.stack([dauc(m) for m in random_maps]).mean(dim=0)
    assert (good < bad).all(), (good, bad)
    assert good.mean() < random.mean() < bad.mean(), (good, random, bad)
