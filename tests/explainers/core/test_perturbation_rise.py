"""RISE: the masks' layout, the estimator against a hand-computed sum, seeds, bad options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explainers import core
from explainers.core.methods.rise import RiseMasks


def _tiny(size: int = 20, classes: int = 4) -> tuple[nn.Module, core.Classifier]:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, classes),
    )
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    net.eval()
    return net, core.Classifier(net, input_size=size)


def _images(n: int = 2, size: int = 20) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_masks_are_upsampled_grids_cropped_at_their_shift() -> None:
    # 16 px, 4 cells: cell ⌈16/4⌉ = 4, the 4×4 grid is upsampled to (4 + 1)·4 = 20 px, 5 px per
    # grid cell; with align_corners=False pixel 5j + 2 is the exact centre of grid cell j and
    # carries the grid value (to float rounding). The mask is that image cropped at (dy, dx).
    masks = RiseMasks(30, 4, 0.5, (16, 16), seed=7)
    built = masks.build(slice(0, 30), torch.device("cpu"))
    assert built.shape == (30, 16, 16) and float(built.min()) >= 0 and float(built.max()) <= 1
    checked = 0
    for i in range(30):
        dy, dx = masks.shifts[i].tolist()
        assert 0 <= dy < 4 and 0 <= dx < 4
        for j in range(4):
            for k in range(4):
                r, c = 5 * j + 2 - dy, 5 * k + 2 - dx
                if 0 <= r < 16 and 0 <= c < 16:
                    assert abs(float(built[i, r, c]) - float(masks.grids[i, j, k])) < 1e-6
                    checked += 1
    assert checked >= 30 * 9
    # Keep probability p: about half of the cells are kept.
    assert abs(float(RiseMasks(2000, 7, 0.3, (20, 20), seed=0).grids.mean()) - 0.3) < 0.02


def test_rise_equals_the_hand_computed_weighted_sum_of_masks() -> None:
    module, clf = _tiny()
    x = _images()
    n_masks, p = 40, 0.5
    maps = core.explain(
        clf, x, "rise", targets=[1, 3], seed=5, n_masks=n_masks, grid=4, p=p, batch_size=7
    )
    masks = RiseMasks(n_masks, 4, p, (20, 20), seed=5).build(slice(0, n_masks), torch.device("cpu"))
    expected = torch.zeros(2, 20, 20)
    with torch.no_grad():
        for i, target in enumerate([1, 3]):
            for mask in masks:  # S = Σ_i y_c(x ⊙ M_i) M_i / (N p), one mask at a time
                score = torch.softmax(module(x[i : i + 1] * mask), dim=1)[0, target]
                expected[i] += score * mask
    expected /= n_masks * p
    # The engine runs a BN-folded copy in batches: float32 rounding only (~1e-7 per score).
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-6)


def test_logit_score_and_same_masks_for_every_image() -> None:
    module, clf = _tiny()
    x = _images(3)
    both = core.explain(clf, x, "rise", targets=[0, 1, 2], n_masks=24, grid=3, score="logit")
    alone = core.explain(clf, x[2:], "rise", targets=[2], n_masks=24, grid=3, score="logit")
    torch.testing.assert_close(both[2], alone[0], rtol=1e-5, atol=1e-6)
    masks = RiseMasks(24, 3, 0.5, (20, 20), seed=0).build(slice(0, 24), torch.device("cpu"))
    with torch.no_grad():
        logits = module(x[:1] * masks[:, None])[:, 0]
    torch.testing.assert_close(
        both[0], torch.einsum("m,mhw->hw", logits, masks) / 12, rtol=1e-4, atol=1e-5
    )


def test_seed_determines_the_map() -> None:
    _, clf = _tiny()
    x = _images(1)
    first = core.explain(clf, x, "rise", seed=3, n_masks=16, grid=4)
    again = core.explain(clf, x, "rise", seed=3, n_masks=16, grid=4, batch_size=5)
    other = core.explain(clf, x, "rise", seed=4, n_masks=16, grid=4)
    torch.testing.assert_close(first, again, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(first, other)
    assert first.shape == (1, 20, 20) and first.dtype == torch.float32


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"n_masks": 0}, "n_masks"),
        ({"grid": 1}, "grid"),
        ({"grid": 30}, "grid"),  # more cells than pixels on a 20-pixel side
        ({"p": 0.0}, "p"),
        ({"p": 1.5}, "p"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_out_of_range_options_name_the_option(options: dict[str, object], name: str) -> None:
    _, clf = _tiny()
    with pytest.raises(core.ExplainerInputError, match=rf"^{name}:") as error:
        core.explain(clf, _images(1), "rise", **options)
    assert error.value.argument == name
