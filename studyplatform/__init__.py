"""The Django project: settings from the environment, URLs, the Celery app, WSGI/ASGI."""

from studyplatform.celery import app as celery_app

__all__ = ["celery_app"]
