"""Every page a participant meets passes axe-core's WCAG 2.1 A and AA rules, at desktop and phone
width, for each protocol: start, consent, demographics, instructions, comprehension check, a
practice trial and its feedback, the main trials and the attention check, the questionnaire, the
debrief and the completion page; then the screen-out page (consent refused), an answer refused
by the server (an error on the trial page), the expired session and the "not open" page.

The study is made with the platform's own services (no designer pages: those have their own
test) from the browser tests' real content, and the participant answers with the mouse. Beyond
axe, each page is checked for what axe cannot see:

- its title names the step ("Trial 2 of 3 · <public title>");
- focus lands on the page's heading, or on its one action, when the page changes;
- every answer group is a ``fieldset`` whose ``legend`` names it (announced with its question);
- the focused control shows a ``:focus-visible`` outline;
- images have alternative text; the colour legend has its text labels;
- at phone width the participant asks for reduced motion, and nothing moves.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from studies.models import Participant, Study, Trial

from .conftest import PHONE, Content, Recorder
from .helpers import accessibility_problems, assert_accessible, send_answer

PUBLIC_TITLE = "A study about pictures"
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "likert": {},
    "preference": {},
    "simulation": {
        "tasks": 2,
        "recognised_if": "top_k",
        "top_k": 3,
        "target_classes": ["Shetland sheepdog"],
    },
    "gt_prediction": {},
}
METHODS = {
    "likert": ["gradcam", "gradient"],
    "preference": ["gradcam", "gradient"],
    "simulation": ["gradcam"],
    "gt_prediction": ["gradcam"],
}
COMPREHENSION = [
    {"text": "What will you look at?", "options": ["Images", "Recipes"], "answer": "Images"}
]
QUESTIONNAIRE = [
    {"name": "clarity", "text": "How clear were the maps?", "type": "likert", "points": 5},
    {"name": "comments", "text": "Any comments?", "type": "text", "required": False},
]

# The group of each answer and its name: a fieldset with a non-empty legend (the question's
# own prompt), so a screen reader announces the group's name before each option.
GROUPS_JS = """() => {
  const text = (el) => (el ? el.innerText.trim() : "");
  const groups = new Set([
    ...document.querySelectorAll("[data-item]"),
    ...Array.from(document.querySelectorAll("input[type=radio]"),
      (r) => r.closest("fieldset") || r),
  ]);
  return Array.from(groups, (el) => ({
    tag: el.tagName.toLowerCase(),
    html: el.outerHTML.slice(0, 120),
    legend: text(el.querySelector(":scope > legend")),
    description: (el.getAttribute("aria-describedby") || "").split(/\\s+/).filter(Boolean)
      .map((id) => text(document.getElementById(id))).join(" "),
  }));
}"""
# Under prefers-reduced-motion: reduce, the elements that would move (a transition or an
# animation longer than 10 ms), none expected.
MOTION_JS = """() => {
  if (!matchMedia("(prefers-reduced-motion: reduce)").matches) return null;
  const seconds = (value) => Math.max(...value.split(",").map(
    (x) => parseFloat(x) * (x.trim().endsWith("ms") ? 0.001 : 1)));
  return Array.from(document.querySelectorAll("*")).filter((el) => {
    const style = getComputedStyle(el);
    return seconds(style.transitionDuration) > 0.01 || seconds(style.animationDuration) > 0.01;
  }).map((el) => el.outerHTML.slice(0, 100));
}"""
# A trial's question (its heading) and a colour legend's text labels.
QUESTION_JS = (
    """() => (document.querySelector("form[data-trial] h1") || {innerText: ""}).innerText.trim()"""
)
LEGEND_LABELS_JS = """() => Array.from(document.querySelectorAll("figure.legend"), (figure) =>
  Array.from(figure.querySelectorAll("figcaption span"), (span) => span.innerText.trim()))"""
FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  return {tag: el.tagName.toLowerCase(), text: (el.innerText || "").trim().slice(0, 80)};
}"""
OUTLINE_JS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return el.matches(":focus-visible") && style.outlineStyle !== "none"
    && parseFloat(style.outlineWidth) >= 2;
}"""
SUBMIT_EMPTY_JS = """() => {
  const form = document.querySelector("form[data-trial]");
  HTMLFormElement.prototype.submit.call(form);
}"""


def expect_logged_status(recorder: Recorder, status: int) -> None:
    """The browser logs a page's error status as a console error: the one expected is taken."""
    logged = [e for e in recorder.errors if f"status of {status}" in e]
    assert len(logged) == 1, recorder.errors
    recorder.errors.remove(logged[0])


