"""A study of each protocol, from the researcher's login to the export, in a real browser.

The researcher logs in through the login page, designs the study in the designer, launches it
and copies the participant link; two participants take part in fresh browser contexts, one at
desktop width and one at phone width (touch, mobile), answering with the keyboard only (Tab,
Space, arrow keys, Enter); the researcher then opens the monitor and the results and downloads
the tidy CSV, which has one row per answered main trial. Every page is screenshotted and checked
for console errors, unlabelled controls, images without alt text and the legend's contrast.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.urls import reverse

from analysis import RESULT_COLUMNS
from studies.models import AnalysisRun, Participant, Response, Study, Trial
from studies.views.results import plot_title

from .conftest import PASSWORD, PHONE, Content, Recorder
from .helpers import (
    MIN_CONTRAST,
    accessibility_problems,
    answer_trial_with_keyboard,
    assert_visual_order,
    legend_contrasts,
)

# What the designer's protocol and flow fields get (by their labels), per protocol: small
# studies, so a participant answers a few trials and one attention check.
DESIGNS: dict[str, dict[str, str]] = {
    "likert": {"Methods": "gradcam, gradient", "Trials per participant": "2"},
    "preference": {"Methods": "gradcam, gradient", "Trials per participant": "2"},
    "simulation": {
        "Methods": "gradcam",
        "Tasks per participant": "2",
        "The system recognises a class when it is": "top_k",
        "k for top_k": "3",
        "Target classes": "Shetland sheepdog",
    },
    "gt_prediction": {"Methods": "gradcam", "Trials per participant": "2"},
}
CURATED = "likert"  # the protocol whose pages go into the README's screenshots
# The plots the results page must show, per protocol (analysis/protocols/*: ``out.plots``).
EXPECTED_PLOTS: dict[str, set[str]] = {
    "likert": {"likert_ratings", "clmm_forest"},
    "preference": {"win_matrix", "bradley_terry_forest"},
    "simulation": {"accuracy_by_condition"},
    "gt_prediction": {"accuracy_by_condition"},
}
# The protocol's confirmatory and main companion analyses: each must have rows in results.csv.
MAIN_ANALYSES: dict[str, set[str]] = {
    "likert": {"clmm", "friedman", "wilcoxon", "krippendorff_alpha"},
    "preference": {"win_rate", "bradley_terry", "position_bias", "pair_binomial"},
    "simulation": {"glmm_correct", "odds_ratio", "cell_accuracy", "hedges_g"},
    "gt_prediction": {"glmm_correct", "risk_difference", "cohens_h"},
}
# Likert answers (option index) per participant and method: each method gets two different
# ratings across the two participants (gradcam 2 and 4, gradient 3 and 3), so the ordinal model
# has several categories to fit and its forest plot is drawn. Every other question: option 2.
LIKERT_PICKS = {
    ("desktop", "gradcam"): 1,
    ("desktop", "gradient"): 2,
    ("phone", "gradcam"): 3,
    ("phone", "gradient"): 2,
}


def curated(protocol: str, name: str) -> str | None:
    return name if protocol == CURATED else None


def visit(recorder: Recorder, page: Any, name: str, curated_name: str | None = None) -> None:
    """Screenshot the page, then check it for accessibility problems."""
    recorder.shot(page, name, curated_name)
    problems = accessibility_problems(page)
    assert not problems, f"{name} ({page.url}):\n" + "\n".join(problems)


def log_in(page: Any, base: str, recorder: Recorder, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    visit(recorder, page, "login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_label("Password").press("Enter")
    assert page.get_by_role("heading", name=f"Welcome, {username}").is_visible()


def design_study(page: Any, recorder: Recorder, protocol: str, content: Content) -> Study:
    page.get_by_role("link", name="New study").first.click()
    visit(recorder, page, "new study")
    page.get_by_role("link", name=f"Design a {protocol} study").click()
    page.get_by_label("Title", exact=True).fill(f"Browser test: {protocol}")
    page.get_by_label("Classifier", exact=True).select_option(label=str(content.classifier))
    page.get_by_label("Image set", exact=True).select_option(label=str(content.image_set))
    page.get_by_label("Attention checks", exact=True).fill("1")
    for label, value in DESIGNS[protocol].items():
        field = page.get_by_label(label, exact=True)
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    visit(recorder, page, "designer", curated(protocol, "study-designer"))
    with page.expect_navigation():
        page.get_by_role("button", name="Create draft").click()
    assert page.get_by_text("Study created as a draft.").is_visible(), page.content()[:3000]
    study = Study.objects.get(title=f"Browser test: {protocol}")
    assert study.protocol == protocol and study.state == Study.State.DRAFT
    visit(recorder, page, "draft")
    with page.expect_navigation():
        page.get_by_role("button", name="Launch").click()
    study.refresh_from_db()
    assert study.state == Study.State.LIVE
    visit(recorder, page, "launched")
    return study


def shows_map(protocol: str, shown: dict[str, Any]) -> bool:
    """Whether the trial shows a saliency map (the map-hidden conditions show none)."""
    if protocol == "simulation":
        return bool(shown["test"].get("map") or any(ex.get("map") for ex in shown["examples"]))
    if protocol == "gt_prediction":
        return bool(shown.get("explanation"))
    return True


def take_part(
    page: Any, link: str, recorder: Recorder, label: str, curated_name: str | None
) -> Participant:
    """Walk every page with the keyboard only; the participant when the study is complete."""
    page.goto(link)
    first_trial = True
    code = ""
    for step in range(40):
        heading = page.locator("h1").first.inner_text()
        trial = page.locator("form[data-trial]")
        if trial.count():
            code = trial.get_attribute("data-code") or ""
            index = int(trial.get_attribute("data-trial") or "-1")
            row = Trial.objects.select_related("participant__study").get(
                participant__code=code, index=index
            )
            name = f"{label} trial {index}"
            visit(recorder, page, name, curated_name if first_trial else None)
            legend = legend_contrasts(page)
            if shows_map(row.participant.study.protocol, row.shown):
                assert [x["text"] for x in legend] == ["less important", "more important"]
                assert all(x["ratio"] >= MIN_CONTRAST for x in legend), legend
            else:
                assert legend == [], "a legend of maps on a page without a map"
            first_trial = False
            pick = 1
            if row.participant.study.protocol == "likert":
                pick = LIKERT_PICKS.get((label, str(row.hidden.get("method"))), 1)
            stops = answer_trial_with_keyboard(
                page, dict(row.hidden.get("expected", {})), pick=pick
            )
            assert_visual_order(stops)
            continue
        visit(recorder, page, f"{label} {heading}")
        if heading == "All done":
            participant = Participant.objects.get(code=code)
            assert page.locator(".code").inner_text() == participant.study.completion_code
            return participant
        # a page with one action: its button has the focus (autofocus), Enter presses it
        button = page.evaluate("() => document.activeElement && document.activeElement.innerText")
        assert button and button.strip() in {"Start", "I agree to take part", "Begin", "Finish"}, (
            f"step {step}: {heading!r} focuses {button!r}"
        )
        with page.expect_navigation():
            page.keyboard.press("Enter")
    raise AssertionError("the participant did not reach the end")


def check_results(page: Any, recorder: Recorder, study: Study, curated_name: str | None) -> None:
    """The results page: the analysis of the two sessions, its plots, its table as CSV."""
    page.get_by_role("link", name="Results", exact=True).click()
    assert page.get_by_role("heading", name=f"Results: {study.title}").is_visible()
    visit(recorder, page, "results", curated_name)
    run = AnalysisRun.objects.get(study=study)
    assert run.state == AnalysisRun.State.DONE, run.error
    assert run.n_participants == 2
    figures = page.eval_on_selector_all(
        ".plots figure",
        """figs => figs.map(f => ({
            src: f.querySelector("img").getAttribute("src"),
            alt: f.querySelector("img").alt,
            caption: f.querySelector("figcaption .plot-title").innerText.trim(),
            full: f.querySelector("figcaption a").getAttribute("href"),
        }))""",
    )
    shown = {f["src"].rsplit("/", 1)[-1].removesuffix(".png"): f for f in figures}
    missing = EXPECTED_PLOTS[study.protocol] - set(shown)
    assert not missing, f"{study.protocol}: plots {missing} missing; shown {sorted(shown)}"
    for name, figure in shown.items():
        assert figure["caption"] == plot_title(name), figure
        assert figure["full"] == figure["src"], figure  # the full-size link opens the plot
        assert figure["alt"] == f"Plot: {plot_title(name)}", figure
    for index in range(len(figures)):
        image = page.locator(".plots img").nth(index)
        image.scroll_into_view_if_needed()
        image.evaluate("i => i.decode()")  # loading=lazy: wait until it has loaded
        assert image.evaluate("i => i.complete && i.naturalWidth > 0"), figures[index]
    with page.expect_download() as download:
        page.get_by_role("link", name="Results table (CSV", exact=False).click()
    text = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) > 4 and list(rows[0]) == list(RESULT_COLUMNS), text[:500]
    analyses = {row["analysis"] for row in rows}
    missing = MAIN_ANALYSES[study.protocol] - analyses
    assert not missing, f"{study.protocol}: results.csv lacks {missing}; has {sorted(analyses)}"


def check_export(page: Any, recorder: Recorder, study: Study) -> None:
    page.goto(page.url.split("/studies/")[0] + reverse("studies:detail", args=[study.uid]))
    with page.expect_download() as download:
        page.get_by_role("link", name="Responses (tidy CSV)").click()
    text = download.value.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    answered = Response.objects.filter(participant__study=study, trial__kind=Trial.Kind.MAIN)
    expected = sorted((r.participant.export_id, r.trial.index) for r in answered)
    assert len(expected) >= 4
    assert sorted((row["participant_id"], int(row["trial_index"])) for row in rows) == expected
    assert {row["excluded"] for row in rows} == {"0"}, "a keyboard participant was excluded"


@pytest.mark.parametrize("protocol", ["likert", "preference", "simulation", "gt_prediction"])
def test_study_from_design_to_export(
    protocol: str, content: Content, researcher: Any, live_server: Any, new_page: Any, recorder
):
    base = live_server.url
    page = new_page("researcher")
    log_in(page, base, recorder, researcher.username)
    visit(recorder, page, "dashboard", curated(protocol, "dashboard"))
    study = design_study(page, recorder, protocol, content)
    link = page.locator("#anonymous-link").inner_text().strip()
    assert link == f"{base}/take/{study.link_token}/"

    desktop = take_part(
        new_page("desktop participant"),
        link,
        recorder,
        "desktop",
        curated(protocol, "participant-trial-desktop"),
    )
    phone = take_part(
        new_page("phone participant", **PHONE),
        link,
        recorder,
        "phone",
        curated(protocol, "participant-trial-phone"),
    )
    for participant in (desktop, phone):
        participant.refresh_from_db()
        assert participant.state == Participant.State.COMPLETED
        assert participant.attention_failures == 0
        assert participant.n_answered == participant.n_trials > 0

    page.goto(base + reverse("studies:monitor", args=[study.uid]))
    visit(recorder, page, "monitor", curated(protocol, "monitor"))
    assert page.get_by_role("cell", name=desktop.export_id).is_visible()
    assert page.get_by_role("cell", name=phone.export_id).is_visible()

    check_results(page, recorder, study, curated(protocol, "results"))
    check_export(page, recorder, study)
    recorder.assert_clean()
