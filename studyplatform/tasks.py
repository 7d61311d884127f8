"""Tasks of the project itself: a probe that proves a worker, the broker and the database work."""

from __future__ import annotations

import os
import socket

from celery import shared_task
from django.db import connection


@shared_task(name="studyplatform.ping")
def ping(token: str) -> dict[str, object]:
    """Echo ``token`` with who answered: used by the health tooling and the system tests."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {
        "token": token,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "database": connection.vendor,
    }
