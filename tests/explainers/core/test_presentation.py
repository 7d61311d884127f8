"""Presentation conventions on synthetic maps with known answers (no Django)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from explainers.core import render
from explainers.core.presentation import Presentation, PresentationSettingError, scaled


def _photo(width: int = 32, height: int = 24, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="RGB")


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _ramp_with_outlier(h: int = 24, w: int = 32) -> torch.Tensor:
    """A smooth left→right ramp in [0, 1] and one pixel 1000× larger (a typical gradient map)."""
    ramp = torch.linspace(0.0, 1.0, w).expand(h, w).clone()
    ramp[3, 5] = 1000.0
    return ramp


# --- scaling ------------------------------------------------------------------------------------


def test_a_single_outlier_pixel_does_not_blank_the_map_under_percentile_clipping() -> None:
    saliency = _ramp_with_outlier()[None]
    legacy = scaled(saliency, render.LEGACY)[0]
    clipped = scaled(saliency, Presentation(smoothing=0.0))[0]
    assert float((legacy > 0.01).float().mean()) < 0.01  # min–max: all but the outlier near 0
    assert float(clipped[:, -1].min()) > 0.99  # percentile: the ramp's right end saturates
    assert float(clipped[:, 0].max()) == 0.0 and float(clipped[:, 15].mean()) == pytest.approx(
        15 / 31 / float(torch.quantile(saliency.flatten(), 0.98)), rel=1e-4
    )


def test_percentile_saturates_exactly_the_top_share_of_distinct_values() -> None:
    values = torch.arange(1.0, 101.0).reshape(1, 10, 10)  # 1 … 100
    out = scaled(values, Presentation(percentile=5.0, smoothing=0.0))
    q = float(torch.quantile(values.flatten(), 0.95))
    assert q == pytest.approx(95.05) and int((out == 1.0).sum()) == 5  # 96 … 100
    torch.testing.assert_close(out[values <= q], (values[values <= q] - 1) / (q - 1))  # floor: min


def test_signs_pick_their_part_and_symmetric_scaling_centres_zero() -> None:
    signed = torch.tensor([[[-4.0, -1.0], [0.0, 2.0]]])
    positive = scaled(signed, Presentation(sign="positive", scaling="minmax", smoothing=0.0))
    negative = scaled(signed, Presentation(sign="negative", scaling="minmax", smoothing=0.0))
    torch.testing.assert_close(positive[0], torch.tensor([[0.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(negative[0], torch.tensor([[1.0, 0.25], [0.0, 0.0]]))
    symmetric = Presentation(sign="signed", scaling="symmetric", smoothing=0.0, cmap="RdBu_r")
    torch.testing.assert_close(
        scaled(signed, symmetric)[0], torch.tensor([[0.0, 0.375], [0.5, 0.75]])
    )


def test_smoothing_spreads_isolated_pixels_and_leaves_cam_sized_maps_alone() -> None:
    spike = torch.zeros(1, 64, 64)
    spike[0, 32, 32] = 1.0
    smooth = scaled(spike, Presentation(percentile=0.0, smoothing=0.02))[0]  # σ = 1.28 px
    assert int((smooth > 0.1).sum()) > 9 and float(smooth[32, 32]) == 1.0
    cam = torch.rand(1, 7, 7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        scaled(cam, Presentation(smoothing=0.005)), scaled(cam, Presentation(smoothing=0.0))
    )


# --- composition --------------------------------------------------------------------------------


def test_zero_saliency_leaves_the_photographs_pixels_unchanged_under_saliency_opacity() -> None:
    photo = _photo()
    saliency = torch.zeros(24, 32)
    saliency[:, 24:] = torch.linspace(0.5, 1.0, 8)
    stimulus, _ = render.render_batch([photo], [saliency], render.DEFAULT)[0]
    pixels, original = _decode(stimulus), np.asarray(photo)
    assert np.array_equal(pixels[:, :20], original[:, :20])  # zero (and its blur) untouched
    assert not np.array_equal(pixels[:, 28:], original[:, 28:])
    blank, _ = render.render_batch([photo], [torch.zeros(24, 32)], render.DEFAULT)[0]
    assert np.array_equal(_decode(blank), original)


def test_signed_zero_maps_to_the_colour_maps_neutral_midpoint() -> None:
    signed = torch.zeros(6, 8)
    signed[0, 0], signed[5, 7] = -3.0, 3.0
    convention = Presentation(sign="signed", composition="heatmap", smoothing=0.0, cmap="RdBu_r")
    stimulus, heat = render.render_batch([_photo(8, 6)], [signed], convention)[0]
    neutral = render.colormap_lut("RdBu_r")[128]
    pixels = _decode(stimulus)
    assert (pixels[2:4, 2:6] == neutral).all()
    assert tuple(pixels[0, 0]) == tuple(render.colormap_lut("RdBu_r")[0])
    assert tuple(pixels[5, 7]) == tuple(render.colormap_lut("RdBu_r")[255])
    assert np.array_equal(_decode(heat), pixels)  # the heat map PNG is the same colours


def test_mask_shows_the_photograph_on_its_top_k_percent_only() -> None:
    photo = _photo(10, 10)
    saliency = torch.arange(100.0).reshape(10, 10)
    convention = Presentation(composition="mask", top_k=20.0, smoothing=0.0, percentile=0.0)
    pixels = _decode(render.render_batch([photo], [saliency], convention)[0][0])
    kept = (pixels == np.asarray(photo)).all(axis=2) & (np.asarray(photo).sum(axis=2) > 0)
    assert int(kept.sum()) == 20 and kept[8:].all() and not pixels[:8].any()


def test_constant_opacity_blends_every_pixel_alike() -> None:
    photo, saliency = _photo(), torch.rand(24, 32, generator=torch.Generator().manual_seed(3))
    convention = Presentation(composition="constant", opacity=0.25, smoothing=0.0)
    pixels = _decode(render.render_batch([photo], [saliency], convention)[0][0]).astype(float)
    heat = render.colormap_lut(convention.cmap)[
        render._indices(scaled(saliency[None], convention)[0]).numpy()
    ]
    np.testing.assert_allclose(pixels, 0.75 * np.asarray(photo) + 0.25 * heat, atol=0.5 + 1e-6)


# --- legacy, determinism, batches ----------------------------------------------------------------


def test_legacy_gives_todays_pictures_byte_for_byte() -> None:
    photo, saliency = _photo(), torch.rand(7, 7, generator=torch.Generator().manual_seed(2))
    stimulus, heat = render.render_batch([photo], [saliency], render.LEGACY)[0]
    assert np.array_equal(_decode(stimulus), np.asarray(render.overlay(photo, saliency, 0.5)))
    assert np.array_equal(_decode(heat), np.asarray(render.heatmap_image(saliency, photo.size)))


def test_batches_of_mixed_sizes_give_the_bytes_of_single_renders() -> None:
    photos = [_photo(32, 24, 0), _photo(20, 20, 1), _photo(32, 24, 2)]
    maps = [_ramp_with_outlier(), torch.rand(7, 7), torch.rand(24, 32)]
    batch = render.render_batch(photos, maps, render.DEFAULT)
    singles = [
        render.render_batch([p], [m], render.DEFAULT)[0] for p, m in zip(photos, maps, strict=True)
    ]
    assert batch == singles
    assert render.render_batch(photos, maps, render.DEFAULT) == batch  # deterministic


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"opacity": 7}, "presentation.opacity: must lie in [0, 1]"),
        ({"opacity": True}, "presentation.opacity: expected a number"),
        ({"percentile": -1}, "presentation.percentile"),
        ({"top_k": 0}, "presentation.top_k"),
        ({"scaling": "log"}, "presentation.scaling: expected one of minmax, percentile"),
        ({"sign": "signed", "cmap": "magma"}, "needs a diverging colour map"),
        ({"sign": "signed", "scaling": "minmax", "cmap": "RdBu_r"}, "0 stays at"),
        ({"scaling": "symmetric"}, "'symmetric' is for signed maps"),
        ({"cmap": "no_such_map"}, "presentation.cmap: unknown colour map"),
        ({"gamma": 2}, "presentation.gamma: unknown setting"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], message: str) -> None:
    with pytest.raises(PresentationSettingError, match=message.replace("[", r"\[")):
        Presentation.from_dict(settings)


def test_the_key_identifies_the_settings_whatever_their_spelling() -> None:
    assert Presentation.from_dict({"percentile": 2}).key == render.DEFAULT.key
    assert Presentation.from_dict(render.DEFAULT.to_dict()) == render.DEFAULT
    assert len({p.key for p in render.PRESETS.values()}) == len(render.PRESETS)
    assert "top 2 % saturated" in render.DEFAULT.describe()


# --- visibility ---------------------------------------------------------------------------------


def test_visibility_is_zero_for_a_uniform_tint_high_where_only_salient_pixels_change() -> None:
    photo = np.full((10, 10, 3), 100, dtype=np.uint8)
    salience = np.arange(100.0).reshape(10, 10)
    tint = np.full_like(photo, 160)
    assert render.visibility(photo, tint, salience) == 0.0
    drawn = photo.copy()
    drawn[9] = 255  # the top 10 % of pixels turned white, the rest untouched
    assert render.visibility(photo, drawn, salience) == pytest.approx(155 / 255)
    with pytest.raises(ValueError, match="same pixels"):
        render.visibility(photo, drawn[:5], salience)
