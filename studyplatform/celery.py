"""The Celery application, configured from Django's settings (``CELERY_*``).

Start a worker with ``celery -A studyplatform worker -Q default,gpu`` (see the README).

Started by the ``celery`` command, a bad configuration stops it with one line naming the
variable (as ``manage.py`` and the WSGI entry point do), and at start-up an unreachable database
or broker is logged once with the variable to fix (the worker keeps retrying the broker, so that
it may start before Redis in a deployment).

Every task message names the database it belongs to (:mod:`studyplatform.dbidentity`): the
publisher adds its database's identity as a header, and a worker on another database refuses the
task (:class:`DatabaseBoundTask`) with an error line instead of looking its ids up in the wrong
database. The refused message is rejected without requeueing, so it is never counted as done;
the sender's job stays pending, which ``manage.py precompute --wait`` reports.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject
from celery.signals import before_task_publish, worker_init

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


def database_refusal(task_name: str, sent_for: str | None, sent_label: str | None) -> str | None:
    """Why a task sent for database ``sent_for`` must not run here, or ``None`` when it may
    (same database, or a message without the header: an in-process call or an older sender)."""
    from studyplatform.dbidentity import database_identity, database_label

    own = database_identity()
    if not sent_for or sent_for == own:
        return None
    return (
        f"refused task {task_name}: it was sent for another database "
        f"({sent_label or 'unnamed'}, identity {sent_for}) and this worker serves "
        f"{database_label()} (identity {own}); its ids mean nothing here. Start a worker with "
        "the sender's DATABASE_URL, or give each database its own broker (CELERY_BROKER_URL)"
    )


class DatabaseBoundTask(Task):
    """Runs a task only in a worker on the database it was sent for (see the module's notes)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if not request.called_directly and not request.is_eager:
            from studyplatform.dbidentity import IDENTITY_HEADER, LABEL_HEADER

            refusal = database_refusal(
                self.name,
                getattr(request, IDENTITY_HEADER, None),
                getattr(request, LABEL_HEADER, None),
            )
            if refusal is not None:
                logger.error("%s", refusal)
                raise Reject(refusal, requeue=False)
        return super().__call__(*args, **kwargs)


app = Celery("studyplatform", task_cls=DatabaseBoundTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def report_unreachable_services(sender: object = None, **kwargs: object) -> None:
    """Log, once at start-up, each service the worker cannot reach, naming its variable."""
    from studyplatform.health import check_all

    for status in check_all():
        if not status.ok:
            logger.error("worker start-up: %s", status.detail)


@before_task_publish.connect
def name_the_database(headers: dict[str, Any] | None = None, **kwargs: object) -> None:
    """Add this process's database identity to every task message it sends (one already named,
    e.g. by a test sending for another database, is kept)."""
    if headers is None:
        return
    from studyplatform.dbidentity import (
        IDENTITY_HEADER,
        LABEL_HEADER,
        database_identity,
        database_label,
    )

    if IDENTITY_HEADER not in headers:
        headers[IDENTITY_HEADER] = database_identity()
        headers[LABEL_HEADER] = database_label()
