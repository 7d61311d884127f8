"""Demo content of the explainers app (``manage.py demo`` calls :func:`load`).

Registers the built-in EfficientNet-Lite0, imports real photographs with their true ImageNet
labels (those shipped with scikit-image, scikit-learn and matplotlib, plus the 100-image ImageNet
sample of the shared data folder when present), starts one precompute job per image set for a few
fast methods and metrics, and returns while the worker computes them (``manage.py demo --wait``
waits with a progress bar instead; the studies demo opens its studies when their maps are ready).
Idempotent: a second run
finds the classifier, the images and the finished jobs and computes nothing again; a job an
interrupted run left unfinished is resumed (:func:`demo_job_resume`).

Model-output simulation (Alqaraawi et al. 2020) needs, for a target class, images of that class
the model recognises *and* images it misses. The ImageNet sample has one photograph per class, so
the demo also imports four views of each (the whole photograph, its left and right 60 % and its
centre 40 %), labelled with the photograph's class: the model misses some views and recognises
others, which gives the simulation study its true/false positives and negatives. Only Grad-CAM is
precomputed for these views.
"""

from __future__ import annotations

import csv
import io
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import OutputWrapper
from PIL import Image as PILImage

from explainers.models import Classifier, ImageSet, PrecomputeJob
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.image_sets import image_set_import
from explainers.services.precompute import precompute_job_create

DEMO_OWNER = "researcher"
CLASSIFIER = "efficientnet_lite0"
PHOTOS_SET = "Demo photographs (scikit-image, scikit-learn, matplotlib)"
SAMPLE_SET = "ImageNet sample (100 photographs)"
VIEWS_SET = "ImageNet sample, four views per photograph (model-output simulation)"
# Fast on a CPU (well under a second per image each); see DESIGN.md, performance notes.
METHODS = ("gradcam", "gradcampp", "gradient", "occlusion")
METRICS = ("iic", "ad", "add")
VIEWS_METHODS = ("gradcam",)
TARGETS = ("predicted", "truth")
# name: (left, top, right, bottom) as fractions of the photograph's width and height
VIEWS = {
    "whole": (0.0, 0.0, 1.0, 1.0),
    "left": (0.0, 0.0, 0.6, 1.0),
    "right": (0.4, 0.0, 1.0, 1.0),
    "centre": (0.3, 0.3, 0.7, 0.7),
}
STALL_SECONDS = 600  # no progress for this long: stop waiting, the job goes on in the background


@dataclass(frozen=True)
class Photo:
    """A photograph shipped with an installed package and its true ImageNet-1k class index."""

    file_name: str
    class_index: int
    read: Callable[[], PILImage.Image]


def _skimage(name: str) -> Callable[[], PILImage.Image]:
    def read() -> PILImage.Image:
        import skimage.data

        return PILImage.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB")

    return read


def _sklearn(name: str) -> Callable[[], PILImage.Image]:
    def read() -> PILImage.Image:
        from sklearn.datasets import load_sample_image

        return PILImage.fromarray(np.asarray(load_sample_image(name))).convert("RGB")

    return read


def _matplotlib(name: str) -> Callable[[], PILImage.Image]:
    def read() -> PILImage.Image:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / name
        with PILImage.open(path) as image:
            return image.convert("RGB")

    return read


# Only photographs whose subject is an ImageNet class (the astronaut, the Hubble field and the
# sklearn flower are not: they would need a label that is not true).
PHOTOS = (
    Photo("coffee.png", 967, _skimage("coffee")),  # espresso
    Photo("chelsea.png", 281, _skimage("chelsea")),  # tabby cat
    Photo("rocket.png", 657, _skimage("rocket")),  # missile (a rocket on its launch pad)
    Photo("china.jpg", 698, _sklearn("china.jpg")),  # palace (the Summer Palace, Beijing)
    Photo("grace_hopper.jpg", 652, _matplotlib("grace_hopper.jpg")),  # military uniform
)


def shared_data_dir() -> Path:
    """``SHARED_DATA_DIR`` (the setting, read from the environment), else ``../shared/data``
    beside the project."""
    configured = getattr(settings, "SHARED_DATA_DIR", None)
    if configured:
        return Path(configured)
    return Path(settings.BASE_DIR).parent / "shared" / "data"


