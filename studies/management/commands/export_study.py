"""``python manage.py export_study STUDY --out DIR``: tidy CSV, participants, codebook, JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from studies.export import StudyExport
from studies.management.commands._study_arg import find_study


class Command(BaseCommand):
    help = (
        "Write responses.csv (tidy, one row per answered trial), participants.csv, "
        "datapackage.json (codebook) and study.json (the design) into a folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's uid (or numeric id).")
        parser.add_argument("--out", type=Path, required=True, help="Folder to write into.")
        parser.add_argument(
            "--include-pilot", action="store_true", help="Add pilot participants (pilot = 1)."
        )
        parser.add_argument(
            "--recruiter-ids",
            action="store_true",
            help="Add the recruiter pseudonyms (keyed hashes) to the participant table.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = find_study(options["study"])
        export = StudyExport(
            study, include_pilot=options["include_pilot"], recruiter_ids=options["recruiter_ids"]
        )
        for path in export.write(options["out"]):
            self.stdout.write(str(path))
