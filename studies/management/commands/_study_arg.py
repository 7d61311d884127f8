"""Finding the study a command names (its uid, or its numeric id)."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError

from studies.models import Study


def find_study(value: str) -> Study:
    study = None
    if value.isascii() and value.isdigit() and len(value) <= 18:
        study = Study.objects.filter(pk=int(value)).first()
    else:
        try:
            study = Study.objects.filter(uid=uuid.UUID(value)).first()
        except ValueError:
            study = None
    if study is None:
        raise CommandError(f"no study {value!r} (give its uid, as printed by create_study)")
    return study
