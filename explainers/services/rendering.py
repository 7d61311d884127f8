"""Renders of stored raw maps under presentation conventions, made on the CPU queue.

A precompute job on the ``gpu`` queue stores raw maps, predictions and scores only. What a
participant sees is drawn afterwards from the stored raw map by :func:`map_renders_create` on the
``default`` (CPU) queue, once per (map, presentation): a :class:`MapRender` row with the
presentation's key. Renders are requested by the studies that show the maps
(:func:`map_renders_request`) and by jobs that name presentations; the gallery and the designer
preview draw maps on the fly (:func:`map_preview_png`) and store nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from explainers.core.render import PRESETS, Presentation, render_batch
from explainers.models import MapRender, SaliencyMap
from explainers.runtime import core_classifier
from explainers.services import map_storage

#: Maps per render task: a few seconds of CPU work each.
RENDER_CHUNK = 32


class PresentationError(ValueError):
    """Presentation settings that do not describe a convention; the message names the field."""


def presentation_parse(data: Mapping[str, Any] | str) -> Presentation:
    """A preset's name or a settings mapping (missing settings take the defaults)."""
    if isinstance(data, str):
        if data not in PRESETS:
            raise PresentationError(
                f"presentation: unknown preset {data!r} (known: {', '.join(PRESETS)})"
            )
        return PRESETS[data]
    if not isinstance(data, Mapping):
        raise PresentationError("presentation: expected a preset name or an object of settings")
    try:
        return Presentation.from_dict(data)
    except (TypeError, ValueError) as error:
        raise PresentationError(str(error)) from None


def presentation_from_query(params: Mapping[str, str]) -> Presentation | None:
    """The presentation a URL's query names: ``preset=<name>``, or settings as strings
    (``scaling=percentile&percentile=2&…``; missing ones take the defaults); None when none."""
    if params.get("preset"):
        return presentation_parse(str(params["preset"]))
    names = [f.name for f in dataclasses.fields(Presentation)]
    given = {name: params[name] for name in names if params.get(name) not in (None, "")}
    if not given:
        return None
    defaults = Presentation()
    settings: dict[str, Any] = {}
    for name, value in given.items():
        if isinstance(getattr(defaults, name), float):
            try:
                settings[name] = float(value)
            except ValueError:
                raise PresentationError(
                    f"presentation.{name}: expected a number, got {value!r}"
                ) from None
        else:
            settings[name] = str(value)
    return presentation_parse(settings)


def presentation_query(presentation: Presentation) -> str:
    """The URL query that :func:`presentation_from_query` reads back as ``presentation``."""
    from urllib.parse import urlencode

    return urlencode(presentation.to_dict())


def _views(maps: Sequence[SaliencyMap]) -> list[Any]:
    """The picture each map is drawn on: the image as its classifier sees it (CPU)."""
    from explainers.services.compute import _open_rgb

    return [core_classifier(m.classifier, "cpu").view(_open_rgb(m.image)) for m in maps]


def _render(maps: Sequence[SaliencyMap], presentation: Presentation) -> list[tuple[bytes, bytes]]:
    raws = [map_storage.load_raw(str(m.raw.name)) for m in maps]
    return render_batch(_views(maps), raws, presentation)


