"""In-page checks (accessibility) and keyboard-only walking of the participant's pages.

The checks run as JavaScript in the page (``page.evaluate``), with nothing downloaded:

- every visible form control has an accessible name (a ``<label>``, ``aria-label`` or
  ``aria-labelledby``; a button its text);
- every image has a non-empty ``alt``;
- the colour-map legend's labels have a WCAG contrast ratio of at least 4.5:1 against the
  background they are drawn on;
- :func:`assert_accessible`: axe-core (Deque's rules engine, the copy bundled in the pinned
  ``axe-playwright-python`` wheel, read from disk) finds no violation of the WCAG 2.0/2.1 A and AA
  rules with impact serious or critical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

MIN_CONTRAST = 4.5

UNLABELLED_JS = """() => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const text = (el) => (el ? (el.innerText || el.textContent || "").trim() : "");
  const named = (el) => {
    if ((el.getAttribute("aria-label") || "").trim()) return true;
    const ids = (el.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
    if (ids.some((id) => text(document.getElementById(id)))) return true;
    if (el.tagName === "BUTTON") return !!text(el);
    if (el.labels && Array.from(el.labels).some((label) => text(label))) return true;
    return false;
  };
  return Array.from(document.querySelectorAll("input, select, textarea, button"))
    .filter((el) => el.type !== "hidden" && visible(el) && !named(el))
    .map((el) => el.outerHTML.slice(0, 160));
}"""

NO_ALT_JS = """() => Array.from(document.images)
  .filter((img) => !(img.getAttribute("alt") || "").trim())
  .map((img) => img.outerHTML.slice(0, 160))"""

LEGEND_JS = """() => {
  const rgba = (value) => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [255, 255, 255, 1];
    const parts = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const background = (el) => {
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const colour = rgba(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) return colour;
    }
    return [255, 255, 255, 1];
  };
  const luminance = ([r, g, b]) => {
    const channel = (c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  return Array.from(document.querySelectorAll(".legend figcaption span")).map((span) => {
    const fg = luminance(rgba(getComputedStyle(span).color));
    const bg = luminance(background(span));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    return { text: span.innerText.trim(), ratio: Math.round(ratio * 100) / 100 };
  });
}"""

FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  const group = el.closest("[data-item]");
  const groups = Array.from(document.querySelectorAll("[data-item]"));
  const radios = group ? Array.from(group.querySelectorAll("input[type=radio]")) : [];
  return {
    tag: el.tagName.toLowerCase(), type: el.type || "", name: el.name || "",
    value: el.value || "", text: (el.innerText || "").trim().slice(0, 60),
    submit: el.hasAttribute("data-submit") || el.type === "submit",
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    top: box.top + window.scrollY, left: box.left + window.scrollX,
    group: group ? groups.indexOf(group) : -1,
    index: radios.indexOf(el), values: radios.map((r) => r.value),
  };
}"""


def accessibility_problems(page: Any) -> list[str]:
    """Unlabelled controls, images without alt text, and legend labels below 4.5:1."""
    problems = [f"control without a label: {html}" for html in page.evaluate(UNLABELLED_JS)]
    problems += [f"image without alt text: {html}" for html in page.evaluate(NO_ALT_JS)]
    for label in page.evaluate(LEGEND_JS):
        if label["ratio"] < MIN_CONTRAST:
            problems.append(f"legend label {label['text']!r}: contrast {label['ratio']}:1")
    return problems


AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
AXE_FAILING_IMPACTS = ("serious", "critical")


@cache
def axe_source() -> str:
    """axe-core's script (``axe.min.js``) as the ``axe-playwright-python`` wheel ships it."""
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text("utf-8")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.0/2.1 A and AA violations on the page as it is.

    The script is evaluated in the page (``page.evaluate``, which the page's Content Security
    Policy does not govern), then ``axe.run`` checks the whole document against the rules tagged
    :data:`AXE_TAGS`; each violation is ``{id, impact, help, nodes: [selector, ...]}``.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source() + "\n;undefined")
    options = json.dumps({"runOnly": {"type": "tag", "values": list(AXE_TAGS)}})
    found = page.evaluate(
        f"""async () => {{
          const result = await window.axe.run(document, {options});
          return result.violations.map((v) => ({{
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => n.target.join(" ")),
          }}));
        }}"""
    )
    return [v for v in found if v["impact"] in AXE_FAILING_IMPACTS]


