"""``manage.py copy_media --from filesystem --to s3``: copy every stored file to another storage.

Moving a deployment from ``MEDIA_ROOT`` to a bucket (or back): every file of the source storage
is copied under the same name, so the rows that name them keep working once ``MEDIA_STORAGE``
is switched. Idempotent and resumable: a file already in the destination with the same size is
skipped, so a run stopped half-way (or run twice) copies only what is missing. Ends with a count
check: every source file must be in the destination, with its size.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from studyplatform.envconfig import MEDIA_STORAGES, ConfigurationError, Environment, load


def storage_of(kind: str, env: Environment) -> Storage:
    """The storage ``kind`` would be with this environment (``MEDIA_STORAGE`` set to it)."""
    from studyplatform.envconfig import media_storage

    values = {name: env.string(name) for name in _STORAGE_VARIABLES}
    entry = media_storage(Environment({**values, "MEDIA_STORAGE": kind}))
    return storages.create_storage(entry)


_STORAGE_VARIABLES = (
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_REGION_NAME",
    "AWS_QUERYSTRING_EXPIRE",
    "MEDIA_PUBLIC_ENDPOINT_URL",
)


def stored_names(storage: Storage, folder: str = "") -> Iterator[str]:
    """Every file of ``storage``, depth first, in a stable order."""
    folders, files = storage.listdir(folder)
    for name in sorted(files):
        yield f"{folder}/{name}" if folder else name
    for sub in sorted(folders):
        yield from stored_names(storage, f"{folder}/{sub}" if folder else sub)


def _same(source: Storage, destination: Storage, name: str) -> bool:
    return destination.exists(name) and destination.size(name) == source.size(name)


class Command(BaseCommand):
    help = (
        "Copy every stored file from one media storage to another (filesystem: MEDIA_ROOT; "
        "s3: the AWS_* bucket), under the same names; skips what is already there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", choices=MEDIA_STORAGES, required=True)
        parser.add_argument("--to", dest="destination", choices=MEDIA_STORAGES, required=True)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, source: str, destination: str, **options: Any) -> None:
        if source == destination:
            raise CommandError("--from and --to name the same storage")
        try:
            env = load(settings.BASE_DIR)
            origin, target = storage_of(source, env), storage_of(destination, env)
        except ConfigurationError as error:
            raise CommandError(str(error)) from None
        names = list(stored_names(origin))
        copied = skipped = 0
        with tqdm(
            names, unit="file", file=sys.stderr, disable=options["no_progress"], desc="copy_media"
        ) as bar:
            for name in bar:
                if _same(origin, target, name):
                    skipped += 1
                    continue
                if target.exists(name):  # a partial copy of an interrupted run
                    target.delete(name)
                with origin.open(name, "rb") as handle:
                    saved = target.save(name, File(handle, name=name))
                if saved != name:
                    raise CommandError(f"{name} was stored as {saved}: the rows would not find it")
                copied += 1
        missing = [name for name in names if not _same(origin, target, name)]
        if missing:
            raise CommandError(
                f"count check failed: {len(missing)} of {len(names)} files are not in the "
                f"destination with their size, e.g. {missing[0]}; run the command again"
            )
        self.stdout.write(
            f"{len(names)} files in {source} are in {destination}: "
            f"{copied} copied, {skipped} already there"
        )
