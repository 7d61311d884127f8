"""Trial pages as a participant's browser lays them out and runs them, on a phone and a desktop.

The pages are the platform's own templates, style sheets and participant.js, rendered from
trial payloads that the protocols build (model-output simulation) or that have their shape
(ground-truth prediction), and served to Chromium through request routing: no server and no
database, so each test takes seconds. Pictures are generated; a route can make one fail.

- a simulation task fits the first screen of a 390×844 phone: question, new photo, both
  answers and Continue; the four examples follow, reachable from a link;
- key hints are key caps apart from the option's name, outside its accessible name, and not
  shown on a touch screen;
- a picture that does not load is retried, then the trial stays closed with a message, a
  "Try again" button and a report to the server; once the picture loads it can be answered.

Screenshots (the first screen, and the whole page) go to ``var/test-artifacts/browser/<test>/``.
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.template.loader import render_to_string
from PIL import Image, ImageDraw, ImageFilter

from studies.presenters import with_urls
from studies.protocols import get_protocol
from studies.protocols._indirect import confidence_item
from studies.protocols.base import ConditionSpec, PlanContext, StimulusItem

from .conftest import ARTIFACTS, DESKTOP, PHONE, PROJECT_ROOT

ORIGIN = "http://participant.test"
CODE = "CODE"
CLASSES = ["grey wolf", "timber wolf", "Siberian husky", "malamute", "coyote", "dingo"]


def picture(seed: int, *, heat: bool = False) -> bytes:
    """A 320×240 stand-in for a photograph (or, with ``heat``, for its colour map)."""
    rng = random.Random(seed)
    base = tuple(rng.randint(60, 200) for _ in range(3))
    img = Image.new("RGB", (320, 240), base)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = rng.randint(0, 280), rng.randint(0, 200)
        colour = (250, 230, 40) if heat else tuple(rng.randint(0, 255) for _ in range(3))
        draw.ellipse((x, y, x + rng.randint(40, 140), y + rng.randint(40, 120)), fill=colour)
    if heat:
        img = Image.blend(
            img.filter(ImageFilter.GaussianBlur(18)), Image.new("RGB", img.size, (68, 1, 84)), 0.35
        )
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def ranked(pk: int, truth: int, top: tuple[int, ...]) -> StimulusItem:
    return StimulusItem(
        pk=pk,
        item_id=f"i{pk}",
        image=f"images/{pk}.png",
        label=CLASSES[truth],
        label_index=truth,
        predicted=top[0],
        predicted_label=CLASSES[top[0]],
        correct=truth == top[0],
        top_classes=top,
        top_labels=tuple(CLASSES[c] for c in top),
        top_probabilities=(0.46, 0.27, 0.14, 0.08, 0.05),
        maps={},
    )


def simulation_shown(*, scores: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """A task the protocol plans ("recognised" = among the top 5, 3 scores shown): the trial's
    ``shown`` payload with image URLs, and each image URL's storage name."""
    protocol = get_protocol("simulation")
    config = protocol.validate_config(
        {"tasks": 1, "recognised_if": "top_k", "top_k": 5, "scores_shown_top": 3},
        methods=["m"],
    )
    items = [
        ranked(1, 0, (1, 2, 3, 0, 4)),  # TP: the target is its 4th guess
        ranked(2, 0, (0, 1, 2, 3, 4)),  # TP
        ranked(3, 0, (2, 1, 3, 4, 5)),  # FN
        ranked(4, 1, (1, 2, 0, 3, 4)),  # FP
        ranked(5, 1, (1, 2, 3, 4, 5)),  # TN
        ranked(6, 1, (2, 1, 3, 4, 5)),  # TN
    ]
    ctx = PlanContext(
        config=config,
        methods=["m"],
        stimuli=items,
        condition=ConditionSpec("c", {"saliency_shown": False, "scores_shown": scores}),
        rng=random.Random(5),
        participant_code=CODE,
    )
    (trial,) = protocol.plan(ctx)
    return with_urls(trial.shown, CODE), ctx.assets


def with_maps(shown: dict[str, Any]) -> dict[str, Any]:
    """The map-shown cell: a colour map beside every photo (URLs of their own)."""
    for k, panel in enumerate([*shown["examples"], shown["test"]]):
        panel["map"] = {"asset": f"map{k}", "url": f"/s/{CODE}/img/map{k}"}
    return shown


def gt_shown() -> dict[str, Any]:
    """A ground-truth prediction trial: pick the photo's class among four, then confidence."""
    return {
        "question": "What does this photo show?",
        "image": {"asset": "photo", "url": f"/s/{CODE}/img/photo"},
        "explanation": {"asset": "map", "url": f"/s/{CODE}/img/map"},
        "choice": {
            "name": "answer",
            "options": [
                {"value": str(k), "label": name, "key": str(k + 1)}
                for k, name in enumerate(CLASSES[:4])
            ],
        },
        "items": [confidence_item(5)],
    }


