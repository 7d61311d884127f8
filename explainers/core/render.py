"""Rendering of saliency and attention maps for studies: scale, upsample, colour, overlay, PNG.

Every step is explicit and deterministic (same input → same PNG bytes on the same install):

1. **Normalisation** (:func:`normalize`) at the map's native resolution, min–max to [0, 1]:
   ``m' = (m − lo) / (hi − lo)``. ``mode="per_map"`` takes ``lo, hi`` from each map;
   ``mode="shared"`` takes one ``lo, hi`` over all the maps given, so maps that a study shows side
   by side keep their relative magnitudes. A constant map (``hi == lo``) becomes all zeros.
   ``symmetric=True`` maps signed attributions to ``0.5 + 0.5·m / max|m|`` (0 ↦ 0.5), for use
   with a diverging colour map.
2. **Upsampling** (:func:`upsample`): bilinear interpolation, ``align_corners=False`` (pixel
   centres are aligned, as ``torch.nn.functional.interpolate`` and PIL do), no antialiasing.
   Bilinear weights are convex, so a map normalised to [0, 1] stays in [0, 1].
3. **Colour** (:func:`colorize`): a 256-entry lookup table, index ``round(255·m')``. The default
   is ``viridis`` (perceptually uniform, readable in grey and by colour-blind viewers); ``jet`` is
   offered because much of the literature uses it. Tables are read from matplotlib once.
4. **Composition**: :func:`overlay` blends ``(1 − opacity)·image + opacity·heat`` with a constant
   opacity; :func:`heatmap_image` is the heat map alone; :func:`channels_to_rgb` shows up to three
   attention maps as the red, green and blue channels (Fig. 8 of the tutorial).
5. **Presentations** (:func:`render_batch`): the conventions of
   :mod:`explainers.core.presentation` (sign, smoothing, percentile/symmetric scaling, opacity
   that grows with saliency, the heat map alone, the masked photograph), of which the steps above
   are the :data:`LEGACY` one. Studies render with these.
6. **PNG** (:func:`to_png`, :func:`encode_png`): pixel data only, no metadata (no time, no text
   chunk, no profile). Every row is written with the PNG "Up" filter and deflated at level 1 by
   ISA-L (``isal``, see :func:`encode_png`). :func:`rendered_pngs`
   writes a map's overlay (RGB) and its heat map as a palette PNG: the heat map's pixels are
   colour-table entries, so the table itself is the PNG palette and the file stores one index
   byte per pixel, losslessly.

Shapes: a map is ``h×w`` (a tensor or an array); a batch of maps ``N×h×w``; images are PIL.
Sizes follow each library: :func:`upsample` takes ``(height, width)`` like torch, the functions
that return PIL images take ``(width, height)`` like ``PIL.Image.size``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from isal import isal_zlib  # the zlib format, by Intel's ISA-L: several times zlib's speed
from PIL import Image, ImageDraw

from explainers.core.presentation import (  # re-exported: render is the presentations' home
    COMPOSITIONS as COMPOSITIONS,
)
from explainers.core.presentation import (
    DEFAULT as DEFAULT,
)
from explainers.core.presentation import (
    DIVERGING_CMAPS as DIVERGING_CMAPS,
)
from explainers.core.presentation import (
    LEGACY as LEGACY,
)
from explainers.core.presentation import (
    PRESETS as PRESETS,
)
from explainers.core.presentation import (
    SCALINGS as SCALINGS,
)
from explainers.core.presentation import (
    SIGNS as SIGNS,
)
from explainers.core.presentation import (
    VISIBILITY_THRESHOLD as VISIBILITY_THRESHOLD,
)
from explainers.core.presentation import (
    Presentation,
    compose,
    scaled,
)
from explainers.core.presentation import (
    PresentationSettingError as PresentationSettingError,
)
from explainers.core.presentation import (
    visibility as visibility,
)
from explainers.core.presentation import (
    weights as weights,
)

MapLike = torch.Tensor | np.ndarray
NormMode = Literal["per_map", "shared"]

DEFAULT_CMAP = "viridis"
#: Colour maps offered to studies (any matplotlib colour map name is also accepted).
COLORMAPS: tuple[str, ...] = (
    "viridis",
    "jet",
    "magma",
    "inferno",
    "plasma",
    "cividis",
    "gray",
    "turbo",
    "coolwarm",
    "RdBu_r",
    "Blues",
)


def _as_tensor(maps: MapLike) -> torch.Tensor:
    tensor = torch.as_tensor(maps).detach().to(device="cpu", dtype=torch.float32)
    if not torch.isfinite(tensor).all():
        raise ValueError("map: contains NaN or infinite values")
    return tensor


def _check_2d(tensor: torch.Tensor, name: str = "map") -> torch.Tensor:
    if tensor.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D map h×w, got shape {tuple(tensor.shape)}")
    return tensor


def _check_opacity(opacity: float) -> float:
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity: must lie in [0, 1], got {opacity}")
    return float(opacity)


def value_range(maps: MapLike | Sequence[MapLike]) -> tuple[float, float]:
    """One ``(lo, hi)`` over all the maps given (the scale of ``normalize(mode="shared")``)."""
    if isinstance(maps, torch.Tensor | np.ndarray):
        flat = _as_tensor(maps).flatten()
    else:
        flat = torch.cat([_as_tensor(m).flatten() for m in maps])
    if flat.numel() == 0:
        raise ValueError("maps: empty")
    return float(flat.min()), float(flat.max())


def normalize(
    maps: MapLike,
    mode: NormMode = "per_map",
    *,
    scale: tuple[float, float] | None = None,
    symmetric: bool = False,
) -> torch.Tensor:
    """Min–max normalise ``maps`` (``h×w`` or ``N×h×w``) to [0, 1]; float32 tensor, same shape.

    ``m' = clip((m − lo) / (hi − lo), 0, 1)`` with ``lo, hi`` per map (``"per_map"``), over all
    maps (``"shared"``), or given as ``scale``. ``hi == lo`` gives zeros. With ``symmetric``:
    ``m' = 0.5 + 0.5·m / s``, ``s = max|m|`` (per map, shared, or ``max(|lo|, |hi|)`` of
    ``scale``), so zero attribution is the colour map's midpoint.
    """
    if mode not in ("per_map", "shared"):
        raise ValueError(f"mode: expected 'per_map' or 'shared', got {mode!r}")
    tensor = _as_tensor(maps)
    if tensor.ndim not in (2, 3):
        raise ValueError(f"maps: expected h×w or N×h×w, got shape {tuple(tensor.shape)}")
    out = _normalized(tensor if tensor.ndim == 3 else tensor[None], scale, mode, symmetric)
    return out if tensor.ndim == 3 else out[0]


def _normalized(
    batch: torch.Tensor, scale: tuple[float, float] | None, mode: NormMode, symmetric: bool
) -> torch.Tensor:
    """:func:`normalize` of a checked ``N×h×w`` float32 batch."""
    if scale is not None:
        lo = torch.full((batch.shape[0], 1, 1), float(scale[0]))
        hi = torch.full((batch.shape[0], 1, 1), float(scale[1]))
    elif mode == "shared":
        lo = batch.amin().expand(batch.shape[0]).reshape(-1, 1, 1)
        hi = batch.amax().expand(batch.shape[0]).reshape(-1, 1, 1)
    else:
        lo, hi = batch.amin(dim=(1, 2), keepdim=True), batch.amax(dim=(1, 2), keepdim=True)
    if symmetric:
        half = torch.maximum(lo.abs(), hi.abs())
        out = torch.where(half > 0, 0.5 + 0.5 * batch / half.clamp_min(1e-30), 0.5)
    else:
        span = hi - lo
        out = torch.where(span > 0, (batch - lo) / span.clamp_min(1e-30), 0.0)
    return out.clamp(0.0, 1.0).to(torch.float32)


def upsample(maps: MapLike, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``h×w`` or ``N×h×w`` maps to ``size = (height, width)``.

    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)``:
    output pixel ``(i, j)`` samples the input at ``((i + ½)·h/H − ½, (j + ½)·w/W − ½)``, clamped
    at the borders. Returns a float32 tensor ``H×W`` or ``N×H×W``.
    """
    height, width = (int(size[0]), int(size[1]))
    if height < 1 or width < 1:
        raise ValueError(f"size: expected positive (height, width), got {size}")
    tensor = _as_tensor(maps)
    if tensor.ndim not in (2, 3):
        raise ValueError(f"maps: expected h×w or N×h×w, got shape {tuple(tensor.shape)}")
    out = _resized(tensor if tensor.ndim == 3 else tensor[None], height, width)
    return out if tensor.ndim == 3 else out[0]