def map_renders_create(*, map_ids: Sequence[int], presentation: Mapping[str, Any]) -> int:
    """Render the maps that have no render under ``presentation`` yet; how many were made.

    Idempotent: a render made by another delivery first is kept (unique key), and the files of
    both carry the same name and bytes.
    """
    convention = presentation_parse(presentation)
    key = convention.key
    done = set(
        MapRender.objects.filter(saliency_map_id__in=map_ids, presentation_key=key).values_list(
            "saliency_map_id", flat=True
        )
    )
    todo = list(
        SaliencyMap.objects.filter(pk__in=[i for i in map_ids if i not in done])
        .select_related("image", "classifier")
        .order_by("id")
    )
    if not todo:
        return 0
    rows = []
    for saliency_map, (stimulus, heat) in zip(todo, _render(todo, convention), strict=True):
        shown = map_storage.SHOWN_FOLDER
        rows.append(
            MapRender(
                saliency_map=saliency_map,
                presentation_key=key,
                presentation=convention.to_dict(),
                image=map_storage.save_bytes(
                    shown, "png", stimulus, map_storage.keyed_name("render", saliency_map.uid, key)
                ),
                heatmap=map_storage.save_bytes(
                    shown, "png", heat, map_storage.keyed_name("heat", saliency_map.uid, key)
                ),
            )
        )
    before = MapRender.objects.filter(saliency_map__in=todo, presentation_key=key).count()
    MapRender.objects.bulk_create(rows, ignore_conflicts=True)
    return MapRender.objects.filter(saliency_map__in=todo, presentation_key=key).count() - before


def renders_missing(*, map_ids: Sequence[int], presentation: Presentation) -> list[int]:
    """The ids among ``map_ids`` that have no render under ``presentation``."""
    done = set(
        MapRender.objects.filter(
            saliency_map_id__in=map_ids, presentation_key=presentation.key
        ).values_list("saliency_map_id", flat=True)
    )
    return [i for i in dict.fromkeys(map_ids) if i not in done]


def map_preview_png(*, saliency_map: SaliencyMap, presentation: Presentation, kind: str) -> bytes:
    """One map drawn under ``presentation`` now, not stored: ``kind`` "overlay" (the stimulus)
    or "heatmap" (the coloured map alone)."""
    stimulus, heat = _render([saliency_map], presentation)[0]
    return stimulus if kind == "overlay" else heat


#: The settings of a presentation as a form shows them: label, and choices or a number range.
PRESENTATION_FIELDS: tuple[dict[str, Any], ...] = (
    {
        "name": "scaling",
        "label": "Scaling",
        "choices": (
            ("minmax", "min–max: the map's own range"),
            ("percentile", "percentile clipping: the top p % saturate"),
            ("symmetric", "symmetric around 0 (signed maps)"),
        ),
    },
    {"name": "percentile", "label": "Saturated top p %", "min": 0, "max": 50, "step": 0.1},
    {
        "name": "sign",
        "label": "Sign",
        "choices": (
            ("none", "values as computed"),
            ("absolute", "absolute value"),
            ("positive", "positive part"),
            ("negative", "negative part"),
            ("signed", "signed: a diverging colour map (RdBu_r, coolwarm), 0 neutral"),
        ),
    },
    {
        "name": "smoothing",
        "label": "Gaussian smoothing σ (fraction of the map's longer side; pixel-level maps)",
        "min": 0,
        "max": 0.1,
        "step": 0.005,
    },
    {
        "name": "composition",
        "label": "Composition",
        "choices": (
            ("constant", "colours over the photo at constant opacity"),
            ("saliency_opacity", "opacity grows with saliency: the photo shows where nothing is"),
            ("heatmap", "the heat map alone"),
            ("mask", "the photo masked to its top-k % most salient pixels"),
        ),
    },
    {"name": "opacity", "label": "Opacity (maximum)", "min": 0, "max": 1, "step": 0.05},
    {"name": "top_k", "label": "Mask: top-k % of pixels kept", "min": 1, "max": 100, "step": 1},
    {"name": "cmap", "label": "Colour map", "choices": "colormaps"},
)


def presentation_fields(presentation: Presentation) -> list[dict[str, Any]]:
    """:data:`PRESENTATION_FIELDS` with ``presentation``'s values, for a form."""
    from explainers.core.render import COLORMAPS

    out = []
    for spec in PRESENTATION_FIELDS:
        field = dict(spec, value=getattr(presentation, spec["name"]))
        if field.get("choices") == "colormaps":
            field["choices"] = tuple((c, c) for c in COLORMAPS)
        out.append(field)
    return out
