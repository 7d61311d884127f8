"""Browser tests: Debian's Chromium driven by Playwright for Python against a live server.

The browser is the system's ``chromium`` (``executable_path``, headless, ``--no-sandbox``); none
is ever downloaded (no ``playwright install``). Without Chromium the tests are skipped with the
reason, unless ``REQUIRE_BROWSER=1`` (CI), where a missing browser is a failure.

Content is real: the built-in EfficientNet-Lite0 and twelve views of two ImageNet photographs
(a Shetland sheepdog and a Siberian husky, the views of ``tests/studies/test_simulation_real``),
with Grad-CAM and gradient maps precomputed by the platform's own precompute job. That runs once
per session; its rows are kept as a serialised snapshot and loaded again for every test (the
live server's tests flush the database after each test), the files stay in a session folder.

Every page a test visits is saved as a full-page screenshot under
``var/test-artifacts/browser/<test>/<nn>-<page>.png``; a console error or an uncaught page error
fails the test. With ``SCREENSHOTS_DIR`` set (``docs/screenshots`` for the README), a curated set
of pages is also written there, at most 1280 pixels wide.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import serializers
from PIL import Image

from ..studies.test_simulation_real import HUSKY, SHELTIE, variants

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts" / "browser"
PASSWORD = "a-browser-test-password-7"
METHODS = ("gradcam", "gradient")
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
MAX_SCREENSHOT_WIDTH = 1280
MAX_SCREENSHOT_HEIGHT = 1400
MAX_SCREENSHOT_BYTES = 300_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ARTIFACTS.is_dir() and any(ARTIFACTS.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the tests
    # make between browser steps are plain synchronous code all the same.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=chromium_path, headless=True, args=["--no-sandbox"]
            )
            yield launched
            launched.close()


# --- content ---------------------------------------------------------------------------------


@dataclass
class Content:
    classifier: Any
    image_set: Any


SNAPSHOT_MODELS = (
    "Classifier",
    "ImageSet",
    "Image",
    "Prediction",
    "SaliencyMap",
    "FaithfulnessScore",
    "PrecomputeJob",
    "PrecomputeUnit",
)


@pytest.fixture(scope="session")
def _content_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"media": tmp_path_factory.mktemp("browser-media"), "snapshot": None}


def _build_content(imagenet_sample_dir: Path, folder: Path) -> None:
    from explainers.models import PrecomputeJob
    from explainers.services.classifiers import classifier_zoo_ensure
    from explainers.services.image_sets import image_set_import
    from explainers.services.precompute import precompute_job_create

    classifier = classifier_zoo_ensure(name="efficientnet_lite0")
    folder.mkdir(exist_ok=True)
    lines = ["file,class_index"]
    for target, name in [
        (SHELTIE, "n02105855_Shetland_sheepdog"),
        (HUSKY, "n02110185_Siberian_husky"),
    ]:
        with Image.open(imagenet_sample_dir / f"{name}.JPEG") as opened:
            photo = opened.convert("RGB")
        for view, picture in variants(photo).items():
            picture.thumbnail((320, 320))
            picture.save(folder / f"{name}_{view}.jpg", quality=90)
            lines.append(f"{name}_{view}.jpg,{target}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    image_set = image_set_import(
        name="Dogs (browser tests)",
        source=folder,
        class_names=classifier.class_names,
        description="Six views each of a Shetland sheepdog and a Siberian husky.",
    ).image_set
    job = precompute_job_create(
        classifier=classifier,
        image_set=image_set,
        methods=METHODS,
        metrics=("iic",),
        targets=("predicted", "truth"),
        batch_size=12,
    )
    job.refresh_from_db()
    assert job.state == PrecomputeJob.State.DONE, job.errors


@pytest.fixture
def content(
    transactional_db: None,
    settings: Any,
    live_server: Any,
    imagenet_sample_dir: Path,
    _content_store: dict[str, Any],
) -> Content:
    """The classifier and the image set with its maps, in this test's (flushed) database."""
    from explainers import models

    settings.MEDIA_ROOT = str(_content_store["media"])
    settings.ROOT_URLCONF = "tests.browser.urls"
    rows = [getattr(models, name) for name in SNAPSHOT_MODELS]
    if _content_store["snapshot"] is None:
        _build_content(imagenet_sample_dir, _content_store["media"].parent / "dogs")
        _content_store["snapshot"] = serializers.serialize(
            "json", [obj for model in rows for obj in model.objects.order_by("pk")]
        )
    else:
        for obj in serializers.deserialize("json", _content_store["snapshot"]):
            obj.save()
    return Content(models.Classifier.objects.get(), models.ImageSet.objects.get())


@pytest.fixture
def researcher(transactional_db: None) -> Any:
    return get_user_model().objects.create_user("ada", password=PASSWORD)


# --- pages, screenshots, console errors -------------------------------------------------------


@dataclass
class Recorder:
    """Screenshots of every page visited, and the console and page errors of the test."""

    folder: Path
    curated_dir: Path | None
    count: int = 0
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any, who: str) -> Any:
        def on_console(message: Any) -> None:
            if message.type == "error":
                self.errors.append(f"{who} console error on {page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{who} page error: {error}"))
        return page

    def assert_clean(self) -> None:
        assert not self.errors, "\n".join(self.errors)

    def shot(self, page: Any, name: str, curated: str | None = None) -> Path:
        """A full-page screenshot of ``page`` (and a curated copy under SCREENSHOTS_DIR).

        Lazy images load as a reader scrolls to them; a full-page screenshot does not scroll, so
        they are loaded first, or the picture shows empty rows a reader never sees."""
        page.wait_for_load_state("load")
        page.evaluate(
            """() => Promise.all([...document.querySelectorAll('img[loading="lazy"]')].map(img => {
                img.loading = "eager";
                return img.complete ? null : new Promise(done => {
                    img.addEventListener("load", done, {once: true});
                    img.addEventListener("error", done, {once: true});
                    setTimeout(done, 5000);
                });
            }))"""
        )
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{slug}.png"
        data = page.screenshot(path=str(path), full_page=True)
        if curated and self.curated_dir is not None:
            save_curated(data, self.curated_dir / f"{curated}.png")
        self.assert_clean()
        return path


def save_curated(data: bytes, path: Path) -> None:
    """A README screenshot: the top of the page, at most 1280 pixels wide (phone shots at the
    phone's 390 CSS pixels) and 1400 high, a PNG under 300 KB (with fewer colours if needed)."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    width = PHONE["viewport"]["width"] if "phone" in path.stem else MAX_SCREENSHOT_WIDTH
    if image.width > width:
        height = round(image.height * width / image.width)
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    image = image.crop((0, 0, image.width, min(image.height, MAX_SCREENSHOT_HEIGHT)))
    path.parent.mkdir(parents=True, exist_ok=True)
    for colours in (None, 256, 128, 64):
        candidate = image if colours is None else image.quantize(colours, dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        candidate.save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= MAX_SCREENSHOT_BYTES:
            break
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def recorder(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    curated = os.environ.get("SCREENSHOTS_DIR")
    rec = Recorder(folder, (PROJECT_ROOT / curated) if curated else None)
    yield rec
    rec.assert_clean()


@pytest.fixture
def new_page(browser: Any, recorder: Recorder) -> Iterator[Any]:
    """``new_page(who, **context_options)``: a page in a fresh browser context (own cookies)."""
    contexts = []

    def make(who: str, **options: Any) -> Any:
        context = browser.new_context(**{**DESKTOP, **options})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return recorder.watch(context.new_page(), who)

    yield make
    for context in contexts:
        context.close()
