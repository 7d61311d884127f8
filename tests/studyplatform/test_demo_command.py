"""``manage.py demo --no-serve --wait``: a login, real maps and open studies; a second run adds
nothing.

Tasks run in-process (``CELERY_TASK_ALWAYS_EAGER``), so the command starts no worker; the demo's
photographs are cut down to two and its methods to two fast ones, and no shared data folder is
visible, so the whole set-up takes seconds instead of minutes.
"""

from __future__ import annotations

import io
import re
import signal
from pathlib import Path

import pytest
from django.core.management import call_command

from explainers import demo as explainers_demo
from explainers.models import ImageSet, PrecomputeJob, SaliencyMap
from studies.models import Study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def small_demo(settings, monkeypatch, tmp_path: Path) -> Path:
    """Two photographs, two fast methods, no metrics; var/ and media/ inside ``tmp_path``."""
    settings.BASE_DIR = tmp_path  # var/demo-login.txt and var/log/ go here, not the project's
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SHARED_DATA_DIR = str(tmp_path / "no-shared-data")
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the command then starts no worker
    photos = {p.file_name: p for p in explainers_demo.PHOTOS}
    monkeypatch.setattr(explainers_demo, "PHOTOS", (photos["coffee.png"], photos["chelsea.png"]))
    monkeypatch.setattr(explainers_demo, "METHODS", ("gradcam", "gradient"))
    monkeypatch.setattr(explainers_demo, "METRICS", ())
    previous = signal.getsignal(signal.SIGTERM)  # the command turns SIGTERM into an exit
    yield tmp_path
    signal.signal(signal.SIGTERM, previous)


def run_demo() -> str:
    """``--wait``: the old blocking set-up, the maps computed and the studies open on return."""
    out = io.StringIO()
    call_command("demo", "--no-serve", "--wait", "--port", "8123", stdout=out)
    return out.getvalue()


def counts() -> tuple[int, int, int, int]:
    return (
        ImageSet.objects.count(),
        PrecomputeJob.objects.count(),
        Study.objects.count(),
        SaliencyMap.objects.count(),
    )


def test_demo_prints_login_and_links_and_a_second_run_creates_nothing(small_demo: Path):
    first = run_demo()

    password = (small_demo / "var" / "demo-login.txt").read_text(encoding="utf-8").strip()
    assert password
    assert f"Researcher login: researcher / {password}" in first
    assert "http://127.0.0.1:8123/accounts/login/" in first
    assert "Saliency gallery: http://127.0.0.1:8123/gallery/" in first
    assert "no worker" in first

    image_set = ImageSet.objects.get(name=explainers_demo.PHOTOS_SET)
    assert image_set.images.count() == 2
    job = PrecomputeJob.objects.get(image_set=image_set)
    assert job.state == PrecomputeJob.State.DONE, job.errors
    assert (job.total, job.completed, job.failed) == (4, 4, 0)
    assert set(
        SaliencyMap.objects.filter(image__image_set=image_set).values_list("method", flat=True)
    ) == {"gradcam", "gradient"}
    assert "[" + "#" * 30 + "]    4/4 maps" in first

    studies = list(Study.objects.filter(owner__username="researcher", state="live"))
    assert studies, first
    # a study the two photographs cannot serve (simulation) stays a draft that says why
    for draft in Study.objects.filter(owner__username="researcher").exclude(state="live"):
        assert draft.state == "draft"
        assert f"Studies demo: {draft.protocol} study not opened: " in first
    for study in studies:
        assert study.accepts_participants, study.title
        assert study.participants.exists(), study.title
        assert f"http://127.0.0.1:8123/take/{study.link_token}/" in first
        assert f"http://127.0.0.1:8123/studies/{study.uid}/results/" in first
    assert {s.protocol for s in studies} >= {"likert", "preference"}

    before = counts()
    second = run_demo()

    assert counts() == before
    assert f"Researcher login: researcher / {password}" in second
    assert "(kept)" in second
    for study in studies:
        assert f"http://127.0.0.1:8123/take/{study.link_token}/" in second
    links = lambda text: sorted(re.findall(r"take part at (\S+)", text))  # noqa: E731
    assert links(second) == links(first)
