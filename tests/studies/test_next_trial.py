"""One round trip per trial (issue 22): the answer's reply carries the next trial's form, and
pictures are sealed names served without a query.

The reply's form must be the trial page's own form (one template), the server still decides
which trial comes, retries and double submits store once and show the next trial once, and a
reload (the page itself) resumes where the replies left off.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client

from studies import presenters, sealing
from studies.models import Event, Participant, Trial

from .conftest import create_study
from .helpers import answer_for, arrive, walk_to_trials

pytestmark = pytest.mark.django_db

_FORM = re.compile(r"<form [^>]*data-trial=.*?</form>", re.S)
_SRC = re.compile(r'<img src="(/s/[^"]+)"')  # the trial's pictures (not the colour legend)


def stimuli(html: str) -> list[str]:
    return list(dict.fromkeys(_SRC.findall(html)))


def answer_body(participant: Participant, *, key: str | None = None, index=None) -> dict:
    participant.refresh_from_db()
    index = participant.n_answered if index is None else index
    trial = Trial.objects.get(participant=participant, index=index)
    return {
        "trial": index,
        "value": answer_for(trial),
        "rt_ms": 900,
        "idempotency_key": key or uuid.uuid4().hex,
        "next_trial": True,
    }


def post_answer(client: Client, participant: Participant, body: dict):
    return client.post(
        f"/api/participants/{participant.code}/responses/", body, content_type="application/json"
    )


def answer(client: Client, participant: Participant, *, key: str | None = None, index=None):
    return post_answer(client, participant, answer_body(participant, key=key, index=index))


def normalised(html: str) -> str:
    """A trial form without what differs between two renderings (CSRF token, fresh key)."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "csrf", html)
    return re.sub(r'name="idempotency_key" value="[^"]*"', "key", html).strip()


def form_of(page_html: str) -> str:
    match = _FORM.search(page_html)
    assert match, page_html[:500]
    return match.group(0)


def shown_events(participant: Participant, index: int) -> int:
    return Event.objects.filter(
        participant=participant, kind="trial.shown", data__index=index
    ).count()


@pytest.fixture
def on_trials(likert_study):
    client = Client()
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    assert client.get(url).status_code == 200  # trial 0, shown by its page
    return client, url, participant


def test_the_reply_carries_the_next_trial_which_counts_as_shown_once(on_trials):
    client, url, participant = on_trials
    reply = answer(client, participant)
    assert reply.status_code == 201, reply.content
    body = reply.json()
    nxt = body["next_trial"]
    assert body["page"] == "trials" and nxt["index"] == 1 and nxt["url"] == url
    assert 'data-trial="1"' in nxt["html"] and 'name="trial" value="1"' in nxt["html"]
    assert nxt["title"].startswith(f"Trial 2 of {participant.n_trials} · ")
    assert nxt["progress"] == presenters.progress_percent(
        Participant.objects.get(pk=participant.pk)
    )
    assert nxt["images"] == _SRC.findall(nxt["html"]) and nxt["images"]
    trial = Trial.objects.get(participant=participant, index=1)
    assert trial.shown_at is not None and shown_events(participant, 1) == 1
    # the page itself, as after a reload, shows that trial and logs nothing new
    page = client.get(url).content.decode()
    assert 'name="trial" value="1"' in page and shown_events(participant, 1) == 1


def test_the_fragment_is_the_full_pages_form(on_trials):
    client, url, participant = on_trials
    nxt = answer(client, participant).json()["next_trial"]
    page = client.get(url).content.decode()
    assert normalised(nxt["html"]) == normalised(form_of(page))
    assert "<html" not in nxt["html"] and "<title" not in nxt["html"]