def assert_accessible(page: Any, label: str) -> None:
    """Fail listing every serious or critical axe-core violation (id, impact, the elements)."""
    violations = axe_violations(page)
    assert not violations, f"{label} ({page.url}): axe-core violations:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}; on {', '.join(v['nodes'][:6])}"
        for v in violations
    )


def legend_contrasts(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(LEGEND_JS)


def focused(page: Any) -> dict[str, Any] | None:
    return page.evaluate(FOCUS_JS)


@dataclass
class TabStop:
    what: str
    top: float
    left: float


NEXT_STEP_JS = """(before) => {
  const form = document.querySelector("form[data-trial]");
  if (window.__trialBefore !== before) {  // a page loaded since: wait until it is all there
    return document.readyState === "complete" && (!form || form.classList.contains("ready"));
  }
  return !!form && form.dataset.trial !== before && form.classList.contains("ready");
}"""


def send_answer(page: Any, act: Any) -> None:
    """Send the trial's answer with ``act()`` and wait for what comes next: the next trial put
    in place of this one (no page load, its pictures loaded) or the next page, loaded."""
    before = page.evaluate(
        "() => (window.__trialBefore = document.querySelector('form[data-trial]').dataset.trial)"
    )
    act()
    page.wait_for_function(NEXT_STEP_JS, arg=before)


def answer_trial_with_keyboard(
    page: Any, expected: dict[str, Any], *, pick: int = 1, max_tabs: int = 40
) -> list[TabStop]:
    """Answer every question of the trial with Tab, Space and arrow keys, reach the Continue
    button with Tab and press Enter; the tab stops visited, in order.

    The answer of a question is ``expected[name]`` when given (an attention check), else its
    option at index ``pick`` (the last one if it has fewer; the default, the second option, means
    an arrow key is used). Each tab stop must show a visible focus ring.
    """
    stops: list[TabStop] = []
    answered: set[int] = set()
    n_groups = page.locator("form[data-trial] [data-item]").count()
    for _ in range(max_tabs):
        page.keyboard.press("Tab")
        now = focused(page)
        assert now is not None, "Tab left the page without reaching the Continue button"
        assert now["outline"], f"no visible focus on {now}"
        stops.append(TabStop(f"{now['tag']}:{now['name'] or now['text']}", now["top"], now["left"]))
        if now["type"] == "radio" and now["group"] not in answered:
            answered.add(now["group"])
            want = expected.get(now["name"])
            values = now["values"]
            target = values.index(str(want)) if want is not None else min(pick, len(values) - 1)
            page.keyboard.press("Space")
            step = "ArrowRight" if target >= now["index"] else "ArrowLeft"
            for _ in range(abs(target - now["index"])):
                page.keyboard.press(step)
            after = focused(page)
            assert after is not None and after["value"] == values[target], (after, values[target])
            assert (
                page.locator(f"input[name='{now['name']}']:checked").get_attribute("value")
                == (values[target])
            )
        elif now["submit"]:
            assert len(answered) == n_groups, f"Tab reached Continue after {len(answered)} groups"
            send_answer(page, lambda: page.keyboard.press("Enter"))
            return stops
    raise AssertionError(f"Continue not reached in {max_tabs} Tab presses: {stops}")


def assert_visual_order(stops: list[TabStop], tolerance: float = 4.0) -> None:
    """Tab stops go down the page (left to right within a row)."""
    for before, after in pairwise(stops):
        same_row = abs(after.top - before.top) <= tolerance
        assert (same_row and after.left > before.left) or after.top > before.top, (
            f"tab order jumps back: {before} then {after}"
        )
