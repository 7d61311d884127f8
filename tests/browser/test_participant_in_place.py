"""One round trip per trial in a real browser (issue 22).

A participant walks a study's trials: each answer is one request to the participant API, whose
reply puts the next trial in place of the one answered, with no page load between trials; the
next trial's pictures were fetched while the current one was answered; the title, the progress
bar and the focus follow; a double click sends one answer; a reload in the middle resumes at
the trial the server says is current; every answer is stored once.
"""

from __future__ import annotations

from typing import Any

from studies.models import Participant, Study, Trial

from .conftest import Content, Recorder
from .helpers import send_answer

PUBLIC_TITLE = "A study about pictures"

PREFETCHED_JS = """() => {
  const form = document.querySelector("form[data-trial]");
  const want = (form.dataset.prefetch || "").split(" ").filter(Boolean);
  const got = new Set(performance.getEntriesByType("resource")
    .map((e) => new URL(e.name).pathname));
  return want.every((url) => got.has(url));
}"""
STATE_JS = """() => {
  const form = document.querySelector("form[data-trial]");
  const el = document.activeElement;
  return {
    index: form ? parseInt(form.dataset.trial, 10) : null,
    prefetch: form ? (form.dataset.prefetch || "").split(" ").filter(Boolean) : [],
    images: form ? Array.from(form.querySelectorAll("img"), (i) => new URL(i.src).pathname)
      .filter((p) => p.startsWith("/s/")) : [],
    loaded: !!form && Array.from(form.querySelectorAll("img")).every((i) => i.naturalWidth > 0),
    title: document.title,
    progress: (document.querySelector(".p-progress") || {}).value,
    focus: el ? el.tagName.toLowerCase() + ":" + (el.innerText || "").trim().slice(0, 80) : null,
    question: (document.querySelector("main h1") || {innerText: ""}).innerText.trim().slice(0, 80),
  };
}"""
DOUBLE_CLICK_JS = """() => {
  const button = document.querySelector("form[data-trial] [data-submit]");
  button.click();
  button.click();
}"""


def in_place_study(owner: Any, content: Content) -> Study:
    from studies.services.studies import design_validate, study_create, study_transition

    design = design_validate(
        protocol="likert",
        configuration={},
        flow={"public_title": PUBLIC_TITLE, "attention_checks": 1, "max_trials": 4},
        stimuli={"methods": ["gradcam", "gradient"]},
        classifier=content.classifier,
        image_set=content.image_set,
        user=owner,
    )
    study = study_create(owner=owner, title="In place", design=design)
    return study_transition(study=study, actor=owner, action="launch")


def pick_answers(page: Any, row: Trial) -> None:
    expected = dict(row.hidden.get("expected", {}))
    groups = page.locator("form[data-trial] [data-item]")
    for k in range(groups.count()):
        radios = groups.nth(k).locator("input[type=radio]")
        name = radios.first.get_attribute("name") or ""
        if name in expected:
            groups.nth(k).locator(f"input[value='{expected[name]}']").check()
        else:
            radios.last.check()


def test_trials_move_on_in_place_with_one_request_each_and_a_reload_resumes(
    content: Content, researcher: Any, live_server: Any, new_page: Any, recorder: Recorder
):
    study = in_place_study(researcher, content)
    page = new_page("participant")
    log: list[tuple[str, str, str]] = []  # method, path, resource type: in order
    page.on(
        "request",
        lambda r: log.append((r.method, "/" + r.url.split("/", 3)[-1], r.resource_type)),
    )
    page.goto(f"{live_server.url}/take/{study.link_token}/")
    for _ in range(6):  # Start, consent, instructions: each page's one action has the focus
        if page.locator("form[data-trial]").count():
            break
        with page.expect_navigation():
            page.keyboard.press("Enter")
    page.wait_for_selector("form.trial.ready")
    code = page.locator("form[data-trial]").get_attribute("data-code")
    participant = Participant.objects.get(code=code)
    n = participant.n_trials
    assert n >= 4
    log.clear()
    seen: list[int] = []
    reloaded_at = 2
    for step in range(n):
        if step == reloaded_at:  # a reload between trials: the server's current trial again
            before = page.evaluate(STATE_JS)
            page.reload()
            page.wait_for_selector("form.trial.ready")
            after = page.evaluate(STATE_JS)
            assert after["index"] == before["index"] and after["images"] == before["images"]
            assert after["title"] == before["title"]
        state = page.evaluate(STATE_JS)
        index = state["index"]
        seen.append(index)
        assert state["loaded"] and state["images"], state
        assert state["title"] == f"Trial {index + 1} of {n} · {PUBLIC_TITLE}", state
        assert state["progress"] == round(100 * index / n), state
        if step:  # put in place: its heading has the focus, as a new page's would
            assert state["focus"] == f"h1:{state['question']}", state
        recorder.shot(page, f"trial {index}")
        # the next trial's pictures arrive while this one is answered
        if step < n - 1:
            assert state["prefetch"], state
            page.wait_for_function(PREFETCHED_JS)
        pick_answers(page, Trial.objects.get(participant=participant, index=index))
        if step == 1:
            send_answer(page, lambda: page.evaluate(DOUBLE_CLICK_JS))  # one answer sent
        else:
            send_answer(page, page.get_by_role("button", name="Continue").click)
        if step < n - 1:
            now = page.evaluate(STATE_JS)
            assert set(now["images"]) == set(state["prefetch"]), (now, state)
    assert seen == list(range(n))
    assert page.locator("form[data-trial]").count() == 0  # the debriefing, loaded
    assert page.title().startswith("Debriefing")

    answers = [k for k, e in enumerate(log) if e[0] == "POST" and e[1].endswith("/responses/")]
    assert len(answers) == n  # one request per trial, the double click included
    documents = [k for k, e in enumerate(log) if e[2] == "document"]
    # no page load between trials: only the reload and, after the last answer, the next page
    assert len(documents) == 2, [log[k] for k in documents]
    assert answers[reloaded_at - 1] < documents[0] < answers[reloaded_at]
    assert documents[1] > answers[-1]
    other_api = [e for k, e in enumerate(log) if "/api/" in e[1] and k not in answers]
    assert not other_api, other_api
    participant.refresh_from_db()
    assert participant.page == "debrief" and participant.n_answered == n
    assert participant.responses.count() == n
    kinds = list(participant.events.values_list("kind", flat=True))
    assert kinds.count("trial.shown") == kinds.count("response.saved") == n
