"""The presentation of the maps, in a real browser: the designer previews the chosen convention
(one image per method, drawn by the server), the study launches once its stimuli are rendered,
and a participant's trial shows exactly those renders with the convention's legend."""

from __future__ import annotations

from typing import Any

from explainers.core.render import PRESETS
from explainers.models import Image as ImageRow
from explainers.models import MapRender
from studies.models import Study, Trial

from .conftest import PHONE, Content, Recorder
from .test_study_lifecycle import log_in, visit

PREVIEW_LOADED = """() => Array.from(document.querySelectorAll('#presentation-preview img')).map(
  (img) => ({src: img.getAttribute('src'), width: img.naturalWidth, alt: img.alt}))"""


def wait_for_preview(page: Any, preset: str) -> list[dict[str, Any]]:
    page.wait_for_function(
        """(preset) => {
          const imgs = Array.from(document.querySelectorAll('#presentation-preview img'));
          return imgs.length === 2 && imgs.every(
            (i) => i.complete && i.naturalWidth > 0 && i.src.includes('preset=' + preset));
        }""",
        arg=preset,
        timeout=30_000,
    )
    return page.evaluate(PREVIEW_LOADED)


def test_designer_preview_and_participant_page_show_the_chosen_presentation(
    content: Content, researcher: Any, live_server: Any, new_page: Any, recorder: Recorder
):
    base = live_server.url
    page = new_page("researcher")
    log_in(page, base, recorder, researcher.username)
    page.goto(f"{base}/studies/new/?protocol=likert")
    page.get_by_label("Title", exact=True).fill("Browser test: presentation")
    page.get_by_label("Classifier", exact=True).select_option(label=str(content.classifier))
    page.get_by_label("Image set", exact=True).select_option(label=str(content.image_set))
    page.get_by_label("Methods", exact=True).fill("gradcam, gradient")
    page.get_by_label("Methods", exact=True).dispatch_event("change")
    page.get_by_label("Trials per participant", exact=True).fill("2")
    default = wait_for_preview(page, "default")
    assert [img["alt"].split(" ")[0] for img in default] == ["gradcam", "gradient"]
    page.get_by_label("Presentation of the maps", exact=True).select_option("signed")
    signed = wait_for_preview(page, "signed")
    assert all("preset=signed" in img["src"] for img in signed)
    visit(recorder, page, "designer presentation signed")
    phone_designer = new_page("researcher phone", **PHONE)
    phone_designer.context.add_cookies(page.context.cookies())
    phone_designer.goto(page.url)
    phone_designer.get_by_label("Classifier", exact=True).select_option(
        label=str(content.classifier)
    )
    phone_designer.get_by_label("Image set", exact=True).select_option(label=str(content.image_set))
    phone_designer.get_by_label("Methods", exact=True).fill("gradcam, gradient")
    phone_designer.get_by_label("Methods", exact=True).dispatch_event("change")
    wait_for_preview(phone_designer, "default")
    phone_designer.locator("#presentation-preview").scroll_into_view_if_needed()
    recorder.shot(phone_designer, "designer preview phone")

    with page.expect_navigation():
        page.get_by_role("button", name="Create draft").click()
    study = Study.objects.get(title="Browser test: presentation")
    assert study.stimuli_selection["presentations"][0]["name"] == "signed"
    assert page.get_by_text("signed:").first.is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Launch").click()
    study.refresh_from_db()
    assert study.state == Study.State.LIVE, page.content()[:2000]
    link = page.locator("#anonymous-link").inner_text().strip()

    participant_page = new_page("phone participant", **PHONE)
    participant_page.goto(link)
    for _ in range(8):
        if participant_page.locator("form[data-trial]").count():
            break
        with participant_page.expect_navigation():
            participant_page.keyboard.press("Enter")
    form = participant_page.locator("form[data-trial]")
    code = form.get_attribute("data-code")
    trial = Trial.objects.get(participant__code=code, index=int(form.get_attribute("data-trial")))
    signed_files = set(
        MapRender.objects.filter(presentation_key=PRESETS["signed"].key).values_list(
            "image", flat=True
        )
    )
    photos = set(ImageRow.objects.values_list("file", flat=True))  # every shown file is s/…
    maps = {name for name in trial.assets.values() if name not in photos}
    assert maps and maps <= signed_files  # the participant sees the signed renders
    participant_page.wait_for_function(
        "() => Array.from(document.images).every((i) => i.complete && i.naturalWidth > 0)"
    )
    legend = participant_page.locator("figure.legend")
    assert legend.locator("figcaption span").all_inner_texts() == [
        "spoke against the answer",
        "no effect",
        "spoke for the answer",
    ]
    assert f"cmap={PRESETS['signed'].cmap}" in (legend.locator("img").get_attribute("src") or "")
    recorder.shot(participant_page, "participant signed presentation phone")
