"""Renders of stored raw maps: made on the CPU queue per (map, presentation), once; drawn on the
fly for the gallery and the designer's preview; the precompute job itself draws nothing."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image as PILImage

from explainers.core.render import DEFAULT, PRESETS, render_batch
from explainers.models import MapRender, PrecomputeJob, SaliencyMap
from explainers.runtime import core_classifier
from explainers.services import map_storage
from explainers.services.compute import _open_rgb
from explainers.services.precompute import JobError, precompute_job_create
from explainers.services.rendering import map_renders_create, presentation_query

from .test_precompute import classifier, image_set, run_job  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def job(image_set, classifier, django_capture_on_commit_callbacks):  # noqa: F811
    return run_job(
        django_capture_on_commit_callbacks,
        classifier=classifier,
        image_set=image_set,
        methods=["gradcam", "gradient"],
        presentations=[DEFAULT.to_dict(), PRESETS["mask"].to_dict()],
    )


def expected_pngs(saliency_map: SaliencyMap, presentation) -> tuple[bytes, bytes]:
    view = core_classifier(saliency_map.classifier, "cpu").view(_open_rgb(saliency_map.image))
    return render_batch([view], [map_storage.load_raw(saliency_map.raw.name)], presentation)[0]


def test_job_stores_raw_maps_and_the_cpu_task_renders_each_presentation_once(job):
    assert job.state == PrecomputeJob.State.DONE, job.errors
    maps = list(SaliencyMap.objects.all())
    assert len(maps) == 6
    assert all(not m.overlay and not m.heatmap for m in maps)  # the job draws nothing itself
    for presentation in (DEFAULT, PRESETS["mask"]):
        renders = MapRender.objects.filter(presentation_key=presentation.key)
        assert renders.count() == len(maps)
        render = renders.select_related("saliency_map__image", "saliency_map__classifier").first()
        stimulus, heat = expected_pngs(render.saliency_map, presentation)
        assert default_storage.open(render.image.name).read() == stimulus
        assert default_storage.open(render.heatmap.name).read() == heat
        assert render.presentation == presentation.to_dict()
    # asked again (a redelivered task, a second study): nothing is drawn twice
    ids = [m.pk for m in maps]
    assert map_renders_create(map_ids=ids, presentation=DEFAULT.to_dict()) == 0
    assert MapRender.objects.count() == 2 * len(maps)


def test_rendered_stimulus_is_the_photo_where_the_map_is_zero_and_differs_elsewhere(job):
    render = MapRender.objects.filter(presentation_key=DEFAULT.key).first()
    picture = PILImage.open(io.BytesIO(default_storage.open(render.image.name).read()))
    assert picture.size == (224, 224) and picture.mode == "RGB"


def test_a_bad_presentation_makes_no_job(image_set, classifier):  # noqa: F811
    with pytest.raises(JobError, match="presentation"):
        precompute_job_create(
            classifier=classifier,
            image_set=image_set,
            methods=["gradcam"],
            presentations=[{"no_such_setting": 1}],
        )
    assert not PrecomputeJob.objects.exists()


def test_map_files_are_drawn_under_the_query_presentation(job, classifier):  # noqa: F811
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 12))
    saliency_map = SaliencyMap.objects.select_related("image", "classifier").first()
    custom = PRESETS["default"].__class__.from_dict({**DEFAULT.to_dict(), "cmap": "magma"})
    url = f"/files/maps/{saliency_map.uid}/overlay?{presentation_query(custom)}"
    drawn = client.get(url)
    assert drawn.status_code == 200 and drawn["Content-Type"] == "image/png"
    assert drawn.content == expected_pngs(saliency_map, custom)[0]
    assert "max-age=31536000" in drawn["Cache-Control"]
    again = client.get(url, HTTP_IF_NONE_MATCH=drawn["ETag"])
    assert again.status_code == 304
    stored = client.get(f"/files/maps/{saliency_map.uid}/overlay?preset=mask")
    render = saliency_map.renders.get(presentation_key=PRESETS["mask"].key)
    assert b"".join(stored.streaming_content) == default_storage.open(render.image.name).read()
    refused = client.get(f"/files/maps/{saliency_map.uid}/overlay?opacity=lots")
    assert refused.status_code == 400 and "presentation.opacity" in refused.content.decode()
    assert MapRender.objects.count() == 12  # drawing on the fly stores nothing


def test_gallery_shows_every_method_under_the_chosen_presentation(job):
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 12))
    page = client.get("/gallery/?preset=mask")
    assert page.status_code == 200
    assert page.text.count("/overlay?preset=mask") == 6  # 3 photographs × 2 methods
    assert "most salient pixels of each photo are shown" in page.text
    custom = client.get("/gallery/?preset=&cmap=coolwarm&sign=signed")
    assert custom.status_code == 200 and "cmap=coolwarm" in custom.text
    assert "<span>negative</span>" in custom.text
    refused = client.get("/gallery/?preset=&cmap=magma&sign=signed", follow=True)
    assert "a signed map needs a diverging colour map" in refused.text
