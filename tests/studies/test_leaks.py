"""Nothing the browser receives reveals what it must not (PROTOCOLS.md, participant flow).

A crawler plays a whole session through the HTML pages, every image they reference and the JSON
API a custom front end would use, keeps every response (status line, headers, body), and the test
asserts that none contains method names, condition names or factors, stored file names, the
images' original names or hashes, or (where the protocol hides them) class labels.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.test import Client

from studies.models import Participant, Trial

from .conftest import CLASS_NAMES, create_study

pytestmark = pytest.mark.django_db

_IMG = re.compile(r'src="(/s/[^"]+)"')
_PAGE = re.compile(r'name="page" value="(\w+)"')


@dataclass
class Crawl:
    client: Client = field(default_factory=Client)
    seen: list[tuple[str, bytes]] = field(default_factory=list)
    images: int = 0

    def keep(self, what: str, response) -> None:  # type: ignore[no-untyped-def]
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        body = b"".join(response.streaming_content) if response.streaming else response.content
        self.seen.append((f"{what} {response.status_code}", headers.encode() + b"\n\n" + body))
        return response

    def get(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.keep(f"GET {path}", self.client.get(path, **kw))

    def post(self, path: str, data, **kw):  # type: ignore[no-untyped-def]
        return self.keep(f"POST {path}", self.client.post(path, data, **kw))


def play(study, crawl: Crawl, pid: str = "leaktest01") -> Participant:
    link = f"/take/{study.link_token}/"
    params = {"PROLIFIC_PID": pid, "STUDY_ID": "s1", "SESSION_ID": "x1"}
    crawl.get(link, data=params)
    url = crawl.post(link, params)["Location"]
    code = url.strip("/").split("/")[-1]
    crawl.get(f"/api/participants/{code}/")
    for _ in range(200):
        page = crawl.get(url)
        html = page.content.decode()
        for src in sorted(set(_IMG.findall(html))):
            image = crawl.get(src)
            assert image.status_code == 200 and image["Content-Type"] == "image/png"
            crawl.images += 1
        crawl.get(f"/api/participants/{code}/")
        match = _PAGE.search(html)
        if match is None:
            break
        name = match.group(1)
        participant = Participant.objects.get(code=code)
        if name in ("practice", "trials"):
            trial = Trial.objects.get(participant=participant, index=participant.n_answered)
            value = trial.hidden.get("expected") or first_answer(trial.shown)
            body = {
                "trial": trial.index,
                "value": value,
                "rt_ms": 900.5,
                "idempotency_key": uuid.uuid4().hex,
            }
            reply = crawl.post(
                f"/api/participants/{code}/responses/", body, content_type="application/json"
            )
            assert reply.status_code == 201, reply.content
        else:
            data = {"page": name, "agree": "yes"} if name == "consent" else {"page": name}
            assert crawl.post(url, data).status_code == 302
    participant = Participant.objects.get(code=code)
    assert participant.page == "complete"
    return participant


def first_answer(shown: dict) -> dict:
    if "choice" in shown:  # simulation, ground-truth prediction: a choice and a confidence item
        value = {shown["choice"]["name"]: shown["choice"]["options"][0]["value"]}
        value.update({item["name"]: item["options"][0]["value"] for item in shown["items"]})
        return value
    if "items" in shown:
        return {item["name"]: item["options"][0]["value"] for item in shown["items"]}
    value = {"choice": shown["options"][0]["value"]}
    if shown.get("validation"):
        value["validation"] = "yes"
    return value


def forbidden_strings(study, assets, *, labels_hidden: bool) -> list[str]:
    out = list(assets.methods)
    for condition in study.conditions.all():
        out.append(condition.name)
        out += [v for v in condition.factors.values() if isinstance(v, str)]
    for image in assets.images:
        out += [image.original_name, image.sha256[:16], image.file.name]
    for m in assets.maps:
        for render in m.renders.all():  # what participants see: the maps' renders
            name = render.image.name
            out += [name, render.heatmap.name, name.split("/")[-1].split(".")[0]]
    out += ["maps/", "images/", "model_correct", "expected", "latin_row", "set_rotation"]
    if labels_hidden:
        out += CLASS_NAMES
    return out


def assert_no_leak(crawl: Crawl, forbidden: list[str]) -> None:
    leaks = []
    for what, body in crawl.seen:
        text = body.decode("utf-8", "replace").lower()
        for word in forbidden:
            if re.search(rf"(?<![a-z0-9]){re.escape(word.lower())}(?![a-z0-9])", text):
                leaks.append(f"{what}: {word!r}")
    assert not leaks, "\n".join(leaks[:30])


def test_preference_session_reveals_no_method_condition_label_or_file_name(researcher, assets):
    study = create_study(
        researcher,
        assets,
        protocol="preference",
        stimuli={"methods": list(assets.methods), "images": "all", "sample": 4},
        flow={
            "practice_trials": 1,
            "attention_checks": 1,
            "demographics": True,
            "questionnaire": [{"name": "difficulty", "text": "Was it hard?", "type": "likert"}],
        },
        configuration={"validation_question": "Does the left map highlight the object?"},
    )
    crawl = Crawl()
    participant = play(study, crawl)
    # the crawl saw everything: pages, API payloads and every image of every trial
    assert len(crawl.seen) > 25 and crawl.images >= 2 * participant.n_trials
    hidden = " ".join(str(t.hidden) for t in participant.trials.all())
    assert all(method in hidden for method in assets.methods)  # the secrets exist server-side
    assert_no_leak(crawl, forbidden_strings(study, assets, labels_hidden=True))


def test_likert_between_subjects_hides_methods_and_conditions(researcher, assets):
    study = create_study(
        researcher,
        assets,
        configuration={"design": "between"},
        stimuli={"methods": list(assets.methods), "images": "all"},
    )
    crawl = Crawl()
    participant = play(study, crawl)
    assert participant.condition.name in assets.methods  # the condition is a method name
    assert crawl.images >= participant.n_trials
    # Likert shows the true and predicted classes by design; nothing else may leak
    assert_no_leak(crawl, forbidden_strings(study, assets, labels_hidden=False))


_TITLE = re.compile(r"<title>([^<]*)</title>")
_ALT = re.compile(r'alt="([^"]*)"')


def test_titles_and_alt_texts_name_the_step_and_the_picture_not_the_answer(researcher, assets):
    """The page titles say which step this is ("Trial 2 of 3 · …") and the alternative texts
    what a picture is, alike for main trials and attention checks: neither names a method, a
    condition or a class, nor tells an attention check apart."""
    study = create_study(
        researcher,
        assets,
        protocol="preference",
        stimuli={"methods": list(assets.methods), "images": "all", "sample": 4},
        flow={"practice_trials": 1, "attention_checks": 1},
    )
    crawl = Crawl()
    participant = play(study, crawl)
    n_main = participant.n_trials - participant.n_practice
    pages = [
        body.decode()
        for what, body in crawl.seen
        if what.startswith("GET /s/") and "/img/" not in what and b"<title>" in body
    ]
    trial_titles = [t for html in pages for t in _TITLE.findall(html) if "rial " in t]
    assert trial_titles[0].startswith("Practice trial 1 of 1 · ")
    assert [t.split(" · ")[0] for t in trial_titles[1:]] == [
        f"Trial {k} of {n_main}" for k in range(1, n_main + 1)
    ]
    assert participant.trials.filter(kind=Trial.Kind.ATTENTION).exists()
    alts = {alt for html in pages for alt in _ALT.findall(html)}
    assert alts and all(alt.strip() for alt in alts), alts
    for text in [*trial_titles, *alts]:
        assert "attention" not in text.lower(), text
    assert_no_leak(crawl, forbidden_strings(study, assets, labels_hidden=True))


def test_crawler_detects_a_leak(researcher, assets):
    """The check itself can fail: a page that shows a method name is caught."""
    study = create_study(researcher, assets, protocol="preference")
    crawl = Crawl()
    play(study, crawl)
    crawl.seen.append(("GET /fake 200", f"<p>{assets.methods[0]}</p>".encode()))
    with pytest.raises(AssertionError, match=assets.methods[0]):
        assert_no_leak(crawl, forbidden_strings(study, assets, labels_hidden=True))


# --- indirect protocols: hidden conditions, model output and ground truth ---------------------


def map_files(assets) -> set[bytes]:
    from django.core.files.storage import default_storage

    out = set()
    for m in assets.maps:
        for render in m.renders.all():
            for f in (render.image, render.heatmap):
                with default_storage.open(f.name, "rb") as handle:
                    out.add(handle.read())
    assert out, "the maps have no renders: nothing to look for"
    return out


def served_images(crawl: Crawl) -> list[bytes]:
    return [body.split(b"\n\n", 1)[1] for what, body in crawl.seen if "/img/" in what]


INDIRECT_SECRETS = [
    "model_output",
    "test_outcome",
    "ground_truth",
    "saliency_shown",
    "scores_shown",
    "explanation_shown",
    "truth_position",
    "true positive test",
]


def test_simulation_hidden_conditions_reveal_no_map_score_output_or_truth(researcher, media_root):
    from .test_simulation import sim_assets

    assets = sim_assets()
    study = create_study(
        researcher,
        assets,
        protocol="simulation",
        configuration={"tasks": 3},
        flow={"practice_trials": 1, "attention_checks": 1},
    )
    maps = map_files(assets)
    assert maps
    for number in range(4):  # one participant per cell (balanced assignment)
        crawl = Crawl()
        participant = play(study, crawl, pid=f"leaksim{number}")
        factors = participant.condition.factors
        targets = {t.shown["target"] for t in participant.trials.all()}
        images = served_images(crawl)
        assert len(images) == crawl.images >= 5 * participant.n_trials
        forbidden = forbidden_strings(study, assets, labels_hidden=False) + INDIRECT_SECRETS
        if not factors["saliency_shown"]:
            assert not [b for b in images if b in maps], "a map was served in a map-hidden cell"
            forbidden += ["colour map"]
        else:
            assert any(b in maps for b in images)
        if not factors["scores_shown"]:
            # the only class names on the pages are the tasks' targets: no model scores
            forbidden += [name for name in CLASS_NAMES if name not in targets]
            forbidden += ["sim-scores", "percent"]
            pages = [body for what, body in crawl.seen if "/img/" not in what]
            assert not [b for b in pages if re.search(rb"<td>[<\d]+%</td>", b)], "a score was sent"
        else:
            assert any(b"sim-scores" in body for _, body in crawl.seen)  # the check can fail
        # the test image's output and class are never shown, in any cell
        for trial in participant.trials.filter(kind="main"):
            assert set(trial.shown["test"]) == {"image", "map"}
        assert_no_leak(crawl, forbidden)


def test_gt_prediction_hidden_explanation_and_truth_are_absent(researcher, media_root):
    from .conftest import METHODS, make_assets

    assets = make_assets(n_images=8, methods=METHODS[:1])
    study = create_study(researcher, assets, protocol="gt_prediction", flow={"attention_checks": 1})
    maps = map_files(assets)
    for number in range(2):
        crawl = Crawl()
        participant = play(study, crawl, pid=f"leakgt{number}")
        images = served_images(crawl)
        shown_cell = participant.condition.factors["explanation_shown"]
        assert any(b in maps for b in images) == shown_cell
        # options are class names by design; which is true, and the model's output, are hidden
        assert_no_leak(
            crawl, forbidden_strings(study, assets, labels_hidden=False) + INDIRECT_SECRETS
        )
        for trial in participant.trials.filter(kind="main"):
            assert set(trial.shown) == {
                "image",
                "explanation",
                "items",
                "question",
                "choice",
                "legend",
            }
