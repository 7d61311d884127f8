"""Importing image sets: every file validated, bad files reported one by one, good ones kept.

Photos whose EXIF ``Orientation`` says "rotate me" (phone cameras) are turned upright at import
(:func:`PIL.ImageOps.exif_transpose`) and stored re-encoded without that tag, so the stored pixels,
the recorded size, the model's input and what a participant's browser shows are the same picture.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image as PILImage
from PIL import ImageOps

from explainers.core.labels import class_lookup, true_class, unmatched
from explainers.models import Classifier, Image, ImageSet
from explainers.services import map_storage
from explainers.services.image_sources import (
    LABEL_FILE_NAME,
    Label,
    SourceError,
    SourceFile,
    folder_label,
    iter_folder,
    iter_zip,
    read_labels_csv,
)
from explainers.services.image_validation import (
    ImageRejected,
    ValidImage,
    validate_image_bytes,
)

EXIF_ORIENTATION = 0x0112
#: Re-encoding settings of a turned photo, per format (JPEG/WebP: near-lossless quality).
REENCODE_OPTIONS: dict[str, dict[str, Any]] = {
    "JPEG": {"quality": 95, "subsampling": 0},
    "WEBP": {"quality": 95},
}


@dataclass
class ImportReport:
    image_set: ImageSet
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.duplicates)} duplicates skipped, "
            f"{len(self.rejected)} rejected"
        )


def _label_for(
    name: str, labels: dict[str, Label] | None, class_names: Sequence[str] | None
) -> Label:
    if labels is not None:
        label = labels.get(name) or labels.get(PurePosixPath(name).name)
        if label is None:
            return Label("", None)
    else:
        label = Label(folder_label(name), None)
    if label.index is None and label.name and class_names:
        label = Label(label.name, true_class(label.name, None, class_lookup(class_names)))
    if (
        label.index is not None
        and class_names
        and not label.name
        and (0 <= label.index < len(class_names))
    ):
        label = Label(class_names[label.index], label.index)
    return label


def upright(valid: ValidImage) -> ValidImage:
    """``valid`` turned upright by its EXIF orientation (re-encoded), or ``valid`` unchanged.

    Pillow opens the bytes with the validated format's plugin only. Animated files are left
    as they are (turning would keep only the first frame). Raises ImageRejected if the turned
    image fails validation (it never should).
    """
    with PILImage.open(io.BytesIO(valid.data), formats=[valid.format]) as picture:
        orientation = picture.getexif().get(EXIF_ORIENTATION, 1)
        if orientation in (None, 1) or getattr(picture, "n_frames", 1) > 1:
            return valid
        turned = ImageOps.exif_transpose(picture)
        options: dict[str, Any] = dict(REENCODE_OPTIONS.get(valid.format, {}))
        if icc := picture.info.get("icc_profile"):
            options["icc_profile"] = icc
        options["exif"] = turned.getexif()  # the same tags, Orientation removed
        buffer = io.BytesIO()
        turned.save(buffer, format=valid.format, **options)
    return validate_image_bytes(buffer.getvalue())


def image_set_import(
    *,
    name: str,
    source: Path,
    owner: Any = None,
    labels_csv: bytes | None = None,
    classifier: Classifier | None = None,
    class_names: Sequence[str] | None = None,
    description: str = "",
) -> ImportReport:
    """Import a folder or zip into the image set ``name`` (created if needed).

    Labels: ``labels_csv`` if given, else a ``labels.csv`` at the source's top level (inside the
    one folder that wraps a zipped folder), else one sub-folder per class. The classes of
    ``classifier`` (or ``class_names`` when no classifier is given) turn label names into
    ground-truth indices, compared case-insensitively (``Great_White-Shark`` is
    ``great white shark``); a bare index becomes the class's name. Photos are stored upright
    (see :func:`upright`). Raises SourceError when the source as a whole is unusable; nothing
    is stored then.
    """
    if classifier is not None:
        class_names = list(classifier.class_names)
    files: Iterable[SourceFile]
    if source.is_dir():
        files = list(iter_folder(source))
    elif source.is_file():
        files = list(iter_zip(source))
    else:
        raise SourceError(f"{source} is neither a folder nor a zip archive")
    label_file = next((f for f in files if f.name == LABEL_FILE_NAME and f.data is not None), None)
    labels_data = (
        labels_csv if labels_csv is not None else (label_file.data if label_file else None)
    )
    labels = read_labels_csv(labels_data) if labels_data is not None else None

    with transaction.atomic():
        image_set, _ = ImageSet.objects.get_or_create(
            owner=owner, name=name, defaults={"description": description}
        )
    report = ImportReport(image_set)
    known = set(image_set.images.values_list("sha256", flat=True))
    for source_file in files:
        if source_file.name.lower().endswith(".csv"):
            continue
        if source_file.data is None:
            report.rejected.append((source_file.name, source_file.problem))
            continue
        try:
            valid = upright(validate_image_bytes(source_file.data))
        except ImageRejected as error:
            report.rejected.append((source_file.name, str(error)))
            continue
        if valid.sha256 in known:
            report.duplicates.append(source_file.name)
            continue
        label = _label_for(source_file.name, labels, class_names)
        # shown to participants: a keyed name, not the SHA-256 anyone can compute from the image
        storage_name = map_storage.shown_name(valid.extension, "image", valid.sha256)
        if not default_storage.exists(storage_name):
            storage_name = default_storage.save(storage_name, ContentFile(valid.data))
        try:
            with transaction.atomic():
                Image.objects.create(
                    image_set=image_set,
                    file=storage_name,
                    original_name=source_file.name[:255],
                    sha256=valid.sha256,
                    width=valid.width,
                    height=valid.height,
                    label=label.name,
                    label_index=label.index,
                )
        except IntegrityError:  # the same file added concurrently
            report.duplicates.append(source_file.name)
            continue
        known.add(valid.sha256)
        report.added.append(source_file.name)
    return report


def true_classes(classifier: Classifier, images: Iterable[Image]) -> dict[int, int | None]:
    """Each image's ground-truth class index for ``classifier``, by image pk (None: no truth).

    Resolved when used, not stored: a label given as a name means the class of that name in
    *this* classifier's ``class_names`` (:func:`explainers.core.labels.true_class`), so one
    image set serves classifiers with different classes; an index stored on the image wins.
    """
    lookup = class_lookup(classifier.class_names or [])
    return {image.pk: true_class(image.label, image.label_index, lookup) for image in images}


def labels_unmatched(classifier: Classifier, image_set: ImageSet) -> list[tuple[str, str]]:
    """``(file, label)`` of the images of ``image_set`` whose label names no class of
    ``classifier`` (and has no index): they have no ground truth for it."""
    rows = image_set.images.order_by("id").values_list("original_name", "label", "label_index")
    return unmatched(rows, classifier.class_names or [])
