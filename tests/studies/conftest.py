"""Fixtures of the studies tests: explainers rows with tiny PNG files, researchers, studies.

No saliency computation runs: predictions and maps are created directly, with files written
through the storage API into a private MEDIA_ROOT under opaque names, as the precompute does.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from explainers.core.render import DEFAULT
from explainers.models import Classifier, Image, ImageSet, MapRender, Prediction, SaliencyMap
from explainers.services.map_storage import encode_raw, shown_name

CLASS_NAMES = ["zebra", "lighthouse", "accordion", "pelican", "volcano", "harmonica"]
METHODS = ("gradcam", "occlusion", "integrated_gradients")


def png(colour: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def researcher(db):
    return get_user_model().objects.create_user("ada")


@pytest.fixture
def other_researcher(db):
    return get_user_model().objects.create_user("bob")


@dataclass
class Assets:
    classifier: Classifier
    image_set: ImageSet
    images: list[Image]
    methods: tuple[str, ...]
    maps: list[SaliencyMap] = field(default_factory=list)


def _save(folder: str, data: bytes, stem: str | None = None) -> str:
    """Stored as the platform stores what participants see: a keyed name under ``s/``."""
    name = shown_name("png", folder, stem or uuid.uuid4().hex)
    return default_storage.save(name, ContentFile(data))


def make_assets(
    *,
    n_images: int = 8,
    methods: Sequence[str] = METHODS[:2],
    misclassified: Callable[[int], bool] = lambda k: k % 2 == 0,
    targets: Sequence[str] = ("predicted", "truth"),
    name: str = "animals",
    skip_maps: Callable[[int, str], bool] = lambda k, m: False,
    spell_label: Callable[[str], str] = lambda name: name,
) -> Assets:
    """``spell_label`` spells the images' labels (labels.csv) differently from the classifier's
    class names, as real image sets do ("Afghan hound" for the model's "Afghan Hound")."""
    classifier, _ = Classifier.objects.get_or_create(
        name="lite0",
        owner=None,
        defaults={"source": "zoo", "zoo_name": "efficientnet_lite0", "class_names": CLASS_NAMES},
    )
    image_set = ImageSet.objects.create(name=name)
    assets = Assets(classifier, image_set, [], tuple(methods))
    for k in range(n_images):
        data = png((k * 30 % 256, 200 - k * 7 % 200, (k * 53 + len(name)) % 256))
        sha = hashlib.sha256(data).hexdigest()
        truth = k % len(CLASS_NAMES)
        predicted = (truth + 1) % len(CLASS_NAMES) if misclassified(k) else truth
        image = Image.objects.create(
            image_set=image_set,
            file=_save("images", data, sha),
            original_name=f"{CLASS_NAMES[truth]}_{k:03d}.png",
            sha256=sha,
            width=8,
            height=8,
            label=spell_label(CLASS_NAMES[truth]),
            label_index=truth,
        )
        assets.images.append(image)
        others = [c for c in range(len(CLASS_NAMES)) if c != predicted][:2]
        Prediction.objects.create(
            image=image,
            classifier=classifier,
            top_classes=[predicted, *others],
            top_probabilities=[0.7, 0.2, 0.1],
            predicted_class=predicted,
            probability=0.7,
        )
        for method in methods:
            if skip_maps(k, method):
                continue
            classes = {"predicted": predicted, "truth": truth}
            for target in dict.fromkeys(classes[t] for t in targets):
                saliency_map = SaliencyMap.objects.create(
                    image=image,
                    classifier=classifier,
                    method=method,
                    target_class=target,
                    parameters={},
                    parameters_hash="0" * 64,
                    raw=default_storage.save(
                        f"maps/raw/{uuid.uuid4().hex}.npy", ContentFile(_raw(k, target))
                    ),
                    height=8,
                    width=8,
                    device="cpu",
                    seconds=0.01,
                )
                # the default presentation's render, as the CPU queue makes it (other
                # presentations are rendered for real from the raw map when a study asks)
                MapRender.objects.create(
                    saliency_map=saliency_map,
                    presentation_key=DEFAULT.key,
                    presentation=DEFAULT.to_dict(),
                    image=_save("maps/render", png((k, target, 9))),
                    heatmap=_save("maps/render", png((9, k, target))),
                )
                assets.maps.append(saliency_map)
    return assets


def _raw(k: int, target: int) -> bytes:
    """A small real raw map (float16 .npy): one bright blob whose place depends on k and target."""
    rows, cols = np.mgrid[0:8, 0:8]
    blob = np.exp(-((rows - k % 8) ** 2 + (cols - target % 8) ** 2) / 4.0)
    return encode_raw(blob.astype(np.float32))


@pytest.fixture
def assets(db, media_root) -> Assets:
    return make_assets()


def design_kwargs(assets: Assets, **overrides: Any) -> dict[str, Any]:
    protocol = overrides.pop("protocol", "likert")
    return {
        "protocol": protocol,
        "configuration": overrides.pop("configuration", {}),
        "flow": overrides.pop("flow", {}),
        "stimuli": overrides.pop("stimuli", {"methods": list(assets.methods)}),
        "classifier": assets.classifier,
        "image_set": assets.image_set,
        **overrides,
    }


def create_study(
    owner, assets: Assets, *, state: str | None = "launch", title: str = "Study", **overrides: Any
):
    from studies.services.studies import design_validate, study_create, study_transition

    design = design_validate(user=owner, **design_kwargs(assets, **overrides))
    study = study_create(owner=owner, title=title, design=design)
    if state == "launch":
        study = study_transition(study=study, actor=owner, action="launch")
    elif state == "pilot":
        study = study_transition(study=study, actor=owner, action="pilot")
    return study


@pytest.fixture
def likert_study(researcher, assets):
    return create_study(researcher, assets)