def trial_html(protocol: str, shown: dict[str, Any], *, index: int = 4) -> str:
    return render_to_string(
        "participant/trial.html",
        {
            "code": CODE,
            "page": "trials",
            "public_title": "A study about explanations of image classifiers",
            "progress": 40,
            "data": {},
            "error": "",
            "trial_index": index,
            "shown": shown,
            "protocol_template": f"participant/protocols/{protocol}.html",
            "idempotency_key": "k" * 32,
            "csrf_token": "token",
        },
    )


@dataclass
class Site:
    """What the routed "server" serves and what it was sent."""

    html: str
    broken: set[str] = field(default_factory=set)  # image tokens that fail (503)
    image_requests: list[str] = field(default_factory=list)
    posts: list[tuple[str, Any]] = field(default_factory=list)

    def handle(self, route: Any) -> None:
        request = route.request
        url = urlsplit(request.url)
        path = url.path
        if path == f"/s/{CODE}/":
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=self.html)
        elif path.startswith("/static/"):
            file = PROJECT_ROOT / "static" / path.removeprefix("/static/")
            kind = "text/css" if file.suffix == ".css" else "text/javascript"
            route.fulfill(status=200, content_type=kind, body=file.read_bytes())
        elif path.startswith(f"/s/{CODE}/img/"):
            token = path.rsplit("/", 1)[1]
            self.image_requests.append(f"{token}?{url.query}" if url.query else token)
            if token in self.broken:
                route.fulfill(status=503, body="unavailable")
            else:
                heat = token.startswith("map")
                route.fulfill(
                    status=200,
                    content_type="image/png",
                    body=picture(len(token) + sum(map(ord, token)), heat=heat),
                )
        elif request.method == "POST" and path.startswith("/api/"):
            self.posts.append((path, json.loads(request.post_data or "null")))
            route.fulfill(
                status=201,
                content_type="application/json",
                body=json.dumps({"next": f"/s/{CODE}/next"}),
            )
        elif path == f"/s/{CODE}/next":
            route.fulfill(status=200, content_type="text/html", body="<h1>Next page</h1>")
        elif path.endswith("legend.png"):
            route.fulfill(status=200, content_type="image/png", body=picture(0, heat=True))
        else:
            route.fulfill(status=404, body="")