def photos_write(folder: Path, class_names: Sequence[str]) -> int:
    """Write the photographs that can be read here and their ``labels.csv``; returns how many."""
    rows = ["file,class_index,class_name"]
    for photo in PHOTOS:
        try:
            image = photo.read()
        except (ImportError, OSError, ValueError):
            continue  # a package without its sample data: the demo uses the others
        buffer = io.BytesIO()
        image.save(buffer, format="PNG" if photo.file_name.endswith(".png") else "JPEG")
        (folder / photo.file_name).write_bytes(buffer.getvalue())
        rows.append(f"{photo.file_name},{photo.class_index},{class_names[photo.class_index]}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows) - 1


def views_write(sample: Path, folder: Path) -> int:
    """Write :data:`VIEWS` of every photograph of ``sample`` (with its ``labels.csv``) to ``folder``
    with their own ``labels.csv``; returns how many images were written."""
    with (sample / "labels.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    lines = ["file,class_index,class_name"]
    for row in rows:
        with PILImage.open(sample / row["file"]) as opened:
            photo = opened.convert("RGB")
        width, height = photo.size
        stem = Path(row["file"]).stem
        for view, (left, top, right, bottom) in VIEWS.items():
            box = (round(left * width), round(top * height), round(right * width))
            crop = photo.crop((*box, round(bottom * height)))
            name = f"{stem}__{view}.jpg"
            crop.save(folder / name, format="JPEG", quality=92)
            lines.append(f"{name},{row['class_index']},{row['class_name']}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def _import(
    name: str,
    folder: Path,
    expected: int,
    owner: Any,
    classifier: Classifier,
    description: str,
    write: Callable[[Path], int] | None = None,
) -> tuple[ImageSet, str]:
    """Import ``folder`` as image set ``name`` unless it holds ``expected`` images already;
    ``write`` fills the folder first (only when an import is needed)."""
    existing = ImageSet.objects.filter(owner=owner, name=name).first()
    if existing is not None and existing.images.count() >= expected:
        return existing, f"image set {name!r}: {existing.images.count()} images (kept)"
    if write is not None:
        write(folder)
    report = image_set_import(
        name=name,
        source=folder,
        owner=owner,
        class_names=classifier.class_names,
        description=description,
    )
    return report.image_set, f"image set {name!r}: {report.summary()}"


def demo_image_sets(owner: Any, classifier: Classifier) -> list[tuple[ImageSet, str]]:
    """The photographs' set, and the ImageNet sample's when the shared data folder has it."""
    results = []
    with tempfile.TemporaryDirectory(prefix="demo-photos-") as tmp:
        count = photos_write(Path(tmp), classifier.class_names)
        if count:
            results.append(
                _import(
                    PHOTOS_SET,
                    Path(tmp),
                    count,
                    owner,
                    classifier,
                    "Photographs shipped with scikit-image, scikit-learn and matplotlib, "
                    "labelled with their true ImageNet class.",
                )
            )
    sample = shared_data_dir() / "imagenet-sample"
    if (sample / "labels.csv").is_file():
        expected = sum(1 for p in sample.iterdir() if p.suffix.lower() in {".jpeg", ".jpg"})
        results.append(
            _import(
                SAMPLE_SET,
                sample,
                expected,
                owner,
                classifier,
                "One validation photograph for each of 100 ImageNet classes.",
            )
        )
        with tempfile.TemporaryDirectory(prefix="demo-views-") as tmp:
            results.append(
                _import(
                    VIEWS_SET,
                    Path(tmp),
                    expected * len(VIEWS),
                    owner,
                    classifier,
                    "Four views of each photograph of the ImageNet sample (whole, left and right "
                    "60 %, centre 40 %), for the model-output simulation demo.",
                    write=lambda folder: views_write(sample, folder),
                )
            )
    return results


def demo_job_resume(job: PrecomputeJob) -> None:
    """Send an unfinished job's dispatch again: its units still queued are sent to the worker.

    An interrupted demo (Ctrl-C stops the worker with it) leaves its job pending or running for
    good: the file-system broker forgets a message once a worker has read it, so the unit that was
    being computed is never delivered again. The demo starts its own worker, so an unfinished
    job found at start is one nobody is working on. Dispatch is idempotent (units are created
    once; a unit sent twice is computed and counted once), so resuming a job that some other
    worker is still running only costs a duplicate message.
    """
    from explainers.tasks.jobs import dispatch_job

    dispatch_job.delay(job.pk)


def demo_job_ensure(*, classifier: Classifier, image_set: ImageSet, owner: Any) -> PrecomputeJob:
    """The demo's job for this set: the last one unless it failed or was cancelled (then a new
    one, which computes only the maps that are missing); an unfinished one is resumed."""
    views = image_set.name == VIEWS_SET
    methods, metrics = (VIEWS_METHODS, ()) if views else (METHODS, METRICS)
    # The study designer's defaults (Likert "justification" on misclassified images) show the
    # maps of the true class beside the predicted one's: the demo computes both.
    targets = ("predicted",) if views else TARGETS
    job = (
        PrecomputeJob.objects.filter(classifier=classifier, image_set=image_set)
        .exclude(state__in=[PrecomputeJob.State.FAILED, PrecomputeJob.State.CANCELLED])
        .order_by("-created_at")
        .first()
    )
    fits = (
        job is not None
        and set(methods) <= set(job.methods)
        and set(metrics) <= set(job.metrics)
        and set(targets) <= set(job.targets)
    )
    if job is not None and fits and job.total == image_set.images.count() * len(job.methods):
        if not job.is_finished:
            demo_job_resume(job)
            job.refresh_from_db()
        return job
    return precompute_job_create(
        classifier=classifier,
        image_set=image_set,
        methods=methods,
        metrics=metrics,
        targets=targets,
        batch_size=8,
        owner=owner,
    )


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """``[#########.....]  12/40 maps`` (a plain-text bar for a terminal)."""
    filled = 0 if total == 0 else round(width * done / total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>4}/{total} maps"


def jobs_wait(jobs: Sequence[PrecomputeJob], stdout: Any, poll: float = 1.0) -> list[str]:
    """Draw a progress bar until every job ends; give up after ``STALL_SECONDS`` idle."""
    out = stdout or OutputWrapper(sys.stdout)
    ids = [job.pk for job in jobs]
    last, last_change = -1, time.monotonic()
    while True:
        rows = list(PrecomputeJob.objects.filter(pk__in=ids))
        done = sum(r.completed + r.failed for r in rows)
        total = sum(r.total for r in rows)
        if done != last:
            last, last_change = done, time.monotonic()
            out.write(f"\rprecomputing saliency maps {progress_bar(done, total)}", ending="")
            out.flush()
        if all(r.is_finished for r in rows):
            out.write("")
            break
        if time.monotonic() - last_change > STALL_SECONDS:
            out.write("")
            return [
                "Precompute: no progress for 10 minutes; the jobs go on in the background "
                "(see var/log/worker.log and the Jobs page)."
            ]
        time.sleep(poll)
    lines = []
    for row in rows:
        row.refresh_from_db()
        lines.append(
            f"precompute on {row.image_set.name!r}: {row.get_state_display()}, "
            f"{row.completed} maps done, {row.failed} failed"
        )
    return lines


def jobs_started(jobs: Sequence[PrecomputeJob]) -> list[str]:
    """What to print instead of waiting: the maps go on being computed while the site serves."""
    rows = list(PrecomputeJob.objects.filter(pk__in=[job.pk for job in jobs]))
    if all(row.is_finished for row in rows):
        return [f"precompute on {row.image_set.name!r}: {row.get_state_display()}" for row in rows]
    done = sum(row.completed + row.failed for row in rows)
    total = sum(row.total or row.image_set.images.count() * len(row.methods) for row in rows)
    return [
        f"Saliency maps are being computed in the background ({done} of {total} done): the "
        "dashboard shows the jobs' progress ({base}/dashboard/), and the demo's studies open by "
        "themselves when their maps are ready."
    ]


def load(stdout: Any = None, *, wait: bool = True) -> list[str]:
    """Register the classifier, import the images, start (or resume) the jobs; with ``wait``,
    draw a progress bar until they end, else return at once while the worker computes."""
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    out = stdout or OutputWrapper(sys.stdout)
    out.write("loading EfficientNet-Lite0 (built-in, ImageNet-1k)")
    classifier = classifier_zoo_ensure(name=CLASSIFIER)
    lines = []
    jobs = []
    for image_set, summary in demo_image_sets(owner, classifier):
        out.write(summary)
        jobs.append(demo_job_ensure(classifier=classifier, image_set=image_set, owner=owner))
    if not jobs:
        return ["Explainers demo: no photographs could be read (scikit-image missing?)."]
    lines += jobs_wait(jobs, stdout) if wait else jobs_started(jobs)
    lines.append("Saliency gallery: {base}/gallery/")
    return lines