def test_each_trial_lists_the_next_trials_pictures_to_prefetch(on_trials):
    client, url, participant = on_trials
    page = client.get(url).content.decode()
    second = Trial.objects.get(participant=participant, index=1)
    want = presenters.image_urls(presenters.trial_shown(participant, second))
    prefetch = re.search(r'data-prefetch="([^"]*)"', form_of(page))
    assert prefetch and prefetch.group(1).split() == want
    nxt = answer(client, participant).json()["next_trial"]
    assert nxt["images"] == want  # what was prefetched is what the next trial shows
    third = Trial.objects.get(participant=participant, index=2)
    assert nxt["prefetch"] == presenters.image_urls(presenters.trial_shown(participant, third))


def test_the_last_trial_gives_the_next_page(on_trials):
    client, url, participant = on_trials
    for index in range(participant.n_trials):
        body = answer(client, participant).json()
        last = index == participant.n_trials - 1
        assert (body["next_trial"] is None) == last, (index, body["page"])
    assert body["page"] == "debrief" and body["next"] == url
    assert participant.responses.count() == participant.n_trials
    kinds = list(participant.events.values_list("kind", flat=True))
    assert kinds.count("trial.shown") == kinds.count("response.saved") == participant.n_trials


def test_double_submits_and_retries_store_once_and_show_the_next_trial_once(on_trials):
    client, url, participant = on_trials
    key = uuid.uuid4().hex
    first = answer(client, participant, key=key)
    again = answer(client, participant, key=key, index=0)  # the retry of a lost reply
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["next_trial"]["index"] == first.json()["next_trial"]["index"] == 1
    assert normalised(again.json()["next_trial"]["html"]) == normalised(
        first.json()["next_trial"]["html"]
    )
    assert participant.responses.count() == 1 and shown_events(participant, 1) == 1
    # the answered trial again with another key: refused, nothing stored, sent to the page
    stale = answer(client, participant, index=0)
    assert stale.status_code == 409 and stale.json()["next"] == url
    assert participant.responses.count() == 1
    # a trial ahead of the current one cannot be answered either
    ahead = answer(client, participant, index=2)
    assert ahead.status_code == 409 and participant.responses.count() == 1


def test_without_asking_the_reply_is_as_before_and_shows_nothing(on_trials):
    client, _url, participant = on_trials
    body = {
        "trial": 0,
        "value": answer_for(participant.trials.get(index=0)),
        "idempotency_key": uuid.uuid4().hex,
    }
    reply = client.post(
        f"/api/participants/{participant.code}/responses/", body, content_type="application/json"
    )
    assert reply.status_code == 201 and reply.json()["next_trial"] is None
    assert shown_events(participant, 1) == 0  # a custom front end shows it when it asks


def test_the_answer_with_its_next_trial_stays_within_its_query_budget(
    on_trials, django_assert_max_num_queries
):
    client, _url, participant = on_trials
    body = answer_body(participant)
    with django_assert_max_num_queries(15):  # the answer (9) and the next trial's first show
        assert post_answer(client, participant, body).status_code == 201


# --- sealed pictures ----------------------------------------------------------------------------


def test_sealed_pictures_are_served_without_a_query_and_kept_for_good(
    on_trials, django_assert_num_queries
):
    from django.core.files.storage import default_storage

    client, url, participant = on_trials
    page = client.get(url).content.decode()
    trial = participant.trials.get(index=0)
    srcs = stimuli(page)
    assert len(srcs) == len(trial.assets)
    for src in srcs:
        token = src.rsplit("/", 1)[-1]
        name = sealing.unseal(presenters.sealing_key(), participant.code, token)
        assert name in trial.assets.values()
        assert name not in src and token not in trial.assets  # the URL names nothing stored
        with django_assert_num_queries(0):
            response = client.get(src)
        assert response.status_code == 200
        assert response["Cache-Control"] == "private, max-age=31536000, immutable"
        with default_storage.open(name, "rb") as stored:
            assert b"".join(response.streaming_content) == stored.read()
    assert len({len(s) for s in srcs}) == 1  # one length: it tells no file from another


