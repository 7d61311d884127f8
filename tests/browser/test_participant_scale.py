"""A rating scale is one row on a phone: every point side by side, none wrapped below the others.

The Likert trial's own template is rendered with 4 to 7 points and the default labels, styled by
the participant's style sheets, and laid out by Chromium at phone width (390 CSS pixels) and at
desktop width. Nothing else is needed (no server, no database), so the test takes a second.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string

from studies.protocols._shared import likert_options

from .conftest import DESKTOP, PHONE, PROJECT_ROOT

LAYOUT_JS = """() => Array.from(document.querySelectorAll(".scale")).map((scale) => {
  const box = scale.getBoundingClientRect();
  return {
    points: scale.querySelectorAll(".option").length,
    tops: Array.from(scale.querySelectorAll(".option")).map((o) => o.getBoundingClientRect().top),
    overflow: Array.from(scale.querySelectorAll(".option")).filter((o) => {
      const r = o.getBoundingClientRect();
      return r.left < box.left - 0.5 || r.right > box.right + 0.5 || o.scrollWidth > o.clientWidth;
    }).length,
    pageScrolls: document.documentElement.scrollWidth > window.innerWidth,
  };
})"""


def trial_page(points: int) -> str:
    """A Likert trial page as a participant gets it, with the style sheets inlined."""
    shown = {
        "question": "How well does the map highlight the object?",
        "facts": [],
        "images": [],
        "items": [
            {
                "name": "rating",
                "prompt": "Your answer",
                "options": likert_options(points, []),
            },
            {
                "name": "confidence",
                "prompt": "How sure are you?",
                "options": likert_options(points, []),
            },
        ],
    }
    fragment = render_to_string("participant/protocols/likert.html", {"shown": shown})
    css = "\n".join(
        (PROJECT_ROOT / "static" / "css" / name).read_text(encoding="utf-8")
        for name in ("site.css", "participant.css")
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{css}</style></head><body class='participant'><main class='p-main'>"
        f"<form class='trial'>{fragment}<button type='submit'>Continue</button></form>"
        "</main></body></html>"
    )


@pytest.mark.parametrize("width", ["phone", "desktop"])
@pytest.mark.parametrize("points", [4, 5, 6, 7])
def test_rating_scale_is_one_row(browser: Any, points: int, width: str):
    context = browser.new_context(**(PHONE if width == "phone" else DESKTOP))
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.abort())  # the legend image: nothing to fetch
        page.set_content(trial_page(points), wait_until="domcontentloaded")
        scales = page.evaluate(LAYOUT_JS)
    finally:
        context.close()
    assert len(scales) == 2
    for scale in scales:
        assert scale["points"] == points
        assert max(scale["tops"]) - min(scale["tops"]) < 1, f"{points} points wrap: {scale}"
        assert scale["overflow"] == 0, f"{points} points: a label spills out: {scale}"
        assert not scale["pageScrolls"], "the page scrolls sideways"
