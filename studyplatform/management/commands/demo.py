"""``manage.py demo``: migrate, load the demo, start a worker and the web server, print the URL.

The web server starts as soon as the demo's rows exist: the worker computes the maps meanwhile
(the dashboard shows the jobs), and the demo's studies open by themselves when their maps are
ready. ``--wait`` blocks until then instead (scripts, tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from studyplatform.demo import demo_content_loaders, demo_researcher_ensure


class Command(BaseCommand):
    help = "Set up the demo (idempotent) and serve it with a Celery worker on this machine."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true", help="set up only, serve nothing")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="wait until the demo's maps are computed and its studies open before serving "
            "(or, with --no-serve, before returning); by default the site serves at once and the "
            "studies open by themselves when their maps are ready",
        )

    def handle(
        self, *args: Any, host: str, port: int, no_serve: bool, wait: bool, **options: Any
    ) -> None:
        # A plain `kill` must stop the worker too: turn SIGTERM into a normal exit.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        # The worker computes the maps while the site serves, or before --wait returns. With
        # --no-serve alone nothing would be left to run it: the jobs wait for a worker (`make
        # worker`, or the next `make demo`, which resumes them), and none is stopped mid-task.
        worker = None
        if no_serve and not wait:
            self.stdout.write("no worker started (--no-serve without --wait): jobs are queued")
        else:
            worker = self._start_worker()
        try:
            # First the login, so that the demo's image sets and studies have their owner.
            username, password = demo_researcher_ensure()
            lines: list[str] = []
            for load in demo_content_loaders():
                lines += load(self.stdout, wait=wait)
            base = f"http://{host}:{port}"
            self.stdout.write(self.style.SUCCESS(f"\nThe platform: {base}/"))
            self.stdout.write(
                f"Researcher login: {username} / {password}  ({base}/accounts/login/)"
            )
            self.stdout.write(f"Admin: {base}/admin/   API docs: {base}/api/docs/")
            for line in lines:
                self.stdout.write(line.replace("{base}", base))
            if no_serve:
                return
            self.stdout.write("Press Ctrl-C to stop the web server and the worker.\n")
            call_command("runserver", f"{host}:{port}", use_reloader=False)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()

    def _start_worker(self) -> subprocess.Popen[bytes] | None:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write("tasks run in-process (CELERY_TASK_ALWAYS_EAGER): no worker")
            return None
        log_dir = Path(settings.BASE_DIR) / "var" / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / "worker.log").open("ab")
        celery = Path(sys.executable).with_name("celery")
        command = [
            str(celery),
            "-A",
            "studyplatform",
            "worker",
            "-Q",
            "default,gpu",
            "--concurrency",
            "1",
            "-l",
            "INFO",
            "--hostname",
            "demo@%h",
        ]
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        self.stdout.write(
            f"Celery worker started (pid {process.pid}, log {log_dir / 'worker.log'})"
        )
        return process
