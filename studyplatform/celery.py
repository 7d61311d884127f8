"""The Celery application, configured from Django's settings (``CELERY_*``).

Start a worker with ``celery -A studyplatform worker -Q default,gpu`` (see the README).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyplatform.settings")

app = Celery("studyplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
