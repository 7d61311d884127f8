"""Presentation conventions: how a raw saliency map becomes the picture a participant sees.

A :class:`Presentation` is a named, deterministic recipe of four steps, applied to the raw map
``m`` (``h×w``, the method's own resolution) and the photograph ``P`` (``H×W×3``, the model's view):

1. **Sign** (``sign``): which part of a signed attribution is shown —
   ``absolute`` ``v = |m|``; ``positive`` ``v = max(m, 0)``; ``negative`` ``v = max(−m, 0)``;
   ``signed`` ``v = m`` (drawn with a diverging colour map, 0 at its neutral midpoint);
   ``none`` ``v = m`` as computed (the legacy convention). As Captum's ``visualize_image_attr``
   ``sign`` argument (Kokhlikyan et al., 2020, arXiv:2009.07896).
2. **Smoothing** (``smoothing``): an optional Gaussian blur of ``v`` at native resolution with
   ``σ = smoothing · max(h, w)`` pixels (separable kernel of radius ``⌈3σ⌉``, reflected borders);
   ``σ < 0.25`` px is no blur. It joins the isolated pixels of pixel-level attributions into
   regions that can be seen at the size a participant views them (cf. the smoothing of SmoothGrad
   maps for display, Smilkov et al., 2017, arXiv:1706.03825); CAM maps of 7×7 are unchanged.
3. **Scaling** (``scaling``) to ``s ∈ [0, 1]``:
   ``minmax`` ``s = (v − min v) / (max v − min v)`` (today's, Selvaraju et al. 2017);
   ``percentile`` clips the top ``p`` % (``percentile``, default 2): ``s = clip((v − min v) /
   (q − min v), 0, 1)`` with ``q`` the ``(100 − p)``-th percentile of ``v`` (linear
   interpolation); when ``q ≤ min v`` (a map that is constant almost everywhere) ``q = max v``.
   The floor is the map's minimum, not 0: for gradient magnitudes the two agree (their minimum is
   about 0) and a region without saliency stays 0, while maps with an offset (RISE's are mean
   class scores, all well above 0) keep their contrast instead of turning into a uniform wash.
   This is the intent of Captum's ``outlier_perc`` (whose threshold is taken on the cumulative
   sum of sorted values rather than on their count; we use the plain percentile, so "the top
   p % of pixels saturate" holds exactly). A single extreme pixel therefore no longer sets the
   scale of the whole map.
   ``symmetric`` (signed maps) ``s = ½ + ½·v / a`` clipped, ``a = max|v|``; signed maps under
   ``percentile`` take ``a`` as the ``(100 − p)``-th percentile of ``|v|``. 0 ↦ ½ always.
   ``s`` is then upsampled bilinearly to the photograph's size (``render.upsample``).
4. **Composition** (``composition``) of the colour ``C = cmap(round(255·s))`` with ``P``, at
   ``opacity`` ``α``: ``constant`` ``R = (1 − α)·P + α·C`` (today's);
   ``saliency_opacity`` ``R = P + α·w·(C − P)`` with ``w = s`` (or ``w = |2s − 1|`` for signed
   maps), so regions without saliency show the photograph untouched (as the "alpha scaling" of
   Captum's ``blended_heat_map`` and of Grad-CAM demonstrations); ``heatmap`` ``R = C``;
   ``mask`` ``R = P`` on the ``top_k`` % most salient pixels (the ``round(n·top_k/100)`` largest
   ``w``, ties kept, and ``w > 0``) and black elsewhere (the "masked image" of Petsiuk et al., 2018,
   and of the deletion/insertion curves of METHODS.md). Values are rounded to 8 bits.

**Visibility** (:func:`visibility`, measured by ``render.map_visibility``): how much the
rendering sets the map's most salient pixels apart from its least salient ones. The map is drawn
over a uniform picture ``P̄`` of the photograph's mean colour (so that the photograph's own
contrast, an object against its background, does not count as the map's); with ``D = R − P̄``,
``top`` the 10 % most and ``bottom`` the 50 % least salient pixels (ranked by ``w`` before
clipping, i.e. by the sign-transformed map):
``V = ‖mean_top D − mean_bottom D‖₂ / (255·√3)`` ∈ [0, 1]. A uniform tint (the same change
everywhere, as min–max scaling gives a pixel-level map with one extreme pixel) scores about 0
however strong; a map drawn only where it is salient scores its colour distance from the
picture there. :data:`VISIBILITY_THRESHOLD` is the bar every method's default presentation
passes on the shared ImageNet photographs (``bench/visibility.py``,
``tests/explainers/core/test_visibility.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

SIGNS = ("absolute", "positive", "negative", "signed", "none")
SCALINGS = ("minmax", "percentile", "symmetric")
COMPOSITIONS = ("constant", "saliency_opacity", "heatmap", "mask")
#: Diverging colour maps (0 at the midpoint): the ones a ``signed`` presentation may use.
DIVERGING_CMAPS = (
    "RdBu_r",
    "RdBu",
    "coolwarm",
    "bwr",
    "seismic",
    "PiYG",
    "PRGn",
    "BrBG",
    "PuOr",
    "RdGy",
    "RdYlBu",
    "RdYlGn",
    "Spectral",
)
#: Visibility (see the module docstring) that the default presentation reaches for every method.
VISIBILITY_THRESHOLD = 0.1
_TOP, _BOTTOM = 0.10, 0.50  # the salient and unsalient shares compared by :func:`visibility`
_MIN_SIGMA = 0.25  # px: a Gaussian narrower than this leaves a map as it is (weights < 4e-4)


class PresentationSettingError(ValueError):
    """A setting outside its domain; the message starts with ``presentation.<field>:``."""


def _number(name: str, value: Any, lo: float, hi: float, *, open_lo: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PresentationSettingError(f"presentation.{name}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < lo or number > hi or (open_lo and number == lo):
        side = "(" if open_lo else "["
        raise PresentationSettingError(
            f"presentation.{name}: must lie in {side}{lo:g}, {hi:g}], got {value!r}"
        )
    return number


def _choice(name: str, value: Any, options: Sequence[str]) -> str:
    if value not in options:
        raise PresentationSettingError(
            f"presentation.{name}: expected one of {', '.join(options)}, got {value!r}"
        )
    return str(value)


@cache
def _known_cmap(name: str) -> bool:
    import matplotlib

    return name in matplotlib.colormaps


@dataclass(frozen=True)
class Presentation:
    """One convention (see the module docstring); frozen, validated, identified by :attr:`key`."""

    scaling: str = "percentile"
    percentile: float = 2.0
    sign: str = "absolute"
    smoothing: float = 0.005
    composition: str = "saliency_opacity"
    opacity: float = 0.8
    top_k: float = 20.0
    cmap: str = "inferno"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "scaling", _choice("scaling", self.scaling, SCALINGS))
        set_(self, "sign", _choice("sign", self.sign, SIGNS))
        set_(self, "composition", _choice("composition", self.composition, COMPOSITIONS))
        set_(self, "percentile", _number("percentile", self.percentile, 0.0, 50.0))
        set_(self, "smoothing", _number("smoothing", self.smoothing, 0.0, 0.1))
        set_(self, "opacity", _number("opacity", self.opacity, 0.0, 1.0))
        set_(self, "top_k", _number("top_k", self.top_k, 0.0, 100.0, open_lo=True))
        if not isinstance(self.cmap, str):
            raise PresentationSettingError(f"presentation.cmap: expected a name, got {self.cmap!r}")
        if not _known_cmap(self.cmap):
            raise PresentationSettingError(
                f"presentation.cmap: unknown colour map {self.cmap!r} (e.g. viridis, inferno, "
                "magma, jet, RdBu_r, coolwarm)"
            )
        if self.sign == "signed":
            if self.scaling == "minmax":
                raise PresentationSettingError(
                    "presentation.scaling: a signed map needs 'symmetric' or 'percentile' "
                    "scaling, so that 0 stays at the colour map's neutral midpoint"
                )
            if self.cmap not in DIVERGING_CMAPS:
                raise PresentationSettingError(
                    f"presentation.cmap: a signed map needs a diverging colour map "
                    f"({', '.join(DIVERGING_CMAPS[:4])}…), got {self.cmap!r}"
                )
        elif self.scaling == "symmetric":
            raise PresentationSettingError(
                "presentation.scaling: 'symmetric' is for signed maps (sign='signed')"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings, as stored in study files and render rows."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Presentation:
        """Settings → convention; missing settings take the defaults, unknown ones are refused."""
        names = [f.name for f in fields(cls)]
        if unknown := sorted(set(data) - set(names)):
            raise PresentationSettingError(
                f"presentation.{unknown[0]}: unknown setting (known: {', '.join(names)})"
            )
        return cls(**{name: data[name] for name in names if name in data})

    @property
    def key(self) -> str:
        """SHA-256 of the canonical settings: the same convention has the same key everywhere."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def signed(self) -> bool:
        return self.sign == "signed"

    def describe(self) -> str:
        """One sentence for codebooks and methods sections."""
        sign = {
            "absolute": "absolute attribution values",
            "positive": "positive attributions only",
            "negative": "negative attributions only (as magnitudes)",
            "signed": "signed attributions (0 at the colour map's neutral midpoint)",
            "none": "attribution values as computed",
        }[self.sign]
        if self.scaling == "minmax":
            scale = "scaled min–max per map"
        elif self.scaling == "percentile":
            scale = f"scaled per map with the top {self.percentile:g} % saturated"
        else:
            scale = "scaled symmetrically around 0 by the largest magnitude"
        if self.composition == "mask":
            shown = f"the photograph shown only on its {self.top_k:g} % most salient pixels"
        elif self.composition == "heatmap":
            shown = f"the heat map alone ({self.cmap})"
        elif self.composition == "constant":
            shown = f"a {self.cmap} heat map over the photograph at opacity {self.opacity:g}"
        else:
            shown = (
                f"a {self.cmap} heat map over the photograph, its opacity growing with saliency "
                f"up to {self.opacity:g}"
            )
        smooth = (
            f", Gaussian smoothing σ = {100 * self.smoothing:g} % of the map's side"
            if self.smoothing
            else ""
        )
        return f"{sign}, {scale}{smooth}; {shown}"


