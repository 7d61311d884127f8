"""A large study's results computed by a real worker over Redis, PostgreSQL behind it."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from studies.bots import ResponseModel, simulate
from studies.models import AnalysisRun

from ..studies.conftest import create_study, make_assets
from .conftest import WorkerProcess

pytestmark = pytest.mark.system


def test_results_of_a_large_study_come_from_a_worker_once(
    services, transactional_db, settings, tmp_path, monkeypatch
):
    from django.contrib.auth import get_user_model

    from studyplatform import celery_app

    assert not celery_app.conf.task_always_eager, "system tests dispatch to real workers"
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    monkeypatch.setenv("MEDIA_ROOT", str(media))  # the worker stores the plots there too
    settings.ANALYSIS_INLINE_MAX_RESPONSES = 0  # every study is "large"
    owner = get_user_model().objects.create_user("ada", password="pw")
    study = create_study(owner, make_assets())
    simulate(study, n=5, seed=11, model=ResponseModel(effects={"gradcam": 1.0}))
    client = Client()
    client.force_login(owner)
    worker = WorkerProcess(name="analysis").start()
    try:
        url = reverse("studies:results", args=[study.uid])
        first = client.get(url)
        assert "being computed by a worker" in first.content.decode()
        client.get(url)  # a second look while it computes: still one run
        deadline = time.monotonic() + 120
        run = AnalysisRun.objects.get(study=study)
        while run.state not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.5)
            run.refresh_from_db()
        assert run.state == "done", f"{run.state} {run.error}\n{worker.log()}"
    finally:
        worker.stop()
    assert AnalysisRun.objects.filter(study=study).count() == 1
    assert run.n_participants == 5 and any(r["analysis"] == "clmm" for r in run.results)
    page = client.get(reverse("studies:results", args=[study.uid])).content.decode()
    assert "<caption>clmm</caption>" in page
    plot = client.get(
        reverse("studies:results-file", args=[study.uid, run.uid, f"{run.plots[0]}.png"])
    )
    assert plot.content.startswith(b"\x89PNG")  # written by the worker, served by the web
