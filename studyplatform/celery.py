"""The Celery application, configured from Django's settings (``CELERY_*``).

Start a worker with ``celery -A studyplatform worker -Q default,gpu`` (see the README).

Started by the ``celery`` command, a bad configuration stops it with one line naming the
variable (as ``manage.py`` and the WSGI entry point do), and at start-up an unreachable database
or broker is logged once with the variable to fix (the worker keeps retrying the broker, so that
it may start before Redis in a deployment).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from celery import Celery
from celery.signals import worker_init

from studyplatform.envconfig import ConfigurationError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyplatform.settings")

logger = logging.getLogger("studyplatform")


def _started_by_the_celery_command() -> bool:
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return program.name == "celery" or (
        program.name == "__main__.py" and program.parent.name == "celery"
    )


def _settings_or_exit() -> None:
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 (reading it loads the settings)
    except ConfigurationError as error:
        sys.stderr.write(f"Configuration error: {error}\n")
        raise SystemExit(2) from None


if _started_by_the_celery_command():
    _settings_or_exit()

app = Celery("studyplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def report_unreachable_services(sender: object = None, **kwargs: object) -> None:
    """Log, once at start-up, each service the worker cannot reach, naming its variable."""
    from studyplatform.health import check_all

    for status in check_all():
        if not status.ok:
            logger.error("worker start-up: %s", status.detail)