#: Today's rendering before presentations existed: studies launched with it keep their pictures.
LEGACY = Presentation(
    scaling="minmax",
    percentile=0.0,
    sign="none",
    smoothing=0.0,
    composition="constant",
    opacity=0.5,
    cmap="viridis",
)
#: Visible for every method on real photographs (see :func:`visibility`).
DEFAULT = Presentation()
PRESETS: dict[str, Presentation] = {
    "default": DEFAULT,
    "legacy": LEGACY,
    # Captum's visualize_image_attr defaults: blended_heat_map, absolute_value, outlier_perc 2,
    # alpha_overlay 0.5, the Blues colour map
    "captum": replace(LEGACY, scaling="percentile", percentile=2.0, sign="absolute", cmap="Blues"),
    "signed": Presentation(sign="signed", cmap="RdBu_r"),
    "heatmap": Presentation(composition="heatmap"),
    "mask": Presentation(composition="mask", top_k=20.0),
}


# --- the recipe ---------------------------------------------------------------------------------


def _signed_values(batch: torch.Tensor, sign: str) -> torch.Tensor:
    if sign == "absolute":
        return batch.abs()
    if sign == "positive":
        return batch.clamp_min(0.0)
    if sign == "negative":
        return (-batch).clamp_min(0.0)
    return batch