def make_study(owner: Any, content: Content, protocol: str) -> Study:
    from studies.services.studies import design_validate, study_create, study_transition

    flow: dict[str, Any] = {
        "public_title": PUBLIC_TITLE,
        "demographics": True,
        "practice_trials": 1,
        "practice_feedback": protocol in ("simulation", "gt_prediction"),
        "attention_checks": 1,
        "comprehension": COMPREHENSION,
        "questionnaire": QUESTIONNAIRE,
    }
    if protocol != "simulation":
        flow["max_trials"] = 2
    design = design_validate(
        protocol=protocol,
        configuration=CONFIGURATIONS[protocol],
        flow=flow,
        stimuli={"methods": METHODS[protocol]},
        classifier=content.classifier,
        image_set=content.image_set,
        user=owner,
    )
    study = study_create(owner=owner, title=f"Accessibility: {protocol}", design=design)
    return study_transition(study=study, actor=owner, action="launch")


def check_page(page: Any, recorder: Recorder, label: str) -> str:
    """Screenshot, axe-core and the in-page checks; the page's step name (its title's start)."""
    recorder.shot(page, label)
    assert_accessible(page, label)
    problems = accessibility_problems(page)
    assert not problems, f"{label} ({page.url}):\n" + "\n".join(problems)
    title = page.title()
    assert title.endswith(f" · {PUBLIC_TITLE}"), f"{label}: the title {title!r} names no step"
    question = page.evaluate(QUESTION_JS)
    for group in page.evaluate(GROUPS_JS):
        assert group["tag"] == "fieldset" and group["legend"], f"{label}: unnamed group {group}"
        if question:  # announced with the trial's question
            assert question in group["description"], f"{label}: {group} without {question!r}"
    moving = page.evaluate(MOTION_JS)
    assert (moving is None) == label.startswith("desktop"), f"{label}: reduced motion not asked"
    assert not moving, f"{label}: moves under prefers-reduced-motion: {moving}"
    for labels in page.evaluate(LEGEND_LABELS_JS):
        assert len(labels) >= 2 and all(labels), f"{label}: a colour legend without text {labels}"
    return title.removesuffix(f" · {PUBLIC_TITLE}")


def assert_focus_on_arrival(page: Any, label: str) -> None:
    """A new page puts the focus on its heading (a trial, a form) or on its one action."""
    now = page.evaluate(FOCUS_JS)
    assert now is not None, f"{label}: the focus is nowhere after the page changed"
    heading = page.locator("h1").first.inner_text().strip()
    assert now["tag"] in ("h1", "button"), f"{label}: focus on {now}"
    if now["tag"] == "h1":
        assert now["text"] == heading[:80], (now, heading)


def answer_trial(page: Any, row: Trial) -> None:
    """Pick the expected answer (an attention check) or the first option of every group."""
    expected = dict(row.hidden.get("expected", {}))
    for index in range(page.locator("form[data-trial] [data-item]").count()):
        group = page.locator("form[data-trial] [data-item]").nth(index)
        selects = group.locator("select")
        for k in range(selects.count()):
            selects.nth(k).select_option(index=k + 1)
        radios = group.locator("input[type=radio]")
        if not radios.count():
            continue
        name = radios.first.get_attribute("name") or ""
        if name in expected:
            group.locator(f"input[value='{expected[name]}']").check()
        else:
            radios.first.check()
    send_answer(page, page.get_by_role("button", name="Continue").click)


def fill_questions(page: Any) -> None:
    for index in range(page.locator("form.questions .question").count()):
        question = page.locator("form.questions .question").nth(index)
        select = question.locator("select")
        if select.count():
            select.select_option(index=1)
        radios = question.locator("input[type=radio]")
        if radios.count():
            radios.first.check()
    if page.get_by_label("What will you look at?").count():
        page.get_by_label("What will you look at?").select_option("Images")
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()


