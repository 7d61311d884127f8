"""``manage.py import_images DIR_OR_ZIP --name NAME [--labels CSV] [--owner USER]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from explainers.models import Classifier
from explainers.services.image_sets import image_set_import
from explainers.services.image_sources import SourceError


class Command(BaseCommand):
    help = (
        "Import images from a folder or zip into an image set (labels from a CSV or sub-folders)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", type=Path)
        parser.add_argument("--name", required=True)
        parser.add_argument("--labels", type=Path, help="CSV with file,label (or class_index)")
        parser.add_argument("--owner", help="username of the owner (default: shared with all)")
        parser.add_argument(
            "--classes-of",
            default="efficientnet_lite0",
            help=(
                "classifier whose class names map labels to indices, case-insensitively: a "
                "registered classifier (the owner's or a shared one) or a zoo model ('' for none)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        owner = None
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"--owner: no user called {options['owner']!r}")
        labels = None
        if options["labels"]:
            if not options["labels"].is_file():
                raise CommandError(f"--labels: {options['labels']} is not a file")
            labels = options["labels"].read_bytes()
        classifier = None
        if options["classes_of"]:
            classifier = self._classifier(options["classes_of"], owner)
        try:
            report = image_set_import(
                name=options["name"],
                source=options["source"],
                owner=owner,
                labels_csv=labels,
                classifier=classifier,
            )
        except SourceError as error:
            raise CommandError(str(error)) from None
        for name, problem in report.rejected:
            self.stderr.write(f"rejected {name}: {problem}")
        self.stdout.write(f"image set {report.image_set.name!r}: {report.summary()}")

    def _classifier(self, name: str, owner: Any) -> Classifier:
        """The owner's classifier called ``name``, else a shared one, else the zoo model."""
        for owned in ([owner] if owner is not None else []) + [None]:
            row = Classifier.objects.filter(owner=owned, name=name).first()
            if row is not None:
                return row
        from explainers.services.classifiers import classifier_zoo_ensure

        try:
            return classifier_zoo_ensure(name=name)
        except (KeyError, ValueError):
            raise CommandError(f"--classes-of: no classifier {name!r}") from None
