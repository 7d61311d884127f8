"""``manage.py check_services [--wait SECONDS]``: are the database, the broker and the media
storage reachable?"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyplatform.health import check_all


class Command(BaseCommand):
    help = (
        "Check that the database, the Celery broker and the media storage (MEDIA_ROOT or the "
        "bucket) are reachable (waits up to --wait s)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep trying")

    def handle(self, *args: Any, wait: float, **options: Any) -> None:
        deadline = time.monotonic() + wait
        while True:
            failures = [status for status in check_all() if not status.ok]
            if not failures or time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        if failures:
            raise CommandError("; ".join(status.detail for status in failures))
        self.stdout.write("database, broker and storage reachable")