def take_part(page: Any, link: str, recorder: Recorder, width: str) -> tuple[Participant, list]:
    """Every page to the end, each checked; the participant and the step names seen."""
    page.goto(link)
    steps: list[str] = []
    code = ""
    for _ in range(40):
        label = f"{width} {page.locator('h1').first.inner_text()}"
        if steps:
            assert_focus_on_arrival(page, label)
        trial = page.locator("form[data-trial]")
        if trial.count():
            page.wait_for_selector("form.trial.ready")
            code = trial.get_attribute("data-code") or ""
            index = int(trial.get_attribute("data-trial") or "-1")
            row = Trial.objects.get(participant__code=code, index=index)
            steps.append(check_page(page, recorder, f"{label} trial {index}"))
            page.keyboard.press("Tab")  # the focus ring of the first control
            assert page.evaluate(OUTLINE_JS), f"{label}: no visible focus ring"
            answer_trial(page, row)
            continue
        steps.append(check_page(page, recorder, label))
        if page.locator(".code").count():
            return Participant.objects.get(code=code), steps
        if page.locator("form.questions").count():
            fill_questions(page)
            continue
        with page.expect_navigation():
            page.locator("form button[type=submit]").first.click()
    raise AssertionError(f"the participant did not reach the end: {steps}")


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("protocol", ["likert", "preference", "simulation", "gt_prediction"])
def test_every_participant_page_is_accessible(
    protocol: str,
    width: str,
    content: Content,
    researcher: Any,
    live_server: Any,
    new_page: Any,
    recorder: Recorder,
):
    study = make_study(researcher, content, protocol)
    link = f"{live_server.url}/take/{study.link_token}/"
    # the phone participant asks for reduced motion: nothing on the pages moves then
    options = {**PHONE, "reduced_motion": "reduce"} if width == "phone" else {}
    participant, steps = take_part(new_page(width, **options), link, recorder, width)
    assert participant.state == Participant.State.COMPLETED
    n = participant.n_trials - participant.n_practice
    pages = ["Start", "Information and consent", "About you", "Instructions"]
    pages += ["Check your understanding", "Practice trial 1 of 1"]
    if protocol in ("simulation", "gt_prediction"):  # practice answers with a right answer
        pages.append("Practice feedback")
    pages += [f"Trial {k} of {n}" for k in range(1, n + 1)]
    pages += ["Questionnaire", "Debriefing", "All done"]
    assert steps == pages
    kinds = set(participant.trials.values_list("kind", flat=True))
    assert kinds == {Trial.Kind.PRACTICE, Trial.Kind.MAIN, Trial.Kind.ATTENTION}, kinds

    # consent refused: the screen-out page
    page = new_page(f"{width} refusing", **options)
    page.goto(link)
    with page.expect_navigation():
        page.get_by_role("button", name="Start").click()
    with page.expect_navigation():
        page.get_by_role("button", name="I do not agree").click()
    assert check_page(page, recorder, f"{width} screened out") == "Session ended"

    # an answer the server refuses: the trial again, with its error
    page = new_page(f"{width} refused answer", **options)
    page.goto(link)
    for name in ("Start", "I agree to take part"):
        with page.expect_navigation():
            page.get_by_role("button", name=name).click()
    fill_questions(page)  # demographics
    with page.expect_navigation():
        page.get_by_role("button", name="Begin").click()
    fill_questions(page)  # comprehension
    page.wait_for_selector("form.trial.ready")
    with page.expect_navigation():  # the form posted without answers, past the page's script
        page.evaluate(SUBMIT_EMPTY_JS)
    assert page.locator("[data-error]").inner_text().strip(), "no error shown"
    expect_logged_status(recorder, 400)
    check_page(page, recorder, f"{width} refused answer")

    # the expired session and the closed study
    Participant.objects.filter(code=page.url.rstrip("/").rsplit("/", 1)[-1]).update(page="expired")
    page.reload()
    assert check_page(page, recorder, f"{width} expired") == "Session expired"
    Study.objects.filter(pk=study.pk).update(state=Study.State.CLOSED)
    page = new_page(f"{width} closed", **options)
    page.goto(link)
    expect_logged_status(recorder, 403)
    assert re.match("Not available", check_page(page, recorder, f"{width} closed"))


def test_axe_finds_what_it_must(browser: Any):
    """The check can fail: a page with an image without alternative text, an unlabelled radio
    button and grey-on-white text fails, naming the rules and the elements."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
            '<h1>Broken</h1><img id="photo" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
            '<input id="lonely" type="radio" name="r">'
            '<p id="faint" style="color:#ccc;background:#fff">faint text</p></main></body></html>'
        )
        with pytest.raises(AssertionError) as failure:
            assert_accessible(page, "broken page")
    finally:
        context.close()
    message = str(failure.value)
    for rule, node in (("image-alt", "#photo"), ("label", "#lonely"), ("color-contrast", "#faint")):
        assert re.search(rf"- {rule} \((serious|critical)\).*{node}", message), message
