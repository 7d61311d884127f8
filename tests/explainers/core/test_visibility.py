"""Every method's map is visible under the default presentation on real photographs.

Visibility is ``render.map_visibility`` (the colour distance between what the rendering does to
the 10 % most and the 50 % least salient pixels, see ``explainers.core.presentation``);
``bench/visibility.py`` prints the table for every preset on more photographs.
"""

from __future__ import annotations

import statistics

import pytest

from explainers import core
from explainers.core import render

#: Fewer samples for the sampling methods: visibility depends on a map's shape, not its precision.
CHEAP = {
    "integrated_gradients": {"n_steps": 16},
    "smoothgrad": {"n_samples": 16},
    "vargrad": {"n_samples": 16},
    "rise": {"n_masks": 500},
    "lime": {"n_samples": 300},
    "kernelshap": {"n_samples": 300},
    "decam": {"generations": 5},
}
PIXEL_LEVEL = {"gradient", "guided_backprop", "integrated_gradients", "smoothgrad", "vargrad"}
#: Pixel-level maps whose few extreme pixels made the legacy min–max picture a uniform tint
#: (SmoothGrad's averaging tames its extremes: its legacy figure sits just above the bar).
LEGACY_INVISIBLE = PIXEL_LEVEL - {"smoothgrad"}


def _needs_attention(method: str) -> bool:
    return core.METHODS[method].family == "attention"


def _scores(views, maps, presentation) -> list[float]:
    return [render.map_visibility(v, m, presentation) for v, m in zip(views, maps, strict=True)]


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(core.METHODS))
def test_default_presentation_makes_every_methods_map_visible(method, lite0, sample_images):
    if _needs_attention(method):  # explicit capability: the zoo's CNN has no attention maps
        with pytest.raises(core.ExplainerInputError, match="attention"):
            core.explain(lite0, lite0.preprocess(sample_images(1)), method)
        return
    images = sample_images(4)
    views = [lite0.view(image) for image in images]
    maps = core.explain(lite0, lite0.preprocess(images), method, **CHEAP.get(method, {}))
    default = [
        render.map_visibility(v, m, render.DEFAULT) for v, m in zip(views, maps, strict=True)
    ]
    assert statistics.median(default) >= render.VISIBILITY_THRESHOLD, (method, default)
    if method in PIXEL_LEVEL:  # the defect: one extreme pixel set the legacy scale
        legacy = [
            render.map_visibility(v, m, render.LEGACY) for v, m in zip(views, maps, strict=True)
        ]
        if method in LEGACY_INVISIBLE:
            assert statistics.median(legacy) < render.VISIBILITY_THRESHOLD, legacy
        assert statistics.median(default) >= 1.5 * statistics.median(legacy), (default, legacy)
