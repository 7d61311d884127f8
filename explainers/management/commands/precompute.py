"""``manage.py precompute --image-set NAME --methods a,b [--metrics ...] [--wait]``.

With ``--wait`` it shows a progress bar until the job ends and exits non-zero if anything failed.
Running the same request again computes only what is missing.

A job nobody works on ends the wait with a message and a non-zero exit instead of a bar that never
moves: still pending ``--pickup-timeout`` seconds after it was queued (no worker on this database
read its dispatch: none is running, or the only one serves another database and refused it), or
running without a finished unit nor a heartbeat for ``--stall-timeout`` seconds (its worker
stopped). The job itself stays queued: a worker started later computes it.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from tqdm import tqdm

from explainers.models import Classifier, ImageSet, PrecomputeJob
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.precompute import JobError, precompute_job_create


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Precompute predictions, saliency maps and faithfulness scores for an image set."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--image-set", required=True)
        parser.add_argument("--classifier", default="efficientnet_lite0")
        parser.add_argument("--methods", required=True, type=_csv)
        parser.add_argument("--metrics", default=[], type=_csv)
        parser.add_argument("--targets", default=["predicted"], type=_csv)
        parser.add_argument("--options", default="{}", help='JSON: {"rise": {"n_masks": 1000}}')
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--wait", action="store_true", help="show progress until the end")
        parser.add_argument("--timeout", type=float, default=0, help="give up waiting after s")
        parser.add_argument(
            "--pickup-timeout",
            type=float,
            default=60.0,
            help="with --wait: fail if no worker has started the job after this many seconds",
        )
        parser.add_argument(
            "--stall-timeout",
            type=float,
            default=1800.0,
            help="with --wait: fail if a running job shows no progress for this many seconds",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("pickup_timeout", "stall_timeout"):
            if options[name] <= 0:
                raise CommandError(
                    f"--{name.replace('_', '-')}: must be a positive number of seconds"
                )
        image_set = ImageSet.objects.filter(name=options["image_set"]).first()
        if image_set is None:
            raise CommandError(f"--image-set: no image set called {options['image_set']!r}")
        classifier = Classifier.objects.filter(
            Q(name=options["classifier"]) & (Q(owner__isnull=True) | Q(owner=image_set.owner))
        ).first()
        if classifier is None:
            try:
                classifier = classifier_zoo_ensure(name=options["classifier"])
            except (KeyError, ValueError):
                raise CommandError(
                    f"--classifier: no classifier {options['classifier']!r}"
                ) from None
        try:
            method_options = json.loads(options["options"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--options: not valid JSON ({error})") from None
        try:
            job = precompute_job_create(
                classifier=classifier,
                image_set=image_set,
                methods=options["methods"],
                metrics=options["metrics"],
                targets=options["targets"],
                options=method_options,
                batch_size=options["batch_size"],
                owner=image_set.owner,
            )
        except JobError as error:
            raise CommandError(str(error)) from None
        for warning in job.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(f"job {job.uid} queued: {job.total} maps to check")
        if options["wait"]:
            self._wait(job, options["timeout"], options["pickup_timeout"], options["stall_timeout"])

    def _wait(self, job: PrecomputeJob, timeout: float, pickup: float, stall: float) -> None:
        started = time.monotonic()
        deadline = started + timeout if timeout else None
        seen: tuple[int, datetime | None] = (-1, None)
        seen_at = started
        with tqdm(total=max(job.total, 1), unit="map", file=sys.stderr) as bar:
            while True:
                job.refresh_from_db()
                bar.total = max(job.total, 1)
                bar.n = job.completed + job.failed
                bar.set_postfix(state=job.state, failed=job.failed)
                bar.refresh()
                if job.is_finished:
                    break
                now = time.monotonic()
                if (job.completed + job.failed, job.heartbeat_at) != seen:
                    seen, seen_at = (job.completed + job.failed, job.heartbeat_at), now
                if job.state == PrecomputeJob.State.PENDING and now - started > pickup:
                    raise CommandError(self._nobody(job, f"still pending after {pickup:g}s"))
                if job.state == PrecomputeJob.State.RUNNING and now - seen_at > stall:
                    raise CommandError(self._nobody(job, f"without progress for {stall:g}s"))
                if deadline is not None and time.monotonic() > deadline:
                    raise CommandError(f"job {job.uid} still {job.state} after {timeout}s")
                time.sleep(0.5)
        for error in job.errors:
            self.stderr.write(
                f"error: {error['method']} on images {error['images']}: {error['error']}"
            )
        if job.state != PrecomputeJob.State.DONE:
            raise CommandError(f"job {job.uid} ended {job.state}: {job.failed} maps failed")
        self.stdout.write(f"job {job.uid} done: {job.completed} maps in {job.compute_seconds:.1f}s")

    @staticmethod
    def _nobody(job: PrecomputeJob, how: str) -> str:
        from studyplatform.dbidentity import database_label

        return (
            f"job {job.uid} is {how}: no worker is working on it. Is a worker running on this "
            f"database ({database_label()}) and broker? Start one with `make worker` under the "
            "same DATABASE_URL and CELERY_BROKER_URL; a worker on another database refuses the "
            "job (its log says so). The job stays queued: a worker started later computes it."
        )
