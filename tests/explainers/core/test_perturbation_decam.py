"""DE-CAM (our formulation): recovers the one region that drives a synthetic model, spends
exactly its budget with one batch per generation, is seeded, and rejects bad budgets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explainers import core

SIZE = 32
PATCH = (slice(8, 16), slice(16, 24))  # grid cell (1, 2) of a 4×4 grid on 32×32


class PatchModel(nn.Module):
    """Logit of class 0 = 6·(mean of the input over PATCH) − 3; class 1 = 0. Nothing else in
    the image matters, so the only region worth keeping is PATCH."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1, bias=False)
        nn.init.constant_(self.conv.weight, 1 / 3)
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        value = self.conv(x)[:, 0, PATCH[0], PATCH[1]].mean(dim=(1, 2))
        return torch.stack([6 * value - 3, torch.zeros_like(value)], dim=1)


def _setup() -> tuple[core.Classifier, torch.Tensor]:
    clf = core.Classifier(PatchModel(), input_size=SIZE, optimize_network=False)
    noise = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    return clf, 1.0 + 0.1 * noise


@pytest.mark.parametrize("output", ["best", "mean"])
def test_decam_recovers_the_region_that_drives_the_model(output: str) -> None:
    clf, x = _setup()
    maps = core.explain(
        clf, x, "decam", targets=0, grid=4, population=16, generations=30, output=output
    )
    assert maps.shape == (2, 4, 4)
    for saliency in maps:
        assert divmod(int(saliency.argmax()), 4) == (1, 2)
        others = torch.cat([saliency.flatten()[:6], saliency.flatten()[7:]])
        assert float(saliency[1, 2]) > 0.7 and float(others.mean()) < 0.45


def test_budget_is_population_times_generations_plus_one_in_one_batch_each() -> None:
    clf, x = _setup()
    network = clf.network
    assert isinstance(network, PatchModel)
    network.calls.clear()
    core.explain(
        clf, x[:1], "decam", targets=0, grid=3, population=12, generations=5, batch_size=12
    )
    # One pass for y_c(x), then the initial population and 5 generations, 12 masks per pass.
    assert network.calls == [1] + [12] * 6


def test_seeded_and_batch_independent() -> None:
    clf, x = _setup()
    options = {"targets": 0, "grid": 3, "population": 8, "generations": 4}
    first = core.explain(clf, x, "decam", seed=1, **options)
    again = core.explain(clf, x[1:], "decam", seed=1, **options)
    other = core.explain(clf, x[1:], "decam", seed=2, **options)
    torch.testing.assert_close(first[1], again[0])
    assert not torch.equal(again, other)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"grid": 1}, "grid"),
        ({"grid": 17}, "grid"),
        ({"population": 4}, "population"),
        ({"generations": 0}, "generations"),
        ({"population": 5000, "generations": 5000}, "generations"),
        ({"area_weight": -1.0}, "area_weight"),
        ({"recombination": 1.5}, "recombination"),
    ],
)
def test_out_of_range_budgets_name_the_option(options: dict[str, object], name: str) -> None:
    clf, x = _setup()
    with pytest.raises(core.ExplainerInputError, match=rf"^{name}:"):
        core.explain(clf, x[:1], "decam", **options)
