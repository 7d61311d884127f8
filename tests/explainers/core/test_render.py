"""Rendering: normalisation, bilinear upsampling, colour maps, overlays, RGB channels, PNG bytes."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from explainers.core import render


def _image(width: int = 40, height: int = 30) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="RGB")


def _map(h: int = 7, w: int = 7, seed: int = 1) -> torch.Tensor:
    return torch.rand(h, w, generator=torch.Generator().manual_seed(seed))


def _decode(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


# --- normalisation -------------------------------------------------------------------------------


def test_normalize_per_map_is_min_max_of_each_map() -> None:
    maps = torch.stack([torch.arange(4.0).reshape(2, 2), 10 + 3 * torch.arange(4.0).reshape(2, 2)])
    out = render.normalize(maps)
    expected = torch.tensor([[0.0, 1 / 3], [2 / 3, 1.0]])
    torch.testing.assert_close(out[0], expected)
    torch.testing.assert_close(out[1], expected)
    assert out.dtype == torch.float32 and out.shape == maps.shape


def test_normalize_shared_keeps_relative_magnitudes() -> None:
    weak, strong = torch.full((2, 2), 1.0), torch.tensor([[0.0, 2.0], [4.0, 4.0]])
    out = render.normalize(torch.stack([weak, strong]), "shared")
    torch.testing.assert_close(out[0], torch.full((2, 2), 0.25))
    torch.testing.assert_close(out[1], strong / 4)
    lo, hi = render.value_range([weak, strong])
    assert (lo, hi) == (0.0, 4.0)
    torch.testing.assert_close(render.normalize(weak, scale=(lo, hi)), out[0])


def test_normalize_constant_map_is_zero_and_symmetric_centres_zero() -> None:
    assert render.normalize(torch.full((3, 3), 5.0)).abs().sum() == 0
    signed = torch.tensor([[-2.0, 0.0], [1.0, 2.0]])
    torch.testing.assert_close(
        render.normalize(signed, symmetric=True), torch.tensor([[0.0, 0.5], [0.75, 1.0]])
    )


@pytest.mark.parametrize(
    ("call", "option"),
    [
        (lambda: render.normalize(torch.zeros(2, 2), "global"), "mode"),  # type: ignore[arg-type]
        (lambda: render.normalize(torch.tensor([[float("nan")]])), "map"),
        (lambda: render.normalize(torch.zeros(2)), "maps"),
        (lambda: render.upsample(torch.zeros(2, 2), (0, 3)), "size"),
        (lambda: render.colorize(torch.zeros(2, 2), "no-such-map"), "cmap"),
        (lambda: render.overlay(_image(), torch.zeros(2, 2), opacity=1.5), "opacity"),
        (lambda: render.channels_to_rgb(torch.zeros(4, 2, 2)), "maps"),
    ],
)
def test_bad_input_names_the_option(call, option: str) -> None:
    with pytest.raises(ValueError, match=rf"^{option}:"):
        call()


# --- upsampling ----------------------------------------------------------------------------------


def test_upsample_is_bilinear_with_half_pixel_centres() -> None:
    # 1×2 → 1×4 with align_corners=False samples at x = (j + ½)/2 − ½ = −¼, ¼, ¾, 5/4 (clamped).
    out = render.upsample(torch.tensor([[0.0, 4.0]]), (1, 4))
    torch.testing.assert_close(out, torch.tensor([[0.0, 1.0, 3.0, 4.0]]))
    batch = render.upsample(torch.rand(3, 7, 7), (224, 160))
    assert batch.shape == (3, 224, 160) and batch.dtype == torch.float32


def test_upsample_keeps_normalised_range() -> None:
    out = render.upsample(render.normalize(_map()), (53, 41))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


# --- colour --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cmap", ["viridis", "jet"])
def test_colorize_uses_the_matplotlib_table(cmap: str) -> None:
    values = torch.tensor([[0.0, 0.5, 1.0]])
    rgb = render.colorize(values, cmap)
    reference = matplotlib.colormaps[cmap](np.array([0, 128, 255]) / 255.0)[:, :3] * 255
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb[0].astype(float) - reference).max() <= 0.5 + 1e-9
    assert render.DEFAULT_CMAP == "viridis"


def test_jet_runs_blue_to_red() -> None:
    ends = render.colorize(torch.tensor([[0.0, 1.0]]), "jet")[0]
    assert ends[0].argmax() == 2 and ends[1].argmax() == 0


# --- images --------------------------------------------------------------------------------------


def test_overlay_has_the_image_size_and_blends_with_opacity() -> None:
    image = _image(40, 30)
    saliency = _map()
    out = render.overlay(image, saliency, opacity=0.3, cmap="jet")
    assert out.size == image.size and out.mode == "RGB"
    heat = np.asarray(render.heatmap_image(saliency, image.size, "jet"), dtype=np.float64)
    expected = np.rint(0.7 * np.asarray(image, dtype=np.float64) + 0.3 * heat)
    assert np.abs(np.asarray(out, dtype=np.float64) - expected).max() <= 1
    assert np.array_equal(
        np.asarray(render.overlay(image, saliency, opacity=0.0)), np.asarray(image)
    )


def test_heatmap_image_follows_the_map() -> None:
    saliency = torch.zeros(4, 4)
    saliency[0, 0] = 1.0  # hot corner top-left
    picture = render.heatmap_image(saliency, (32, 24), "viridis")
    assert picture.size == (32, 24)
    array = np.asarray(picture)
    lut = render.colormap_lut("viridis")
    assert np.array_equal(array[0, 0], lut[255]) and np.array_equal(array[-1, -1], lut[0])


def test_shared_scale_renders_a_weak_map_darker() -> None:
    strong, weak = _map(seed=2) * 10, _map(seed=2)
    scale = render.value_range([strong, weak])
    own = np.asarray(render.heatmap_image(weak, (14, 14), "gray"), dtype=float)
    shared = np.asarray(render.heatmap_image(weak, (14, 14), "gray", scale=scale), dtype=float)
    assert shared.mean() < 0.5 * own.mean()


def test_channels_to_rgb_puts_each_map_in_its_channel() -> None:
    maps = torch.zeros(2, 4, 4)
    maps[0, :2] = 1.0  # top half → red
    maps[1, :, :2] = 1.0  # left half → green
    array = np.asarray(render.channels_to_rgb(maps, (4, 4)))
    assert array[0, 3].tolist() == [255, 0, 0]
    assert array[3, 0].tolist() == [0, 255, 0]
    assert array[0, 0].tolist() == [255, 255, 0]
    assert array[3, 3].tolist() == [0, 0, 0]
    assert render.channels_to_rgb(torch.rand(3, 7, 7), (50, 20)).size == (50, 20)


@pytest.mark.parametrize("orientation", ["horizontal", "vertical"])
def test_colorbar_runs_low_to_high(orientation: str) -> None:
    bar = np.asarray(render.colorbar("viridis", 100, 10, orientation))  # type: ignore[arg-type]
    lut = render.colormap_lut("viridis")
    if orientation == "horizontal":
        assert bar.shape == (10, 100, 3)
        low, high = bar[0, 0], bar[0, -1]
    else:
        assert bar.shape == (100, 10, 3)
        low, high = bar[-1, 0], bar[0, 0]
    assert np.array_equal(low, lut[0]) and np.array_equal(high, lut[255])
    labelled = render.colorbar(orientation=orientation, labels=("low", "high"))  # type: ignore[arg-type]
    assert labelled.size[0] >= 16 and labelled.size[1] >= 16


# --- PNG -----------------------------------------------------------------------------------------


def test_png_decodes_with_the_image_size_and_is_deterministic() -> None:
    image = _image(64, 48)
    image.info["comment"] = "must not leak"
    saliency = _map(7, 7)
    first = render.to_png(render.overlay(image, saliency))
    second = render.to_png(render.overlay(image.copy(), saliency.clone()))
    assert first == second
    decoded = _decode(first)
    assert decoded.format == "PNG" and decoded.size == (64, 48) and decoded.mode == "RGB"
    assert not {k for k in decoded.info if k not in ("dpi",)}  # no text, time or profile chunk
    assert b"tIME" not in first and b"tEXt" not in first and b"iCCP" not in first
    heat = _decode(render.to_png(render.heatmap_image(saliency, image.size)))
    assert heat.size == (64, 48)
    assert render.to_png(render.overlay(image, saliency + 0.5 * _map(seed=9))) != first


def test_png_round_trips_pixels() -> None:
    picture = render.channels_to_rgb(torch.rand(3, 5, 6), (12, 10))
    assert np.array_equal(np.asarray(_decode(render.to_png(picture))), np.asarray(picture))
    gray = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4) * 16, mode="L")
    assert _decode(render.to_png(gray)).mode == "L"


@pytest.mark.parametrize("shape", [(9, 13), (9, 13, 3), (9, 13, 4), (1, 1, 3), (300, 2)])
def test_encode_png_round_trips_every_colour_type(shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    data = render.encode_png(pixels)
    decoded = _decode(data)
    channels = 1 if len(shape) == 2 else shape[2]
    assert decoded.mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    assert np.array_equal(np.asarray(decoded), pixels)
    assert _chunks_intact(data)


def _chunks_intact(data: bytes) -> bool:
    """Every chunk's CRC-32 matches (Pillow does not check the CRC of IDAT)."""
    import struct
    import zlib

    position, kinds = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        if zlib.crc32(kind + body) != crc:
            return False
        kinds.append(kind)
        position += 12 + length
    return kinds[0] == b"IHDR" and kinds[-1] == b"IEND"


