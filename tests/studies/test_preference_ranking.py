"""Preference, response mode "ranking": the participant orders all k maps, best first.

Covers the configuration, the server's permutation check (nothing stored on a bad ranking), the
page and attention checks, bots, the rank-broken export and its analysis, and leaks.
"""

from __future__ import annotations

import io
import re
import uuid
from collections import defaultdict
from itertools import combinations

import pandas as pd
import pytest
from django.test import Client

import analysis
from studies.bots import ResponseModel, simulate
from studies.configschema import ConfigError
from studies.export import StudyExport
from studies.models import Participant, Response, Trial
from studies.protocols import get_protocol

from .conftest import METHODS, create_study, make_assets
from .helpers import arrive, submit, walk_to_trials
from .test_leaks import Crawl, assert_no_leak, forbidden_strings

pytestmark = pytest.mark.django_db
RANKING = {"k": 3, "response_mode": "ranking"}


@pytest.fixture
def assets3(db, media_root):
    return make_assets(methods=METHODS)  # three methods


def ranking_study(researcher, assets, *, flow=None, configuration=None):
    return create_study(
        researcher,
        assets,
        protocol="preference",
        stimuli={"methods": list(assets.methods), "images": "all"},
        configuration={**RANKING, **(configuration or {})},
        flow=flow or {},
    )


def ranking_answer(trial: Trial, order: list[int] | None = None) -> dict:
    """Ranks the shown positions in ``order`` (default: the instructed map first, if any)."""
    k = len(trial.shown["options"])
    order = list(range(k)) if order is None else order
    first = trial.hidden.get("expected", {}).get("first")
    if first is not None:
        order = [first] + [p for p in order if p != first]
    value = {f"rank_{r + 1}": str(p) for r, p in enumerate(order)}
    if trial.shown.get("validation"):
        value["validation"] = "yes"
    return value


# --- configuration ----------------------------------------------------------------------------
def test_choice_stays_the_default_and_ranking_needs_three_maps():
    plugin = get_protocol("preference")
    assert plugin.validate_config({}, methods=METHODS)["response_mode"] == "choice"
    assert plugin.validate_config(RANKING, methods=METHODS)["response_mode"] == "ranking"
    with pytest.raises(ConfigError) as error:
        plugin.validate_config({"response_mode": "ranking"}, methods=METHODS)
    assert "k ≥ 3" in " ".join(error.value.errors["response_mode"])
    with pytest.raises(ConfigError) as error:
        plugin.validate_config({"k": 3, "response_mode": "order"}, methods=METHODS)
    assert "choice, ranking" in " ".join(error.value.errors["response_mode"])


# --- the server's check -----------------------------------------------------------------------
def test_only_a_permutation_of_the_shown_maps_is_accepted(researcher, assets3):
    study = ranking_study(researcher, assets3, flow={"attention_checks": 0})
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    trial = Trial.objects.get(participant=participant, index=0)
    page = client.get(url).content.decode()
    # one select per place, each offering every shown map; no single-choice radios
    for r in (1, 2, 3):
        assert f'name="rank_{r}"' in page
    assert 'name="choice"' not in page and "1st" in page and "3rd" in page
    bad = {
        "duplicate": ({"rank_1": "0", "rank_2": "0", "rank_3": "2"}, "exactly once"),
        "missing": ({"rank_1": "0", "rank_2": "1"}, "3rd place"),
        "range": ({"rank_1": "0", "rank_2": "1", "rank_3": "3"}, "position from 0 to 2"),
        "choice": ({"choice": 0}, "unexpected answer field"),
        "extra": (
            {"rank_1": "0", "rank_2": "1", "rank_3": "2", "rank_4": "0"},
            "unexpected answer field",
        ),
        "type": ({"rank_1": True, "rank_2": "1", "rank_3": "2"}, "position from 0 to 2"),
    }
    for name, (value, message) in bad.items():
        reply = submit(client, participant, value)
        assert reply.status_code == 400, name
        assert message in reply.json()["error"]["message"], (name, reply.json())
    duplicate = submit(client, participant, bad["duplicate"][0]).json()["error"]["message"]
    assert "Explanation A is ranked more than once" in duplicate
    assert "Explanation B is not ranked" in duplicate
    participant.refresh_from_db()
    assert participant.n_answered == 0 and not Response.objects.filter(participant=participant)
    # the same through the HTML form (no JavaScript): refused with the message, nothing stored
    form = {"page": "trials", "trial": "0", "idempotency_key": "k" * 20, "rt_ms": ""}
    reply = client.post(url, {**form, **bad["duplicate"][0]})
    assert reply.status_code == 400 and "exactly once" in reply.content.decode()
    assert not Response.objects.filter(participant=participant)
    # a permutation is stored, best first, with the methods it means
    reply = client.post(url, {**form, "rank_1": "2", "rank_2": "0", "rank_3": "1"})
    assert reply.status_code == 302
    response = Response.objects.get(participant=participant)
    methods = trial.hidden["methods"]
    assert response.value == {"ranking": [2, 0, 1]}
    assert response.scored["ranking"] == [methods[2], methods[0], methods[1]]
    assert response.scored["choice"] == methods[2]


