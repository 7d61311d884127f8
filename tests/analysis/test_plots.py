"""Figures: their titles stay inside the picture, and the bytes are deterministic."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from analysis import plots

LONG = "Accuracy by condition (model estimate, 95% CI) with a caption longer than the figure"


def _drawn(monkeypatch: pytest.MonkeyPatch, draw) -> list:
    """The figures ``draw`` renders to PNG (kept, as well as encoded)."""
    figures = []
    encode = plots._png

    def keep(fig):
        figures.append(fig)
        return encode(fig)

    monkeypatch.setattr(plots, "_png", keep)
    assert draw()[:8] == b"\x89PNG\r\n\x1a\n"
    return figures


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plots.accuracy_by_condition(["a=0", "a=1"], [0.6, 0.8], [0.4, 0.6], [0.8, 0.9]),
        lambda: plots.accuracy_by_condition(
            ["saliency=0,scores=0", "saliency=0,scores=1"], [1.0, 1.0], [0, 0], [1, 1], title=LONG
        ),
        lambda: plots.forest(["x"], [0.1], [-0.2], [0.4], title=LONG, xlabel="log odds ratio"),
        lambda: plots.human_vs_metric_scatter(
            ["gradcam", "rise"],
            [3.0, 4.0],
            [0.2, 0.4],
            measure="mean Likert rating of the maps",
            metric_name="Average drop in deletion",
            rho=1.0,
        ),
    ],
)
def test_titles_fit_inside_the_figure(monkeypatch, draw):
    (fig,) = _drawn(monkeypatch, draw)
    renderer = FigureCanvasAgg(fig).get_renderer()
    for ax in fig.axes:
        box = ax.title.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (ax.title.get_text(), box)
        assert box.y1 <= fig.bbox.height


def test_the_same_inputs_give_the_same_bytes():
    args = (["a", "b"], [0.5, 0.7], [0.3, 0.5], [0.7, 0.9])
    assert plots.accuracy_by_condition(*args) == plots.accuracy_by_condition(*args)