def _resized(batch: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """:func:`upsample` of a checked ``N×h×w`` float32 batch (a new tensor)."""
    if tuple(batch.shape[1:]) == (height, width):
        return batch.clone()
    return F.interpolate(
        batch[:, None], size=(height, width), mode="bilinear", align_corners=False, antialias=False
    )[:, 0]


@cache
def _lut(name: str) -> np.ndarray:
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"cmap: unknown colour map {name!r}; e.g. {', '.join(COLORMAPS)}"
        ) from None
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    table = np.rint(np.asarray(rgba)[:, :3] * 255.0).astype(np.uint8)
    table.setflags(write=False)
    return table


def colormap_lut(cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """The 256×3 uint8 lookup table of ``cmap`` (read-only)."""
    return _lut(cmap)


def colorize(normalized: MapLike, cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """Colour an ``h×w`` map with values in [0, 1] (see :func:`normalize`): ``h×w×3`` uint8.

    Lookup index ``round(255·m)``; values outside [0, 1] are clipped.
    """
    return _lut(cmap)[_indices(_check_2d(_as_tensor(normalized))).numpy()]


def _indices(normalized: torch.Tensor) -> torch.Tensor:
    """Colour-table indices ``round(255·m)`` of maps with values in [0, 1] (clipped): uint8."""
    return torch.round(normalized.clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def _prepared(
    saliency: MapLike,
    size: tuple[int, int],
    mode: NormMode,
    scale: tuple[float, float] | None,
    symmetric: bool,
) -> torch.Tensor:
    """Normalise at native resolution, then upsample to ``size = (width, height)``."""
    normalized = normalize(_check_2d(_as_tensor(saliency)), mode, scale=scale, symmetric=symmetric)
    return upsample(normalized, (size[1], size[0]))


def heatmap_image(
    saliency: MapLike,
    size: tuple[int, int] | None = None,
    cmap: str = DEFAULT_CMAP,
    *,
    scale: tuple[float, float] | None = None,
    symmetric: bool = False,
) -> Image.Image:
    """The coloured map alone as an RGB image of ``size = (width, height)`` (default: map size).

    Per-map normalisation unless ``scale`` (e.g. :func:`value_range` over the maps shown side by
    side) is given.
    """
    rgb = _lut(cmap)[_heat_indices(saliency, size, scale, symmetric)]
    return Image.fromarray(rgb, mode="RGB")


def _heat_indices(
    saliency: MapLike,
    size: tuple[int, int] | None,
    scale: tuple[float, float] | None,
    symmetric: bool,
) -> np.ndarray:
    tensor = _check_2d(_as_tensor(saliency))
    size = size or (tensor.shape[1], tensor.shape[0])
    return _indices(_prepared(tensor, size, "per_map", scale, symmetric)).numpy()


def blend(image: Image.Image, layer: Image.Image, opacity: float = 0.5) -> Image.Image:
    """``round((1 − opacity)·image + opacity·layer)`` per pixel and channel; RGB, same size."""
    opacity = _check_opacity(opacity)
    if image.size != layer.size:
        raise ValueError(f"layer: size {layer.size} differs from the image's {image.size}")
    mixed = _blend_arrays(
        np.asarray(image.convert("RGB")), np.asarray(layer.convert("RGB")), opacity
    )
    return Image.fromarray(mixed, mode="RGB")


def _blend_arrays(base: np.ndarray, top: np.ndarray, opacity: float) -> np.ndarray:
    mixed = (1.0 - opacity) * base.astype(np.float32) + opacity * top.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def overlay(
    image: Image.Image,
    saliency: MapLike,
    opacity: float = 0.5,
    cmap: str = DEFAULT_CMAP,
    *,
    scale: tuple[float, float] | None = None,
    symmetric: bool = False,
) -> Image.Image:
    """The coloured map blended over ``image`` (RGB, the image's size) with constant ``opacity``.

    The ``h×w`` map is normalised (per map, or with the shared ``scale``), upsampled bilinearly to
    the image's size, coloured with ``cmap`` and blended: ``(1 − opacity)·image + opacity·heat``.
    """
    heat = heatmap_image(saliency, image.size, cmap, scale=scale, symmetric=symmetric)
    return blend(image, heat, opacity)


def rendered_pngs(
    image: Image.Image,
    saliency: MapLike,
    opacity: float = 0.5,
    cmap: str = DEFAULT_CMAP,
) -> tuple[bytes, bytes]:
    """``(overlay PNG, heat-map PNG)`` of one map at the image's size, per-map normalisation.

    The pixels are those of ``overlay(image, saliency, opacity, cmap)`` and of
    ``heatmap_image(saliency, image.size, cmap)``; the heat map is computed once for both and
    stored as a palette PNG whose palette is the colour table (one byte per pixel, lossless).
    """
    return rendered_pngs_batch([image], [saliency], opacity, cmap)[0]


def rendered_pngs_batch(
    images: Sequence[Image.Image],
    maps: MapLike | Sequence[MapLike],
    opacity: float = 0.5,
    cmap: str = DEFAULT_CMAP,
) -> list[tuple[bytes, bytes]]:
    """:func:`rendered_pngs` of each ``(image, map)`` pair, with the same bytes.

    The :data:`LEGACY` presentation with this ``opacity`` and ``cmap`` (:func:`render_batch`):
    images of one size and maps of one shape run as batched tensor operations, which use every
    core; only the PNG encoding is done map by map.
    """
    legacy = replace(LEGACY, opacity=_check_opacity(opacity), cmap=cmap)
    return render_batch(images, maps, legacy)


@cache
def _packed_lut_tensor(name: str) -> torch.Tensor:
    """The colour table as 256 little-endian RGBx words (int32): indexing 4-byte words is
    several times faster than indexing rows of 3 bytes; seen as h×w×4 bytes, ``[..., :3]`` is RGB.
    """
    packed = np.zeros((256, 4), dtype=np.uint8)
    packed[:, :3] = _lut(name)
    return torch.from_numpy(packed.view("<i4").reshape(256).copy())


def overlays(
    images: Sequence[Image.Image],
    maps: MapLike | Sequence[MapLike],
    mode: NormMode = "shared",
    opacity: float = 0.5,
    cmap: str = DEFAULT_CMAP,
) -> list[Image.Image]:
    """Overlays of maps that a study shows side by side, on one normalisation.

    ``mode="shared"`` (default) scales every map with the one ``(lo, hi)`` of
    :func:`value_range` over all of them, so a weaker map looks weaker; ``"per_map"`` scales
    each map to its own range. One image per map (the same image may be repeated).
    """
    if mode not in ("per_map", "shared"):
        raise ValueError(f"mode: expected 'per_map' or 'shared', got {mode!r}")
    saliency = list(maps)  # a N×h×w tensor or array iterates over its maps
    if len(saliency) != len(images):
        raise ValueError(f"maps: {len(saliency)} maps for {len(images)} images")
    scale = value_range(saliency) if mode == "shared" else None
    return [
        overlay(image, m, opacity, cmap, scale=scale)
        for image, m in zip(images, saliency, strict=True)
    ]


def channels_to_rgb(
    maps: MapLike,
    size: tuple[int, int] | None = None,
    mode: NormMode = "per_map",
) -> Image.Image:
    """Up to three attention maps ``K×h×w`` (K ≤ 3) as the R, G, B channels of one image.

    As in Fig. 8 of the tutorial: the first map is red, the second green, the third blue; missing
    channels are black. Each map is normalised (``per_map``, or ``shared`` to keep their relative
    strength), upsampled bilinearly to ``size = (width, height)`` (default: map size), and
    ``channel = round(255·m')``. Blend it over the image with :func:`blend`.
    """
    tensor = _as_tensor(maps)
    if tensor.ndim != 3 or not 1 <= tensor.shape[0] <= 3:
        raise ValueError(f"maps: expected K×h×w with 1 ≤ K ≤ 3, got shape {tuple(tensor.shape)}")
    size = size or (tensor.shape[2], tensor.shape[1])
    channels = upsample(normalize(tensor, mode), (size[1], size[0]))
    rgb = torch.zeros((3, size[1], size[0]))
    rgb[: channels.shape[0]] = channels
    array = torch.round(rgb.clamp(0.0, 1.0) * 255.0).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array), mode="RGB")


def colorbar(
    cmap: str = DEFAULT_CMAP,
    length: int = 256,
    thickness: int = 16,
    orientation: Literal["horizontal", "vertical"] = "horizontal",
    labels: tuple[str, str] | None = None,
) -> Image.Image:
    """A colour-bar legend: the colour map from low to high (left→right, or bottom→top).

    ``labels`` (e.g. ``("low", "high")``) are written under (beside) the ends in Pillow's
    default font on a white band.
    """
    if length < 2 or thickness < 1:
        raise ValueError(
            f"length/thickness: expected length ≥ 2 and thickness ≥ 1, got {length} and {thickness}"
        )
    if orientation not in ("horizontal", "vertical"):
        raise ValueError(f"orientation: expected 'horizontal' or 'vertical', got {orientation!r}")
    ramp = colorize(torch.linspace(0.0, 1.0, length)[None, :], cmap)[0]
    bar = np.repeat(ramp[None, :, :], thickness, axis=0)
    if orientation == "vertical":
        bar = np.ascontiguousarray(bar.transpose(1, 0, 2)[::-1])
    image = Image.fromarray(bar, mode="RGB")
    if labels is None:
        return image
    band = 14
    if orientation == "horizontal":
        canvas = Image.new("RGB", (length, thickness + band), "white")
        canvas.paste(image, (0, 0))
        draw = ImageDraw.Draw(canvas)
        draw.text((0, thickness + 1), labels[0], fill="black")
        right = draw.textlength(labels[1])
        draw.text((max(length - right, 0), thickness + 1), labels[1], fill="black")
    else:
        width = thickness + 4 + int(max(ImageDraw.Draw(image).textlength(t) for t in labels))
        canvas = Image.new("RGB", (width, length), "white")
        canvas.paste(image, (0, 0))
        draw = ImageDraw.Draw(canvas)
        draw.text((thickness + 4, 0), labels[1], fill="black")
        draw.text((thickness + 4, max(length - band, 0)), labels[0], fill="black")
    return canvas


def to_png(image: Image.Image) -> bytes:
    """PNG bytes of ``image`` with pixel data only (no metadata), hence identical for identical
    pixels. Modes other than L, RGB and RGBA are converted to RGB. See :func:`encode_png`."""
    mode = image.mode if image.mode in ("L", "RGB", "RGBA") else "RGB"
    source = image.convert(mode) if mode != image.mode else image
    return encode_png(np.asarray(source))


_PNG_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels → grey, RGB, RGBA


def encode_png(pixels: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """A minimal 8-bit PNG (W3C PNG specification, 2nd ed.) of ``h×w`` grey or palette indices,
    or ``h×w×3`` RGB, or ``h×w×4`` RGBA uint8 pixels; ``palette``: up to 256×3 uint8 colours.

    Chunks IHDR, [PLTE], one IDAT, IEND; no interlacing. Every scanline uses filter type 2 (Up):
    ``Filt(x) = Orig(x) − Orig(b) mod 256`` with ``b`` the byte above (0 on the first row), which
    turns smooth images into small residuals in one vectorised subtraction. The residuals are
    deflated by ISA-L at level 1 (fast string matching with Huffman coding). On 224×224 maps this
    takes 0.1–0.6 ms for an overlay of a photograph and about 0.1 ms for a palette heat map: a
    fraction of Pillow's encoder at level 1 (which tries every filter on every row), for files
    about as large. Encoding was most of the precompute pipeline's cost beyond the engine for
    fast methods (bench/precompute.py).
    """
    array = np.asarray(pixels)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(
            f"pixels: expected a non-empty h×w[×c] uint8 array, got {array.dtype} {array.shape}"
        )
    channels = 1 if array.ndim == 2 else array.shape[2]
    if channels not in _PNG_COLOUR_TYPES:
        raise ValueError(f"pixels: expected 1, 3 or 4 channels, got {channels}")
    colour_type = _PNG_COLOUR_TYPES[channels]
    chunks = []
    if palette is not None:
        table = np.asarray(palette, dtype=np.uint8)
        if channels != 1 or table.ndim != 2 or table.shape[1] != 3 or not 1 <= len(table) <= 256:
            raise ValueError("palette: expected up to 256×3 colours for h×w index pixels")
        if int(array.max()) >= len(table):
            raise ValueError(f"pixels: index {int(array.max())} beyond the {len(table)} colours")
        colour_type = 3
        chunks.append((b"PLTE", table.tobytes()))
    height, width = array.shape[:2]
    rows = np.ascontiguousarray(array).reshape(height, width * channels)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    idat = isal_zlib.compress(filtered.tobytes(), 1)
    chunks = [(b"IHDR", header), *chunks, (b"IDAT", idat), (b"IEND", b"")]
    out = [b"\x89PNG\r\n\x1a\n"]
    for kind, data in chunks:
        out += [
            struct.pack(">I", len(data)),
            kind,
            data,
            struct.pack(">I", isal_zlib.crc32(kind + data) & 0xFFFFFFFF),
        ]
    return b"".join(out)


# --- presentation conventions (explainers.core.presentation) ----------------------------------


def _photos(images: Sequence[Image.Image]) -> torch.Tensor:
    return torch.from_numpy(
        np.stack([np.asarray(i if i.mode == "RGB" else i.convert("RGB")) for i in images])
    ).to(torch.float32)


def presented(
    images: Sequence[Image.Image], maps: MapLike | Sequence[MapLike], presentation: Presentation
) -> tuple[np.ndarray, np.ndarray]:
    """``(pictures N×H×W×3 uint8, colour-table indices N×H×W uint8)`` of same-size images and
    same-shape maps under ``presentation`` (see :mod:`explainers.core.presentation`)."""
    if isinstance(maps, torch.Tensor | np.ndarray) and np.ndim(maps) == 3:
        stacked = _as_tensor(maps)
    else:
        stacked = torch.stack([_check_2d(_as_tensor(m)) for m in maps])
    if stacked.shape[0] != len(images):
        raise ValueError(f"maps: {stacked.shape[0]} maps for {len(images)} images")
    if len({image.size for image in images}) != 1:
        raise ValueError("images: presented() takes images of one size; see render_batch()")
    width, height = images[0].size
    shown = _resized(scaled(stacked, presentation), height, width)
    index = _indices(shown)
    heat = _packed_lut_tensor(presentation.cmap)[index.to(torch.int64)].view(torch.uint8)
    heat = heat.reshape(len(images), height, width, 4)[..., :3].to(torch.float32)
    pictures = compose(_photos(images), shown, heat, presentation)
    return pictures.numpy(), index.numpy()


def render_batch(
    images: Sequence[Image.Image], maps: MapLike | Sequence[MapLike], presentation: Presentation
) -> list[tuple[bytes, bytes]]:
    """``(stimulus PNG, heat-map PNG)`` of each ``(image, map)`` under ``presentation``.

    The stimulus is what a participant sees (RGB at the image's size); the heat map is the
    coloured scaled map alone, as a palette PNG whose palette is the colour table. Images of one
    size and maps of one shape are drawn as one batch of tensor operations; the same inputs give
    the same bytes. :data:`LEGACY` gives the bytes of :func:`rendered_pngs_batch` (opacity 0.5,
    viridis), i.e. what maps showed before presentations existed.
    """
    if isinstance(maps, torch.Tensor | np.ndarray) and np.ndim(maps) == 3:
        batch = list(_as_tensor(maps))
    else:
        batch = [_check_2d(_as_tensor(m)) for m in maps]
    if len(batch) != len(images):
        raise ValueError(f"maps: {len(batch)} maps for {len(images)} images")
    groups: dict[tuple[tuple[int, int], tuple[int, ...]], list[int]] = {}
    for k, (image, saliency) in enumerate(zip(images, batch, strict=True)):
        groups.setdefault((image.size, tuple(saliency.shape)), []).append(k)
    out: list[tuple[bytes, bytes]] = [(b"", b"")] * len(batch)
    table = _lut(presentation.cmap)
    for members in groups.values():
        pictures, indices = presented(
            [images[k] for k in members], torch.stack([batch[k] for k in members]), presentation
        )
        for k, picture, index in zip(members, pictures, indices, strict=True):
            out[k] = (encode_png(picture), encode_png(index, palette=table))
    return out


def render_image(image: Image.Image, saliency: MapLike, presentation: Presentation) -> Image.Image:
    """The stimulus of one map under ``presentation`` as a PIL image (the image's size)."""
    pictures, _ = presented([image], _check_2d(_as_tensor(saliency))[None], presentation)
    return Image.fromarray(pictures[0], mode="RGB")


def legend_labels(presentation: Presentation) -> tuple[str, ...]:
    """The words at the legend's ends (and middle): what low and high colours mean."""
    return ("negative", "0", "positive") if presentation.signed else ("low", "high")


def legend(presentation: Presentation, length: int = 256, thickness: int = 16) -> Image.Image:
    """The colour-scale legend of ``presentation``: its colour map from 0 to 1, labelled."""
    labels = legend_labels(presentation)
    return colorbar(presentation.cmap, length, thickness, labels=(labels[0], labels[-1]))


def map_visibility(image: Image.Image, saliency: MapLike, presentation: Presentation) -> float:
    """The visibility figure of one map under ``presentation`` (see
    :mod:`explainers.core.presentation`): the map is drawn over a uniform picture of ``image``'s
    mean colour, so that the contrast the photograph has of itself (an object against its
    background) is not counted as the map's, and :func:`visibility` compares that rendering with
    the uniform picture, ranking the pixels by the sign-transformed map upsampled to the image
    (before any clipping)."""
    tensor = _check_2d(_as_tensor(saliency))
    photo = np.asarray(image.convert("RGB"))
    mean = np.rint(photo.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    flat = Image.fromarray(np.broadcast_to(mean, photo.shape).copy(), mode="RGB")
    width, height = image.size
    salience = weights(scaled(tensor[None], _ranking(presentation)), presentation)
    ranking = _resized(salience, height, width)[0]
    return visibility(flat, render_image(flat, tensor, presentation), ranking)


def _ranking(presentation: Presentation) -> Presentation:
    """The presentation's sign and smoothing with neither clipping nor a shifted zero: the order
    of its values is the order of the map's salience as that presentation reads it."""
    if presentation.signed:
        return Presentation(
            sign="signed", scaling="symmetric", smoothing=presentation.smoothing, cmap="RdBu_r"
        )
    return Presentation(sign=presentation.sign, scaling="minmax", smoothing=presentation.smoothing)
