"""Protocol plug-ins: configuration validation, counterbalancing, responses, registry."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from studies.configschema import ConfigError
from studies.protocols import ConditionSpec, PlanContext, ResponseError, StimulusItem, get_protocol
from studies.protocols.base import MapRef, protocols
from studies.protocols.design import balanced_flags, insert_positions, williams_square

METHODS = ["a_method", "b_method", "c_method"]


def items(n: int, methods=METHODS, misclassified=True) -> list[StimulusItem]:
    out = []
    for k in range(n):
        maps = {
            m: {
                "predicted": MapRef(k * 10 + j, f"o{k}{j}", f"h{k}{j}"),
                "truth": MapRef(k * 10 + j + 5, f"O{k}{j}", f"H{k}{j}"),
            }
            for j, m in enumerate(methods)
        }
        out.append(
            StimulusItem(
                k,
                f"item{k}",
                f"img{k}",
                "cat",
                1,
                2,
                "dog",
                not misclassified,
                (2, 1),
                ("dog", "cat"),
                (0.6, 0.3),
                maps,
            )
        )
    return out


def context(config, condition, n_items=12, seed=0, methods=METHODS, max_trials=None):
    return PlanContext(
        config=config,
        methods=methods,
        stimuli=items(n_items, methods),
        condition=condition,
        rng=random.Random(seed),
        participant_code="code",
        max_trials=max_trials,
    )


def test_registry_discovers_the_protocol_modules():
    assert {"likert", "preference"} <= set(protocols())
    with pytest.raises(ConfigError, match="unknown protocol 'nope'"):
        get_protocol("nope")


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_williams_square_is_latin_and_balances_carry_over(n):
    rows = williams_square(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    for row in rows:
        assert sorted(row) == list(range(n))
    for column in zip(*rows[:n], strict=True):
        assert sorted(column) == list(range(n))
    follows = Counter((r[j], r[j + 1]) for r in rows for j in range(n - 1))
    assert set(follows) == {(a, b) for a, b in itertools.permutations(range(n), 2)}
    assert len(set(follows.values())) == 1


def test_balanced_flags_and_attention_positions():
    rng = random.Random(3)
    for n in range(0, 9):
        flags = balanced_flags(n, rng)
        assert abs(sum(flags) - (n - sum(flags))) <= 1
    for n_main, n_checks in [(10, 2), (1, 1), (0, 2), (40, 3)]:
        positions = insert_positions(n_main, n_checks, rng)
        assert len(set(positions)) == n_checks
        assert all(0 <= p < n_main + n_checks for p in positions)
        if n_main:
            assert 0 not in positions


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        ({"points": 3}, "points", "must be 4, 5, 6 or 7"),
        ({"points": 5, "neutral": False}, "neutral", "even number of points"),
        ({"labels": ["a", "b"]}, "labels", "one label per scale point"),
        ({"design": "mixed"}, "design", "must be one of within, between"),
        ({"variant": "properties", "properties": ["clarity"]}, "properties", "no default prompt"),
        ({"question": "why {foo}?"}, "question", "{predicted} and {truth}"),
        ({"colour": "red"}, "colour", "unknown option"),
        ({"points": "five"}, "points", "must be a number"),
    ],
)
def test_likert_configuration_errors_name_the_option(config, key, message):
    with pytest.raises(ConfigError) as caught:
        get_protocol("likert").validate_config(config, methods=METHODS)
    assert key in caught.value.errors
    assert message in " ".join(caught.value.errors[key])


def test_likert_defaults_are_filled_in():
    config = get_protocol("likert").validate_config({}, methods=METHODS)
    assert config["points"] == 5 and config["design"] == "within" and config["neutral"] is True


def test_preference_needs_two_methods_and_k_within_range():
    plugin = get_protocol("preference")
    with pytest.raises(ConfigError, match="at least 2 method"):
        plugin.validate_config({}, methods=["a"])
    with pytest.raises(ConfigError, match="cannot show 4 maps with 3 methods"):
        plugin.validate_config({"k": 4}, methods=METHODS)


def test_likert_within_latin_square_balances_methods_over_images_and_participants():
    plugin = get_protocol("likert")
    config = plugin.validate_config({}, methods=METHODS)
    conditions = plugin.conditions(config, methods=METHODS)
    assert len(conditions) == 6  # odd number of methods: the square and its mirror
    per_image: dict[str, Counter[str]] = {}
    for condition in conditions:
        trials = plugin.plan(context(config, condition, n_items=12))
        assert len(trials) == 12 and len({t.stimulus.item_id for t in trials}) == 12
        per_participant = Counter(t.hidden["method"] for t in trials)
        assert set(per_participant.values()) == {4}  # each method on 4 of 12 images
        for t in trials:
            per_image.setdefault(t.stimulus.item_id, Counter())[t.hidden["method"]] += 1
    # over the rows, every image is rated with every method equally often
    assert all(set(c.values()) == {2} and len(c) == 3 for c in per_image.values())


def test_likert_justification_shows_both_classes_maps_for_misclassified_images():
    plugin = get_protocol("likert")
    config = plugin.validate_config({}, methods=METHODS)
    trial = plugin.plan(context(config, ConditionSpec("order 1", {"latin_row": 1})))[0]
    assert len(trial.shown["images"]) == 3 and set(trial.hidden["maps"]) == {"predicted", "truth"}
    assert "instead of “cat”" in trial.shown["question"]
    single = plugin.validate_config({"variant": "single_map", "show_image": False}, methods=METHODS)
    trial = plugin.plan(context(single, ConditionSpec("order 1", {"latin_row": 1})))[0]
    assert len(trial.shown["images"]) == 1 and "highlight" in trial.shown["question"]


def test_likert_between_subjects_uses_one_method_per_participant():
    plugin = get_protocol("likert")
    config = plugin.validate_config({"design": "between"}, methods=METHODS)
    conditions = plugin.conditions(config, methods=METHODS)
    assert [c.factors for c in conditions] == [{"method": m} for m in METHODS]
    trials = plugin.plan(context(config, conditions[1]))
    assert {t.hidden["method"] for t in trials} == {"b_method"}


def test_likert_properties_variant_rates_each_property():
    plugin = get_protocol("likert")
    config = plugin.validate_config(
        {"variant": "properties", "properties": ["relevance", "clarity: The map is clear."]},
        methods=METHODS,
    )
    trial = plugin.plan(context(config, ConditionSpec("o", {"latin_row": 1})))[0]
    assert [i["name"] for i in trial.shown["items"]] == ["relevance", "clarity"]
    value = plugin.validate_response(
        config, shown=trial.shown, value={"relevance": "4", "clarity": 2}
    )
    assert value == {"relevance": 4, "clarity": 2}
    rows = plugin.export_rows(config, hidden=trial.hidden, value=value, scored={})
    assert [(r["property"], r["rating"]) for r in rows] == [("relevance", 4), ("clarity", 2)]


def test_preference_balances_pairs_and_sides():
    plugin = get_protocol("preference")
    config = plugin.validate_config({}, methods=METHODS)
    conditions = plugin.conditions(config, methods=METHODS)
    assert len(conditions) == 3  # three pairs, three rotations
    pair_per_image: dict[str, Counter[tuple[str, ...]]] = {}
    for seed, condition in enumerate(conditions):
        trials = plugin.plan(context(config, condition, n_items=12, seed=seed))
        pairs = Counter(tuple(sorted(t.hidden["methods"])) for t in trials)
        assert set(pairs.values()) == {4}  # each pair 4 times per participant
        for pair in pairs:
            firsts = Counter(
                t.hidden["methods"][0] for t in trials if tuple(sorted(t.hidden["methods"])) == pair
            )
            assert set(firsts.values()) == {2}  # each side twice
        for t in trials:
            pair_per_image.setdefault(t.stimulus.item_id, Counter())[
                tuple(sorted(t.hidden["methods"]))
            ] += 1
    assert all(len(c) == 3 for c in pair_per_image.values())


def test_preference_k_way_choice_and_response_validation():
    plugin = get_protocol("preference")
    config = plugin.validate_config({"k": 3, "validation_question": "Is it good?"}, methods=METHODS)
    condition = plugin.conditions(config, methods=METHODS)[0]
    trial = plugin.plan(context(config, condition))[0]
    assert len(trial.shown["options"]) == 3
    with pytest.raises(ResponseError, match="yes/no question"):
        plugin.validate_response(config, shown=trial.shown, value={"choice": 1})
    with pytest.raises(ResponseError, match="position from 0 to 2"):
        plugin.validate_response(config, shown=trial.shown, value={"choice": 5, "validation": "no"})
    value = plugin.validate_response(
        config, shown=trial.shown, value={"choice": "2", "validation": "no"}
    )
    scored = plugin.score(config, hidden=trial.hidden, value=value)
    assert scored["choice"] == trial.hidden["methods"][2]
    rows = plugin.export_rows(config, hidden=trial.hidden, value=value, scored=scored)
    shown = trial.hidden["methods"]
    # the chosen map (third) beats each of the two others: one row per comparison
    assert [(r["method_a"], r["method_b"]) for r in rows] == [
        (shown[0], shown[2]),
        (shown[1], shown[2]),
    ]
    for row in rows:
        assert row["choice"] == shown[2] and row["chosen_position"] == 3
        assert row["shown"] == ", ".join(shown) and row["validation"] is False
    names = [c.name for c in plugin.export_columns(config)]
    assert {"method_a", "method_b", "choice", "shown"} <= set(names)
    assert "method_c" not in names


def test_max_trials_gives_a_balanced_subset():
    plugin = get_protocol("likert")
    config = plugin.validate_config({}, methods=METHODS)
    trials = plugin.plan(
        context(config, ConditionSpec("o", {"latin_row": 2}), n_items=30, max_trials=9)
    )
    assert len(trials) == 9
    assert set(Counter(t.hidden["method"] for t in trials).values()) == {3}


def test_attention_check_expects_the_instructed_answer():
    for name in ("likert", "preference"):
        plugin = get_protocol(name)
        config = plugin.validate_config({}, methods=METHODS)
        ctx = context(config, plugin.conditions(config, methods=METHODS)[0])
        check = plugin.attention_check(ctx)
        assert check.kind == "attention" and "attention check" in check.shown["question"]
        assert plugin.attention_passed(hidden=check.hidden, value=check.hidden["expected"])
        assert "method" not in check.hidden and "methods" not in check.hidden


@pytest.mark.parametrize("raw", ["²", "٣", "-²", "3" * 4301, "", "-", "3.0", " "])
def test_integer_answers_accept_ascii_digits_only(raw):
    """Shared by every integer-coded protocol (Likert, preference, ranking, gt prediction)."""
    from studies.protocols._shared import parse_int

    assert parse_int(raw) is None


def test_integer_answers_still_read_plain_digits():
    from studies.protocols._shared import parse_int

    assert [parse_int(v) for v in ["3", " 4 ", "-2", 5, 6.0]] == [3, 4, -2, 5, 6]
