"""The management commands used by scripts and CI: ``import_images`` and ``precompute``.

Transactional tests: a job's dispatch runs on commit, so with tasks in-process ``precompute
--wait`` finds its job finished (or failed) as a script would after a real worker's run.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from explainers.models import Classifier, Image, ImageSet, PrecomputeJob, SaliencyMap

from .conftest import png_bytes
from .test_precompute import classifier, image_set  # noqa: F401  (fixtures)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def zipped_folder(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"upload/{name}", data)
    return path


@pytest.mark.django_db
def test_import_images_maps_labels_to_a_registered_classifiers_classes(media_root, tmp_path):
    Classifier.objects.create(
        name="fishnet",
        source=Classifier.Source.TORCHSCRIPT,
        class_names=["tench", "goldfish", "great white shark"],
    )
    archive = zipped_folder(
        tmp_path / "fish.zip",
        {
            "labels.csv": b"file,label\na.png,Goldfish\nb.png,great_white_shark\n",
            "a.png": png_bytes(colour=(9, 0, 0)),
            "b.png": png_bytes(colour=(0, 9, 0)),
            "bad.jpg": b"not an image at all",
        },
    )
    out, err = run("import_images", str(archive), "--name", "fish", "--classes-of", "fishnet")
    assert "image set 'fish': 2 added, 0 duplicates skipped, 1 rejected" in out
    assert "rejected bad.jpg: not an image" in err
    labels = dict(Image.objects.values_list("original_name", "label_index"))
    assert labels == {"a.png": 1, "b.png": 2}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--classes-of", "no_such_model"], "--classes-of: no classifier 'no_such_model'"),
        (["--owner", "nobody"], "--owner: no user called 'nobody'"),
        (["--labels", "/nonexistent/labels.csv"], "--labels: "),
    ],
)
def test_import_images_refuses_bad_arguments_and_stores_nothing(
    media_root, tmp_path, extra, message
):
    archive = zipped_folder(tmp_path / "a.zip", {"a.png": png_bytes()})
    with pytest.raises(CommandError, match=message):
        run("import_images", str(archive), "--name", "x", "--classes-of", "", *extra)
    assert not ImageSet.objects.exists()


@pytest.mark.django_db
def test_import_images_refuses_a_source_that_is_not_a_zip(media_root, tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip")
    with pytest.raises(CommandError, match="not a readable zip"):
        run("import_images", str(fake), "--name", "x", "--classes-of", "")
    assert not ImageSet.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_precompute_wait_reports_a_finished_job(image_set, classifier):  # noqa: F811
    out, _ = run(
        "precompute",
        "--image-set",
        image_set.name,
        "--methods",
        "gradcam",
        "--metrics",
        "iic",
        "--batch-size",
        "3",
        "--wait",
    )
    job = PrecomputeJob.objects.get()
    assert job.state == PrecomputeJob.State.DONE
    assert f"job {job.uid} queued: 3 maps to check" in out
    assert f"job {job.uid} done: 3 maps" in out
    assert SaliencyMap.objects.count() == 3


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_precompute_wait_exits_non_zero_when_a_unit_fails(
    image_set,  # noqa: F811
    classifier,  # noqa: F811
    monkeypatch,
    capsys,
):
    from explainers import core

    def broken(*args, **kwargs):
        raise RuntimeError("simulated GPU fault")

    monkeypatch.setattr(core, "explain", broken)
    argv = ["manage.py", "precompute", "--image-set", image_set.name, "--methods", "gradient"]
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line([*argv, "--batch-size", "2", "--wait"])
    assert exit_info.value.code not in (0, None)
    err = capsys.readouterr().err
    assert "simulated GPU fault" in err
    assert "ended failed: 3 maps failed" in err
    assert PrecomputeJob.objects.get().state == PrecomputeJob.State.FAILED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image-set", "missing", "--methods", "gradcam"], "--image-set: no image set"),
        (["--image-set", "few", "--methods", "magic"], "methods: unknown magic"),
        (["--image-set", "few", "--methods", "gradcam", "--options", "{"], "--options: not"),
    ],
)
def test_precompute_refuses_bad_requests(image_set, classifier, args, message):  # noqa: F811
    with pytest.raises(CommandError, match=message):
        run("precompute", *args)
    assert not PrecomputeJob.objects.exists()


def _wait_exit(capsys, image_set, *extra: str) -> tuple[int, str, float]:  # noqa: F811
    import time

    argv = ["manage.py", "precompute", "--image-set", image_set.name, "--methods", "gradcam"]
    from unittest import mock

    started = time.monotonic()
    # a failing command closes every connection (BaseCommand.run_from_argv); on PostgreSQL that
    # would close the test's own transaction, whose rows the test reads afterwards
    with (
        mock.patch("django.core.management.base.connections.close_all"),
        pytest.raises(SystemExit) as exit_info,
    ):
        execute_from_command_line([*argv, "--wait", *extra])
    return exit_info.value.code, capsys.readouterr().err, time.monotonic() - started


@pytest.mark.django_db
def test_precompute_wait_ends_with_a_message_when_no_worker_picks_the_job_up(
    image_set,  # noqa: F811
    classifier,  # noqa: F811
    capsys,
):
    """Inside a test transaction the job's dispatch is never sent (on_commit does not fire): the
    job stays pending, as it does when no worker on this database reads its message."""
    code, err, seconds = _wait_exit(capsys, image_set, "--pickup-timeout", "1")

    job = PrecomputeJob.objects.get()
    assert code not in (0, None)
    assert seconds < 15
    assert f"job {job.uid} is still pending after 1s: no worker is working on it" in err
    assert "Start one with `make worker` under the same DATABASE_URL" in err
    assert job.state == PrecomputeJob.State.PENDING  # left queued for a worker started later


@pytest.mark.django_db
def test_precompute_wait_ends_with_a_message_when_a_running_job_stalls(
    image_set,  # noqa: F811
    classifier,  # noqa: F811
    capsys,
    monkeypatch,
):
    """The job's worker read its dispatch (the job is running) and then stopped: no unit ends."""
    from explainers.services import precompute, units

    create = precompute.precompute_job_create

    def create_then_dispatch_without_computing(**kwargs):
        job = create(**kwargs)
        units.precompute_job_dispatch(job_id=job.pk)
        return job

    from explainers.management.commands import precompute as command

    monkeypatch.setattr(command, "precompute_job_create", create_then_dispatch_without_computing)
    code, err, seconds = _wait_exit(capsys, image_set, "--stall-timeout", "1")

    assert code not in (0, None)
    assert seconds < 15
    assert "is without progress for 1s: no worker is working on it" in err
    assert PrecomputeJob.objects.get().state == PrecomputeJob.State.RUNNING


@pytest.mark.django_db
def test_precompute_wait_refuses_a_timeout_that_is_not_positive(image_set, classifier):  # noqa: F811
    argv = ["--image-set", image_set.name, "--methods", "gradcam", "--wait"]
    with pytest.raises(CommandError, match="--pickup-timeout: must be a positive number"):
        run("precompute", *argv, "--pickup-timeout", "0")
    with pytest.raises(CommandError, match="--stall-timeout: must be a positive number"):
        run("precompute", *argv, "--stall-timeout", "-1")
    assert not PrecomputeJob.objects.exists()
