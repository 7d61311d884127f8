"""Importing image sets: every file validated, bad files reported one by one, good ones kept."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from explainers.models import Image, ImageSet
from explainers.services.image_sources import (
    Label,
    SourceError,
    SourceFile,
    folder_label,
    iter_folder,
    iter_zip,
    read_labels_csv,
)
from explainers.services.image_validation import ImageRejected, validate_image_bytes

LABEL_FILE_NAMES = {"labels.csv"}


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
        lookup = {c.lower(): i for i, c in enumerate(class_names)}
        label = Label(label.name, lookup.get(label.name.lower().replace("_", " ")))
    if (
        label.index is not None
        and class_names
        and not label.name
        and (0 <= label.index < len(class_names))
    ):
        label = Label(class_names[label.index], label.index)
    return label


def image_set_import(
    *,
    name: str,
    source: Path,
    owner: Any = None,
    labels_csv: bytes | None = None,
    class_names: Sequence[str] | None = None,
    description: str = "",
) -> ImportReport:
    """Import a folder or zip into the image set ``name`` (created if needed).

    Labels: ``labels_csv`` if given, else a ``labels.csv`` at the source's top level, else one
    sub-folder per class. ``class_names`` (a classifier's classes) turn label names into indices.
    Raises SourceError when the source as a whole is unusable; nothing is stored then.
    """
    files: Iterable[SourceFile]
    if source.is_dir():
        files = list(iter_folder(source))
    elif source.is_file():
        files = list(iter_zip(source))
    else:
        raise SourceError(f"{source} is neither a folder nor a zip archive")
    label_file = next((f for f in files if f.name in LABEL_FILE_NAMES and f.data is not None), None)
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
        if source_file.name in LABEL_FILE_NAMES or source_file.name.lower().endswith(".csv"):
            continue
        if source_file.data is None:
            report.rejected.append((source_file.name, source_file.problem))
            continue
        try:
            valid = validate_image_bytes(source_file.data)
        except ImageRejected as error:
            report.rejected.append((source_file.name, str(error)))
            continue
        if valid.sha256 in known:
            report.duplicates.append(source_file.name)
            continue
        label = _label_for(source_file.name, labels, class_names)
        storage_name = f"images/{valid.sha256}.{valid.extension}"
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
