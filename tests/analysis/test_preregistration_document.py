"""The preregistration document from a study file, its hash, and the deviations from it."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from analysis import preregistration as prereg

SPEC = {
    "title": "Do maps help?",
    "description": "",
    "protocol": "gt_prediction",
    "configuration": {"variant": "verify", "compare": "explanation", "design": "between"},
    "flow": {
        "hypotheses": "H1: accuracy is higher with the Grad-CAM map shown.",
        "power_analysis": {"design": "two_proportions", "p1": 0.65, "p2": 0.5, "power": 0.8},
        "exclude_attention_failures": 1,
        "exclude_median_rt_below_ms": 400,
        "exclude_straightlining": False,
        "exclude_incomplete": True,
    },
    "stimuli": {
        "methods": ["gradcam"],
        "images": "all",
        "classifier": {"name": "resnet18", "sha256": "ab" * 32},
        "image_set": {"name": "demo"},
        "items": ["a1", "b2", "c3"],
        "presentations": [],
    },
    "conditions": [
        {"name": "explanation hidden", "factors": {"explanation_shown": False}, "quota": None},
        {"name": "explanation shown", "factors": {"explanation_shown": True}, "quota": None},
    ],
    "source": {"exported_at": "2026-12-07T20:00:00+00:00"},
}
MEASURES = [("correct", "1 when right"), ("agrees_with_model", "1 when agreeing")]


def _doc(spec=SPEC):
    return prereg.document(spec, protocol_label="Ground-truth prediction", measures=MEASURES)


def test_the_document_names_hypotheses_conditions_formula_exclusions_and_planned_n():
    doc = _doc()
    text = prereg.markdown(doc)
    assert "H1: accuracy is higher with the Grad-CAM map shown." in text
    assert "explanation hidden; explanation shown" in text
    assert "`correct ~ explanation + (1|participant) + (1|item)`" in text
    assert "over-reliance" in text  # the verify variant shows the model's answer
    assert "failed at least 1 attention check(s)" in text
    assert "median response time over the main trials below 400 ms" in text
    assert "straight-lining" not in text  # a rule not declared is not claimed
    # Cohen's h for 0.65 vs 0.5 → 169.09 per group (STATISTICS.md) → 170 × 2 = 340
    assert doc["plan"]["planned_sample"]["n_total"] == 340
    assert "170 participants per group × 2 groups (340 in total" in text
    assert "3 images of the image set 'demo'" in text and "SHA-256 " + "ab" * 32 in text
    headings = [s["heading"] for s in doc["sections"]]
    assert headings == [
        "Study information",
        "Design plan",
        "Sampling plan",
        "Variables",
        "Analysis plan",
    ]
    numbers = {a["aspredicted"] for s in doc["sections"] for a in s["answers"]}
    assert numbers - {None} == set(range(1, 10))  # every AsPredicted question is answered
    assert text.startswith("# Preregistration: Do maps help?\n\nDraft: not frozen yet")
    frozen = prereg.markdown(doc, sha256="f" * 64, frozen_at="2026-12-07T21:00:00")
    assert f"SHA-256 of its canonical JSON: `{'f' * 64}`" in frozen


def test_the_hash_is_of_canonical_json_and_ignores_key_order_and_export_time():
    doc = _doc()
    reordered = json.loads(json.dumps(doc), object_pairs_hook=lambda p: dict(reversed(p)))
    assert list(reordered) != list(doc)
    assert prereg.document_hash(reordered) == prereg.document_hash(doc)
    expected = hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert prereg.document_hash(doc) == expected
    later = copy.deepcopy(SPEC)
    later["source"]["exported_at"] = "2027-01-01T00:00:00+00:00"
    assert prereg.document_hash(_doc(later)) == prereg.document_hash(doc)
    changed = copy.deepcopy(SPEC)
    changed["flow"]["hypotheses"] += " H2."
    assert prereg.document_hash(_doc(changed)) != prereg.document_hash(doc)


def test_no_deviation_when_run_as_registered():
    plan = _doc()["plan"]
    assert prereg.deviations(plan, copy.deepcopy(plan), n_analysed=340) == []


def test_deviations_name_exclusions_conditions_settings_and_the_sample():
    registered = _doc()["plan"]
    spec = copy.deepcopy(SPEC)
    spec["flow"]["exclude_median_rt_below_ms"] = 300
    spec["flow"]["exclude_straightlining"] = True
    spec["conditions"].append({"name": "level lime", "factors": {"method": "lime"}, "quota": 5})
    spec["configuration"]["variant"] = "choose_class"
    actual = _doc(spec)["plan"]
    found = {
        str(d)
        for d in prereg.deviations(
            registered,
            actual,
            n_analysed=301,
            researcher_exclusions=2,
            researcher_inclusions=1,
        )
    }
    assert "exclusion rule exclude_median_rt_below_ms: registered 400; run 300" in found
    assert "exclusion rule exclude_straightlining: registered none; run true" in found
    assert "condition 'level lime': registered absent; run added" in found
    assert "setting variant: registered verify; run choose_class" in found
    assert (
        "sample size: registered 340 participants (power analysis); run 301 analysed (39 fewer)"
        in found
    )
    assert (
        "exclusions: registered the declared rules only; run 2 participant(s) excluded by the "
        "researcher" in found
    )
    assert (
        "exclusions: registered the declared rules applied to everyone; run 1 participant(s) "
        "included again by the researcher" in found
    )


def test_a_quota_is_the_planned_sample_without_a_power_analysis():
    spec = copy.deepcopy(SPEC)
    del spec["flow"]["power_analysis"]
    spec["flow"]["quota_per_condition"] = 20
    sample = _doc(spec)["plan"]["planned_sample"]
    assert (sample["n_total"], sample["source"]) == (40, "quota")
    del spec["flow"]["quota_per_condition"]
    plan = _doc(spec)["plan"]
    assert plan["planned_sample"] is None
    assert prereg.deviations(plan, plan, n_analysed=12) == []  # nothing planned to differ from
    assert "No planned sample size is declared" in prereg.markdown(_doc(spec))


@pytest.mark.parametrize("protocol", ["likert", "preference", "simulation", "gt_prediction"])
def test_every_protocol_has_its_model_formula(protocol):
    text = " ".join(prereg.planned_analyses(protocol, {}))
    formula = {
        "likert": "rating ~ method + (1|participant) + (1|item)",
        "preference": "logit P(first chosen) = γ + λ_first − λ_second",
        "simulation": "correct ~ saliency * scores + (1|participant) + (1|item)",
        "gt_prediction": "correct ~ explanation + (1|participant) + (1|item)",
    }[protocol]
    assert formula in text
    with pytest.raises(ValueError, match="unknown protocol 'rating'"):
        prereg.planned_analyses("rating", {})