def test_attention_check_asks_to_rank_a_map_first():
    plugin = get_protocol("preference")
    config = plugin.validate_config(
        {**RANKING, "validation_question": "Is it clear?"}, methods=METHODS
    )
    from .test_protocols import context

    ctx = context(config, plugin.conditions(config, methods=METHODS)[0])
    check = plugin.attention_check(ctx)
    target = check.hidden["expected"]["first"]
    label = check.shown["options"][target]["label"]
    assert f"rank {label} first" in check.shown["question"]
    assert "methods" not in check.hidden and len(check.shown["ranks"]) == 3
    others = [p for p in range(3) if p != target]
    for order, passed in (([target, *others], True), ([*others, target], False)):
        value = {f"rank_{r + 1}": p for r, p in enumerate(order)} | {"validation": "yes"}
        clean = plugin.validate_response(config, shown=check.shown, value=value)
        assert plugin.attention_passed(hidden=check.hidden, value=clean) is passed
    wrong_validation = {f"rank_{r + 1}": p for r, p in enumerate([target, *others])}
    clean = plugin.validate_response(
        config, shown=check.shown, value=wrong_validation | {"validation": "no"}
    )
    assert not plugin.attention_passed(hidden=check.hidden, value=clean)


# --- bots, export, analysis -------------------------------------------------------------------
def test_bots_rank_and_the_export_has_one_row_per_implied_comparison(researcher, assets3):
    study = ranking_study(researcher, assets3, flow={"practice_trials": 1, "attention_checks": 2})
    # Effects strong enough to recover their order, mild enough that every method wins some
    # comparisons (with ±3 the weakest one could win none: its log-strength is then undefined).
    effects = {"gradcam": 1.5, "occlusion": 0.0, "integrated_gradients": -1.5}
    n = 6
    report = simulate(study, n=n, seed=2, model=ResponseModel(effects=effects))
    assert report.outcomes == {"complete": n}, report.summary()
    assert all(p.attention_failures == 0 for p in Participant.objects.filter(study=study))
    export = StudyExport(study)
    names = [c.name for c in export.response_columns()]
    assert {"method_a", "method_b", "choice", "chosen_position", "ranking"} <= set(names)
    assert "method_c" not in names
    table = pd.read_csv(
        io.StringIO(export.responses_csv()), na_values=["NA"], keep_default_na=False
    )
    main = Trial.objects.filter(participant__study=study, kind="main").select_related("response")
    assert len(table) == 3 * main.count() == 3 * n * 8  # C(3, 2) comparisons per ranking
    by_trial = defaultdict(list)
    for row in table.to_dict("records"):
        by_trial[(row["participant_id"], row["trial_index"])].append(row)
    for trial in main:
        rows = by_trial[(trial.participant.export_id, trial.index)]
        shown = trial.hidden["methods"]
        ranked = [shown[p] for p in trial.response.value["ranking"]]
        # each pair once, in display order, the winner ranked higher, the full order alongside
        assert [(r["method_a"], r["method_b"]) for r in rows] == list(combinations(shown, 2))
        for r in rows:
            assert r["choice"] == min(r["method_a"], r["method_b"], key=ranked.index)
            assert shown[r["chosen_position"] - 1] == r["choice"]
            assert r["ranking"] == " > ".join(ranked)
    # the effects come through: the strongest method wins most of its comparisons
    wins = table["choice"].value_counts()
    assert wins.idxmax() == "gradcam" and wins.get("integrated_gradients", 0) < wins["gradcam"]
    codebook = export.datapackage()["resources"][0]["schema"]["fields"]
    ranking_field = next(f for f in codebook if f["name"] == "ranking")
    assert "best first" in ranking_field["description"]
    assert "pairwise" in next(f for f in codebook if f["name"] == "method_a")["description"]

    # The analysis package reads the comparison rows as exported (several per trial).
    result = analysis.analyze("preference", table, n_boot=50, plots=False)
    bt = result.results[result.results["analysis"] == "bradley_terry"].set_index("term")
    # log-strengths vs gradcam recover the order of the simulated effects (1.5 > 0 > −1.5)
    assert 0 > bt.loc["occlusion", "estimate"] > bt.loc["integrated_gradients", "estimate"]
    win = result.results[result.results["analysis"] == "win_rate"].set_index("term")
    assert win.loc["gradcam", "estimate"] > 0.5 > win.loc["integrated_gradients", "estimate"]