@pytest.fixture
def open_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``open_page(site, device)``: the trial page in a fresh context ("phone" or "desktop")."""
    contexts: list[Any] = []
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    def make(site: Site, device: str) -> Any:
        context = browser.new_context(**(PHONE if device == "phone" else DESKTOP))
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.route(f"{ORIGIN}/**", site.handle)
        page.goto(f"{ORIGIN}/s/{CODE}/")

        def shot(name: str) -> None:
            # The first screen as the participant sees it, and the whole page. (A full-page
            # capture of an emulated phone can lose the touch emulation while it is taken:
            # its key hints may show there although the page hides them.)
            page.screenshot(path=str(folder / f"{device}-{name}-screen.png"))
            page.screenshot(path=str(folder / f"{device}-{name}-page.png"), full_page=True)

        page.shot = shot
        return page

    yield make
    for context in contexts:
        context.close()


BOXES_JS = """() => {
  const box = (el) => {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { top: r.top + window.scrollY, bottom: r.bottom + window.scrollY };
  };
  const fieldsets = Array.from(document.querySelectorAll(".sim-test fieldset"));
  return {
    question: box(document.querySelector(".sim-test h1")),
    photo: box(document.querySelector(".sim-test .sim-pair")),
    answers: fieldsets.map(box),
    submit: box(document.querySelector("[data-submit]")),
    examples: box(document.querySelector(".sim-training")),
    spills: Array.from(document.querySelectorAll(".sim-example img")).filter((img) => {
      const card = img.closest(".sim-example").getBoundingClientRect();
      const r = img.getBoundingClientRect();
      return r.left < card.left - 0.5 || r.right > card.right + 0.5;
    }).length,
    scrollsSideways: document.documentElement.scrollWidth > window.innerWidth,
  };
}"""


@pytest.mark.parametrize("cell", ["map-and-scores", "photo-only"])
def test_a_simulation_task_fits_the_first_phone_screen(open_page: Any, cell: str):
    shown, _ = simulation_shown(scores=cell == "map-and-scores")
    if cell == "map-and-scores":
        shown = with_maps(shown)
    shown["practice"] = True
    site = Site(trial_html("simulation", shown))

    phone = open_page(site, "phone")
    phone.wait_for_selector("form.trial.ready")
    phone.shot(f"simulation-{cell}")
    boxes = phone.evaluate(BOXES_JS)
    assert len(boxes["answers"]) == 2  # the prediction and the confidence
    screen = PHONE["viewport"]["height"]
    for name in ("question", "photo", "submit"):
        assert boxes[name]["bottom"] <= screen, (name, boxes)
    for answer in boxes["answers"]:
        assert answer["bottom"] <= screen, boxes
    assert not boxes["scrollsSideways"] and boxes["spills"] == 0
    # the examples follow the task, and the task's link brings them into view
    assert boxes["examples"]["top"] >= boxes["submit"]["bottom"]
    phone.get_by_role("link", name="the four examples").click()
    phone.wait_for_function("() => window.scrollY > 0")
    assert phone.get_by_role(
        "heading", name=re.compile("Examples of the system's decisions")
    ).is_visible()
    top = phone.evaluate(
        "() => document.querySelector('.sim-training').getBoundingClientRect().top"
    )
    assert -1 <= top < screen

    desktop = open_page(site, "desktop")
    desktop.wait_for_selector("form.trial.ready")
    desktop.shot(f"simulation-{cell}")
    boxes = desktop.evaluate(BOXES_JS)
    assert boxes["examples"]["bottom"] <= boxes["question"]["top"]  # examples first, as before
    assert not boxes["scrollsSideways"]
    assert boxes["spills"] == 0, "an example's photo or map spills out of its card"


KEYS_JS = """() => Array.from(document.querySelectorAll("label.option, label.choice")).map((el) => {
  const label = el;
  const name = label.querySelector(".label");
  const key = label.querySelector("kbd");
  const nr = name.getBoundingClientRect();
  const kr = key ? key.getBoundingClientRect() : null;
  return {
    text: label.innerText.replace(/\\s+/g, " ").trim(),
    name: name.innerText.trim(),
    key: key ? {
      shown: getComputedStyle(key).display !== "none",
      hidden: key.getAttribute("aria-hidden"),
      below: kr.top >= nr.bottom - 0.5,
      border: parseFloat(getComputedStyle(key).borderTopWidth),
    } : null,
  };
}).filter((o) => o.key)"""


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_key_hints_are_not_part_of_the_option_names(open_page: Any, device: str):
    shown, _ = simulation_shown(scores=False)
    for protocol, payload, names in (
        ("gt_prediction", gt_shown(), CLASSES[:4]),
        ("simulation", shown, ["Yes", "No"]),
    ):
        page = open_page(Site(trial_html(protocol, payload)), device)
        page.wait_for_selector("form.trial.ready")
        page.shot(f"keys-{protocol}")
        for name in names:  # the accessible name is the option's name alone, never "grey wolf 1"
            assert page.get_by_role("radio", name=name, exact=True).count() == 1, name
        options = page.evaluate(KEYS_JS)
        assert [o["name"] for o in options] == names
        for option in options:
            assert option["key"]["hidden"] == "true"
            if device == "phone":  # a touch screen: no key to press, no hint
                assert not option["key"]["shown"] and option["text"] == option["name"], option
            else:  # a key cap of its own, below the name
                assert option["key"]["shown"] and option["key"]["below"], option
                assert option["key"]["border"] >= 1, option


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_a_picture_that_does_not_load_keeps_the_trial_closed(open_page: Any, device: str):
    shown, _ = simulation_shown(scores=True)
    test_token = shown["test"]["image"]["asset"]
    site = Site(trial_html("simulation", shown), broken={test_token})
    page = open_page(site, device)
    notice = page.locator("[data-image-failed]")
    notice.wait_for(state="visible", timeout=15_000)  # after the two retries (1 s, then 3 s)
    page.shot("image-failed")

    # tried three times, the retries with URLs of their own; reported once, by index only
    assert [r for r in site.image_requests if r.startswith(test_token)] == [
        test_token,
        f"{test_token}?retry=1",
        f"{test_token}?retry=2",
    ]
    assert site.posts == [
        (f"/api/participants/{CODE}/events/", {"kind": "trial.image_failed", "trial": 4})
    ]
    assert "could not be loaded" in notice.inner_text()
    box = notice.bounding_box()
    assert box is not None and box["y"] + box["height"] <= page.viewport_size["height"]
    yes = page.get_by_role("radio", name="Yes", exact=True)
    continue_ = page.get_by_role("button", name="Continue")
    assert yes.is_disabled() and continue_.is_disabled()
    dimmed = "el => parseFloat(getComputedStyle(el.closest('label') || el).opacity)"
    assert yes.evaluate(dimmed) < 1 and continue_.evaluate(dimmed) < 1  # and they look it
    page.keyboard.press("y")
    page.keyboard.press("Enter")
    assert not yes.is_checked() and len(site.posts) == 1  # nothing answered, nothing sent

    # the picture is back: Try again opens the trial
    site.broken.clear()
    page.get_by_role("button", name="Try again").click()
    page.wait_for_selector("form.trial.ready")
    assert notice.is_hidden() and yes.is_enabled()
    page.shot("image-loaded")
    yes.check()
    page.get_by_role("radio", name=re.compile("Moderately confident")).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()
    path, body = site.posts[-1]
    assert path == f"/api/participants/{CODE}/responses/"
    assert body["trial"] == 4 and body["value"] == {"prediction": "yes", "confidence": "3"}
