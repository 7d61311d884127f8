"""Demo set-up: a researcher login and whatever demo content the apps provide.

Each app may offer a ``<app>.demo`` module with ``load(stdout, *, wait) -> list[str]`` (lines to
print, e.g. participant links; ``wait``: block until background work such as the maps is done).
Loading is idempotent: a second run reuses what exists.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

DEMO_USERNAME = "researcher"
DEMO_CONTENT_MODULES = ("explainers.demo", "studies.demo")


def credentials_file() -> Path:
    return Path(settings.BASE_DIR) / "var" / "demo-login.txt"


@transaction.atomic
def demo_researcher_ensure() -> tuple[str, str]:
    """Create the demo researcher (a staff user) once; its random password is kept in var/."""
    path = credentials_file()
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    if user is not None and path.is_file():
        return DEMO_USERNAME, path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(9)
    if user is None:
        user = user_model(username=DEMO_USERNAME, is_staff=True, is_superuser=True)
    user.set_password(password)
    user.save()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return DEMO_USERNAME, password


def demo_content_loaders() -> list[Callable[..., list[str]]]:
    loaders = []
    for name in DEMO_CONTENT_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        loaders.append(module.load)
    return loaders