def test_the_export_as_written_is_analysable(researcher, assets3):
    study = ranking_study(researcher, assets3, flow={"attention_checks": 0})
    simulate(study, n=2, seed=1)
    table = pd.read_csv(
        io.StringIO(StudyExport(study).responses_csv()), na_values=["NA"], keep_default_na=False
    )
    result = analysis.analyze("preference", table, n_boot=20, plots=False)
    assert "bradley_terry" in set(result.results["analysis"])


def test_a_k_way_choice_export_is_analysable(researcher, assets3):
    """A k-way choice (k = 3) is exported as its k − 1 comparisons and analysed as such."""
    study = ranking_study(
        researcher, assets3, configuration={"response_mode": "choice"}, flow={"attention_checks": 0}
    )
    simulate(study, n=2, seed=1)
    table = pd.read_csv(
        io.StringIO(StudyExport(study).responses_csv()), na_values=["NA"], keep_default_na=False
    )
    assert (table.groupby(["participant_id", "trial_index"]).size() == 2).all()
    per_trial = table.groupby(["participant_id", "trial_index"])
    assert (per_trial["choice"].nunique() == 1).all()  # the one chosen map beats both others
    assert ((table["choice"] == table["method_a"]) | (table["choice"] == table["method_b"])).all()
    result = analysis.analyze("preference", table, n_boot=20, plots=False)
    assert {"win_rate", "bradley_terry"} <= set(result.results["analysis"])


# --- leaks ------------------------------------------------------------------------------------
def test_a_ranking_session_reveals_no_method_condition_or_file_name(researcher, assets3):
    study = ranking_study(
        researcher,
        assets3,
        flow={"practice_trials": 1, "attention_checks": 1},
        configuration={"validation_question": "Does any map highlight the object?"},
    )
    crawl = Crawl()
    url = crawl.post(f"/take/{study.link_token}/", {"PROLIFIC_PID": "rankleak01"})["Location"]
    code = url.strip("/").split("/")[-1]
    for _ in range(100):
        html = crawl.get(url).content.decode()
        for src in sorted(set(re.findall(r'src="(/s/[^"]+)"', html))):
            assert crawl.get(src).status_code == 200
            crawl.images += 1
        crawl.get(f"/api/participants/{code}/")
        participant = Participant.objects.get(code=code)
        if participant.page == "complete":
            break
        if participant.page in ("practice", "trials"):
            trial = Trial.objects.get(participant=participant, index=participant.n_answered)
            body = {
                "trial": trial.index,
                "value": ranking_answer(trial, [2, 1, 0]),
                "rt_ms": 900.5,
                "idempotency_key": uuid.uuid4().hex,
            }
            reply = crawl.post(
                f"/api/participants/{code}/responses/", body, content_type="application/json"
            )
            assert reply.status_code == 201, reply.content
        else:
            data = {"page": participant.page, "agree": "yes"}
            assert crawl.post(url, data).status_code == 302
    assert participant.page == "complete" and participant.attention_failures == 0
    assert crawl.images >= 3 * participant.n_trials
    hidden = " ".join(str(t.hidden) for t in participant.trials.all())
    assert all(method in hidden for method in assets3.methods)
    # the pages do show the rank names and the maps' letters, never what is behind them
    assert any(b"rank_3" in body for _, body in crawl.seen)
    assert_no_leak(crawl, forbidden_strings(study, assets3, labels_hidden=True))