def _smoothed(batch: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Separable Gaussian blur with ``σ = smoothing·max(h, w)`` (reflect borders)."""
    height, width = batch.shape[1:]
    sigma = smoothing * max(height, width)
    if sigma < _MIN_SIGMA:
        return batch
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(torch.float32)
    out = batch[:, None]
    # reflection needs a border narrower than the map; a larger radius pads by replication
    mode = "reflect" if radius < min(height, width) else "replicate"
    out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode=mode), kernel.view(1, 1, 1, -1))
    out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode=mode), kernel.view(1, 1, -1, 1))
    return out[:, 0]


def _upper(values: torch.Tensor, percentile: float) -> torch.Tensor:
    """Per map, the ``(100 − percentile)``-th percentile of ``N×h×w`` values: ``N×1×1``."""
    flat = values.flatten(1)
    if percentile <= 0:
        return flat.amax(dim=1).view(-1, 1, 1)
    return torch.quantile(flat, 1.0 - percentile / 100.0, dim=1).view(-1, 1, 1)


def scaled(maps: torch.Tensor, presentation: Presentation) -> torch.Tensor:
    """Steps 1–3 at native resolution: ``N×h×w`` raw maps → ``s ∈ [0, 1]`` (float32)."""
    batch = maps.to(torch.float32)
    values = _smoothed(_signed_values(batch, presentation.sign), presentation.smoothing)
    if presentation.signed:
        percentile = presentation.percentile if presentation.scaling == "percentile" else 0.0
        half = _upper(values.abs(), percentile)
        out = torch.where(half > 0, 0.5 + 0.5 * values / half.clamp_min(1e-30), 0.5)
        return out.clamp(0.0, 1.0)
    lo = values.amin(dim=(1, 2), keepdim=True)
    hi = values.amax(dim=(1, 2), keepdim=True)
    if presentation.scaling == "percentile":
        upper = _upper(values, presentation.percentile)
        hi = torch.where(upper > lo, upper, hi)
    span = hi - lo
    return torch.where(span > 0, (values - lo) / span.clamp_min(1e-30), 0.0).clamp(0.0, 1.0)


def weights(shown: torch.Tensor, presentation: Presentation) -> torch.Tensor:
    """How salient each pixel is as drawn: ``s``, or ``|2s − 1|`` for signed maps."""
    return (2.0 * shown - 1.0).abs() if presentation.signed else shown


def _top_mask(weight: torch.Tensor, top_k: float) -> torch.Tensor:
    """Per picture, the pixels with ``w > 0`` and ``w ≥ t``, ``t`` the ``k``-th largest ``w`` for
    ``k = max(1, round(n·top_k/100))`` of ``n`` pixels (ties at ``t`` are all kept)."""
    flat = weight.flatten(1)
    n = flat.shape[1]
    count = min(n, max(1, round(n * top_k / 100.0)))
    threshold = flat.kthvalue(n - count + 1, dim=1).values.view(-1, 1, 1)  # counts from 1
    return (weight >= threshold) & (weight > 0)


def compose(
    photos: torch.Tensor, shown: torch.Tensor, heat: torch.Tensor, presentation: Presentation
) -> torch.Tensor:
    """Step 4: ``N×H×W×3`` float photographs, upsampled ``s`` (``N×H×W``) and its colours
    (``N×H×W×3`` float) → the rendered pictures, uint8 ``N×H×W×3``."""
    alpha = presentation.opacity
    composition = presentation.composition
    if composition == "heatmap":
        mixed = heat
    elif composition == "constant":  # the legacy arithmetic, byte for byte
        mixed = photos.mul(1.0 - alpha).add_(heat.mul(alpha))
    elif composition == "saliency_opacity":
        a = (alpha * weights(shown, presentation))[..., None]
        mixed = photos + a * (heat - photos)
    else:
        keep = _top_mask(weights(shown, presentation), presentation.top_k)
        mixed = photos * keep[..., None]
    return mixed.round().clamp(0, 255).to(torch.uint8)


def visibility(
    photo: np.ndarray | Image.Image,
    rendered: np.ndarray | Image.Image,
    salience: torch.Tensor | np.ndarray,
) -> float:
    """``V = ‖mean_top D − mean_bottom D‖ / (255·√3)``, ``D = rendered − photo`` (see above).

    ``salience`` ranks the pixels (``H×W``, the picture's size; e.g. the upsampled
    sign-transformed map): ``top`` its 10 % highest, ``bottom`` its 50 % lowest.
    """
    before = np.asarray(photo, dtype=np.float64)
    after = np.asarray(rendered, dtype=np.float64)
    rank = np.asarray(salience, dtype=np.float64).ravel()
    if before.shape != after.shape or rank.size * 3 != after.size:
        raise ValueError(
            f"visibility: photo {before.shape}, rendering {after.shape} and salience "
            f"{np.shape(salience)} must describe the same pixels"
        )
    change = (after - before).reshape(-1, 3)
    order = np.argsort(rank, kind="stable")
    n = rank.size
    top = change[order[n - max(1, round(_TOP * n)) :]].mean(axis=0)
    bottom = change[order[: max(1, round(_BOTTOM * n))]].mean(axis=0)
    return float(np.linalg.norm(top - bottom) / (255.0 * math.sqrt(3.0)))
