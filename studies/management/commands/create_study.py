"""``python manage.py create_study SPEC.json [--owner USER] [--launch]``: prints the study's id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.configschema import ConfigError
from studies.errors import StudyError
from studies.services.studies import study_create, study_transition
from studies.spec import spec_parse


class Command(BaseCommand):
    help = "Create a study from a study JSON document and print its id (uid)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("spec", type=Path, help="A study document (JSON).")
        parser.add_argument("--owner", help="User name of the owner (default: the only superuser).")
        parser.add_argument(
            "--launch",
            choices=["pilot", "launch"],
            help="Open the study right away (pilot or live).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        owner = self._owner(options["owner"])
        try:
            document = json.loads(Path(options["spec"]).read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"cannot read {options['spec']}: {error.strerror}") from None
        except json.JSONDecodeError as error:
            raise CommandError(f"{options['spec']} is not valid JSON: {error}") from None
        try:
            title, description, design = spec_parse(document, user=owner)
            study = study_create(owner=owner, title=title, description=description, design=design)
        except ConfigError as error:
            lines = [f"  {key}: {' '.join(m)}" for key, m in error.errors.items()]
            raise CommandError("the study document is not valid:\n" + "\n".join(lines)) from None
        if options["launch"]:
            try:
                study_transition(study=study, actor=owner, action=options["launch"])
            except StudyError as error:
                raise CommandError(
                    f"created {study.uid} as a draft but could not open it: {error.message}"
                ) from None
        self.stdout.write(str(study.uid))

    def _owner(self, name: str | None) -> Any:
        users = get_user_model().objects
        if name:
            user = users.filter(username=name).first()
            if user is None:
                raise CommandError(f"no user {name!r}")
            return user
        admins = list(users.filter(is_superuser=True)[:2])
        if len(admins) != 1:
            raise CommandError("give --owner USER (there is not exactly one superuser)")
        return admins[0]
