"""The researcher's other pages in a real browser: dashboard, gallery, jobs and studies list.

Each page is screenshotted and checked for console errors, unlabelled controls, images without
alt text, keyboard focus and the contrast of the colour map's legend in the gallery.
"""

from __future__ import annotations

from typing import Any

from .conftest import Content, Recorder
from .helpers import MIN_CONTRAST, focused, legend_contrasts
from .test_study_lifecycle import log_in, visit


def test_gallery_shows_the_real_maps_with_a_readable_legend(
    content: Content, researcher: Any, live_server: Any, new_page: Any, recorder: Recorder
):
    page = new_page("researcher")
    log_in(page, live_server.url, recorder, researcher.username)
    page.get_by_role("link", name="Gallery").first.click()
    visit(recorder, page, "gallery", "gallery")
    assert page.get_by_role("heading", name="Saliency gallery").is_visible()
    legend = legend_contrasts(page)
    assert [x["text"] for x in legend] == ["low relevance", "high relevance"]
    assert all(x["ratio"] >= MIN_CONTRAST for x in legend), legend
    # the photographs and maps are real images (lazy ones below the fold load when scrolled to;
    # a broken one is complete with no pixels)
    images = page.eval_on_selector_all(
        ".gallery-grid img", "imgs => imgs.map(i => [i.alt, i.complete, i.naturalWidth])"
    )
    loaded = [alt for alt, complete, width in images if complete and width > 0]
    assert not [alt for alt, complete, width in images if complete and width == 0], images
    assert len(images) == 24 and len(loaded) >= 3, images  # 12 photographs, 2 methods
    assert any(alt.startswith("gradcam map of") for alt in loaded)

    # the filters work from the keyboard: choose, Tab to Show, Enter
    page.get_by_label("Images").select_option("misclassified")
    page.get_by_label("Maps for").focus()
    for _ in range(12):  # past the presentation's settings, which follow the filters
        page.keyboard.press("Tab")
        if (focused(page) or {}).get("text") == "Show":
            break
    assert (focused(page) or {}).get("text") == "Show"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "show=misclassified" in page.url
    visit(recorder, page, "gallery misclassified")

    for link, heading in [("Jobs", "Precompute jobs"), ("Studies", "Studies")]:
        page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()
        assert page.get_by_role("heading", name=heading, exact=True).is_visible()
        visit(recorder, page, link)