def test_another_participants_or_a_tampered_sealed_url_is_not_found(likert_study, on_trials):
    client, url, participant = on_trials
    src = stimuli(client.get(url).content.decode())[0]
    token = src.rsplit("/", 1)[-1]
    other = Client()
    other_url, _ = arrive(other, likert_study)
    other_code = other_url.strip("/").split("/")[-1]
    assert other.get(f"/s/{other_code}/img/{token}").status_code == 404
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    assert client.get(f"/s/{participant.code}/img/{flipped}").status_code == 404
    assert client.get(f"/s/{participant.code}/img/{token[:-2]}").status_code == 404
    assert client.get(src).status_code == 200  # the check can pass


def test_a_seal_opens_only_stimuli_never_other_stored_files(on_trials, settings):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    client, _url, participant = on_trials
    key = presenters.sealing_key()
    for name in ("maps/raw/x.npy", "classifiers/model.pt"):
        default_storage.save(name, ContentFile(b"secret"))
        token = sealing.seal(key, participant.code, name)
        assert client.get(f"/s/{participant.code}/img/{token}").status_code == 404


def test_seal_round_trip_and_key_separation():
    key = sealing.derive_key("one secret")
    token = sealing.seal(key, "code-a", "images/abc.png")
    assert sealing.unseal(key, "code-a", token) == "images/abc.png"
    assert sealing.seal(key, "code-a", "images/abc.png") == token  # one URL per file: cacheable
    assert sealing.seal(key, "code-b", "images/abc.png") != token
    assert sealing.unseal(key, "code-b", token) is None
    assert sealing.unseal(sealing.derive_key("another secret"), "code-a", token) is None
    assert len(sealing.seal(key, "c", "maps/render/" + "x" * 80 + ".png")) == len(token)
    assert sealing.looks_sealed(token) and not sealing.looks_sealed("0" * 24)


def test_replies_with_the_next_trial_reveal_no_method_condition_label_or_file_name(
    researcher, assets
):
    """The leak crawl of test_leaks, walking in place: every reply's form and its pictures."""
    from .test_leaks import Crawl, assert_no_leak, first_answer, forbidden_strings

    study = create_study(
        researcher,
        assets,
        protocol="preference",
        stimuli={"methods": list(assets.methods), "images": "all", "sample": 4},
        flow={"practice_trials": 1, "attention_checks": 1},
        configuration={"validation_question": "Does the left map highlight the object?"},
    )
    crawl = Crawl()
    url = crawl.post(f"/take/{study.link_token}/", {"PROLIFIC_PID": "inplace01"})["Location"]
    participant = walk_to_trials(crawl.client, url)
    html = crawl.get(url).content.decode()
    replies = 0
    while html:
        for src in stimuli(html):
            assert crawl.get(src).status_code == 200
        participant.refresh_from_db()
        trial = participant.trials.get(index=participant.n_answered)
        body = answer_body(participant)
        body["value"] = trial.hidden.get("expected") or first_answer(trial.shown)
        reply = crawl.post(
            f"/api/participants/{participant.code}/responses/",
            body,
            content_type="application/json",
        )
        assert reply.status_code == 201, reply.content
        nxt = reply.json()["next_trial"]
        html = nxt["html"] if nxt else ""
        replies += bool(nxt)
    participant.refresh_from_db()
    assert replies == participant.n_trials - 1 and participant.responses.count() == replies + 1
    assert participant.trials.filter(kind=Trial.Kind.ATTENTION).exists()
    assert_no_leak(crawl, forbidden_strings(study, assets, labels_hidden=True))
    crawl.seen.append(("a reply naming a method", assets.methods[0].encode()))
    with pytest.raises(AssertionError):  # the check can fail
        assert_no_leak(crawl, forbidden_strings(study, assets, labels_hidden=True))


def test_the_colour_legend_is_cacheable(client):
    response = client.get("/gallery/legend.png")
    assert response.status_code == 200 and "max-age=86400" in response["Cache-Control"]
