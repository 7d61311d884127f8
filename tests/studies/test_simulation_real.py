"""TP/FP/TN/FN selection on real EfficientNet-Lite0 predictions for the ImageNet sample.

Predictions come from the platform's own service (``ensure_predictions``, the precompute's first
step) on the real photos; the outcome of every image is recomputed here from the stored top-k
classes, independently of the selection code, and compared.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PIL import ImageFilter, ImageOps

from explainers.models import Image, Prediction
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.compute import ensure_predictions
from explainers.services.image_sets import image_set_import
from studies.protocols import get_protocol
from studies.protocols._selection import OUTCOMES, Rule, diagnose, draw_tasks, outcome
from studies.protocols.base import StimulusItem

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SHELTIE, HUSKY = 230, 250  # Shetland sheepdog, Siberian husky (similar dogs)


def variants(photo: PILImage.Image) -> dict[str, PILImage.Image]:
    """Six real views of one photo: the model sees some of them as the class, some not."""
    w, h = photo.size
    return {
        "orig": photo,
        "crop": photo.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)),
        "gray": ImageOps.grayscale(photo).convert("RGB"),
        "blur": photo.filter(ImageFilter.GaussianBlur(8)),
        "flip": ImageOps.mirror(photo),
        "corner": photo.crop((0, 0, w // 2, h // 2)),
    }


@pytest.fixture
def classifier(db):
    return classifier_zoo_ensure(name="efficientnet_lite0")


def items_of(classifier, image_set) -> list[StimulusItem]:
    images = list(image_set.images.order_by("sha256"))
    predictions = ensure_predictions(classifier, images)
    names = classifier.class_names
    out = []
    for image in images:
        p: Prediction = predictions[image.pk]
        top = [int(c) for c in p.top_classes]
        out.append(
            StimulusItem(
                pk=image.pk,
                item_id=image.sha256[:16],
                image=image.file.name,
                label=names[image.label_index],
                label_index=image.label_index,
                predicted=p.predicted_class,
                predicted_label=names[p.predicted_class],
                correct=image.label_index == p.predicted_class,
                top_classes=tuple(top),
                top_labels=tuple(names[c] for c in top),
                top_probabilities=tuple(float(v) for v in p.top_probabilities),
                maps={},
            )
        )
    return out


def expected_outcome(image: Image, target: int, k: int) -> str:
    """The outcome from the stored prediction, written out independently of ``_selection``."""
    prediction = Prediction.objects.get(image=image)
    said = target in [int(c) for c in prediction.top_classes][:k]
    if image.label_index == target:
        return "TP" if said else "FN"
    return "FP" if said else "TN"


def test_the_imagenet_sample_cannot_supply_a_task_and_the_designer_says_why(
    media_root, imagenet_sample_dir: Path, classifier
):
    image_set = image_set_import(name="imagenet-sample", source=imagenet_sample_dir).image_set
    assert image_set.images.count() == 100
    items = items_of(classifier, image_set)
    diagnoses = diagnose(items, Rule("top1"))
    assert len(diagnoses) == 100 and not any(d.usable for d in diagnoses)
    for d in diagnoses:  # one photo per class: a true positive or a false negative, never both
        assert d.counts["TP"] + d.counts["FN"] == 1
        image = image_set.images.get(label_index=d.target)
        assert d.counts[expected_outcome(image, d.target, 1)] >= 1
    protocol = get_protocol("simulation")
    config = protocol.validate_config({}, methods=["gradcam"])
    messages = protocol.check_stimuli(config, items, methods=["gradcam"])
    text = " ".join(messages)
    assert "cannot supply a model-output-simulation task" in text
    assert "every class has a single image" in text
    assert "no false negative" in text or "no true positive" in text
    # the model is right on most of the sample: many classes lack a false negative
    correct = sum(i.correct for i in items)
    assert correct > 60
    lacking_fn = sum(d.counts["FN"] == 0 for d in diagnoses)
    assert lacking_fn == correct


def test_tp_fp_tn_fn_selection_on_real_predictions_of_varied_photos(
    media_root, imagenet_sample_dir: Path, classifier, tmp_path: Path
):
    folder = tmp_path / "dogs"
    folder.mkdir()
    lines = ["file,class_index"]
    for target, name in [
        (SHELTIE, "n02105855_Shetland_sheepdog"),
        (HUSKY, "n02110185_Siberian_husky"),
    ]:
        photo = PILImage.open(imagenet_sample_dir / f"{name}.JPEG").convert("RGB")
        for view, picture in variants(photo).items():
            file = f"{name}_{view}.png"
            picture.save(folder / file)
            lines.append(f"{file},{target}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    image_set = image_set_import(name="dogs", source=folder).image_set
    items = items_of(classifier, image_set)
    assert len(items) == 12
    protocol = get_protocol("simulation")

    # top-1: no photo of a husky is taken for a sheltie, so no false positive; the designer says
    # so and suggests the wider rule under which the sheltie works
    top1 = protocol.validate_config({"target_classes": ["Shetland sheepdog"]}, methods=["m"])
    text = " ".join(protocol.check_stimuli(top1, items, methods=["m"])).lower()
    assert "“shetland sheepdog” cannot supply a task" in text and "no false positive" in text
    assert "among the 5 most likely classes, these classes could: shetland sheepdog" in text

    # among the 3 most likely classes: every outcome exists for the sheltie
    config = protocol.validate_config(
        {"recognised_if": "top_k", "top_k": 3, "target_classes": ["Shetland sheepdog"]},
        methods=["m"],
    )
    assert protocol.check_stimuli(config, items, methods=["m"]) == []
    rule = Rule("top_k", 3)
    found = {d.target: d for d in diagnose(items, rule)}
    sheltie = found[SHELTIE]
    assert sheltie.usable and sheltie.pool.contrast == HUSKY
    expected = {o: 0 for o in OUTCOMES}
    for image in image_set.images.all():
        expected[expected_outcome(image, SHELTIE, 3)] += 1
    assert sheltie.counts == expected
    assert all(n > 0 for n in expected.values())
    assert not found[HUSKY].usable  # no husky photo has "Siberian husky" in its top 3
    assert any("no true positive" in r for r in found[HUSKY].reasons)
    by_pk = {image.pk: image for image in image_set.images.all()}
    tasks = draw_tasks([sheltie.pool], 4, rule, random.Random(0))
    assert len(tasks) == 4 and len({t.test.pk for t in tasks}) == 4
    for task in tasks:
        for name, example in task.examples.items():
            assert expected_outcome(by_pk[example.pk], SHELTIE, 3) == name
        assert outcome(task.test, SHELTIE, rule) == expected_outcome(
            by_pk[task.test.pk], SHELTIE, 3
        )