def test_encode_png_palette_is_lossless_and_refuses_bad_input() -> None:
    table = render.colormap_lut("viridis")
    index = np.arange(256, dtype=np.uint8).reshape(16, 16)
    decoded = _decode(render.encode_png(index, palette=table))
    assert decoded.mode == "P"
    assert np.array_equal(np.asarray(decoded.convert("RGB")), table[index])
    with pytest.raises(ValueError, match="beyond the 4 colours"):
        render.encode_png(index, palette=table[:4])
    with pytest.raises(ValueError, match="uint8"):
        render.encode_png(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="channels"):
        render.encode_png(np.zeros((4, 4, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="palette"):
        render.encode_png(np.zeros((4, 4, 3), dtype=np.uint8), palette=table)


@pytest.mark.parametrize("cmap", ["viridis", "jet"])
def test_rendered_pngs_have_the_pixels_of_overlay_and_heatmap_image(cmap: str) -> None:
    image = _image(64, 48)
    saliency = _map(7, 7, seed=5)
    overlay_png, heatmap_png = render.rendered_pngs(image, saliency, opacity=0.4, cmap=cmap)
    assert np.array_equal(
        np.asarray(_decode(overlay_png)), np.asarray(render.overlay(image, saliency, 0.4, cmap))
    )
    heat = _decode(heatmap_png)
    assert heat.mode == "P" and heat.size == (64, 48)
    assert np.array_equal(
        np.asarray(heat.convert("RGB")),
        np.asarray(render.heatmap_image(saliency, image.size, cmap)),
    )
    assert render.rendered_pngs(image.copy(), saliency.clone(), 0.4, cmap) == (
        overlay_png,
        heatmap_png,
    )


def test_rendered_pngs_batch_gives_the_bytes_of_rendered_pngs() -> None:
    images = [_image(32, 24), _image(32, 24).rotate(180), _image(32, 24).convert("L")]
    maps = torch.stack([_map(5, 6, seed=s) for s in (1, 2, 3)])
    maps[2] = 0.0  # a constant map renders as the colour map's first entry
    expected = [render.rendered_pngs(i, m, 0.3, "jet") for i, m in zip(images, maps, strict=True)]
    assert render.rendered_pngs_batch(images, maps, 0.3, "jet") == expected
    assert render.rendered_pngs_batch(images, maps.numpy(), 0.3, "jet") == expected
    mixed = [_image(32, 24), _image(20, 20)]  # sizes differ: rendered one by one
    assert render.rendered_pngs_batch(mixed, maps[:2]) == [
        render.rendered_pngs(i, m) for i, m in zip(mixed, maps[:2], strict=True)
    ]
    with pytest.raises(ValueError, match="2 maps for 3 images"):
        render.rendered_pngs_batch(images, maps[:2])
    assert render.rendered_pngs_batch([], []) == []
    maps[1, 2, 3] = float("nan")  # a stacked batch is checked once, as a whole
    for batch in (maps, maps.numpy(), list(maps)):
        with pytest.raises(ValueError, match="NaN or infinite"):
            render.rendered_pngs_batch(images, batch)


def test_side_by_side_overlays_share_one_scale() -> None:
    image = _image(20, 20)
    strong, weak = _map(seed=3) * 10, _map(seed=3)
    shared = render.overlays([image, image], [strong, weak], mode="shared", cmap="gray")
    own = render.overlays([image, image], torch.stack([strong, weak]), mode="per_map", cmap="gray")
    assert [o.size for o in shared] == [(20, 20), (20, 20)]
    assert np.array_equal(np.asarray(own[0]), np.asarray(own[1]))  # same shape of map
    assert np.asarray(shared[1], dtype=float).mean() < np.asarray(shared[0], dtype=float).mean()
    with pytest.raises(ValueError, match=r"^maps:"):
        render.overlays([image], [strong, weak])
