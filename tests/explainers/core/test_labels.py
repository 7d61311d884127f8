"""Ground-truth labels against a classifier's classes (pure: no Django)."""

from __future__ import annotations

from explainers.core.labels import class_key, class_lookup, true_class, unmatched

NAMES = ["tench", "great white shark", "crane", "Crane", "crane"]


def test_class_key_ignores_case_underscores_hyphens_and_spacing():
    assert class_key("  Great_White-Shark ") == class_key("great   white shark")
    assert class_key("great white shark") != class_key("great white")


def test_the_first_of_equal_names_wins():
    assert class_lookup(NAMES) == {"tench": 0, "great white shark": 1, "crane": 2}


def test_a_stored_index_wins_then_the_name_then_nothing():
    lookup = class_lookup(NAMES)
    assert true_class("crane", 4, lookup) == 4  # the second 'crane' of the list, given
    assert true_class("Great_White_Shark", None, lookup) == 1
    assert true_class("zebra", None, lookup) is None
    assert true_class("", None, lookup) is None
    assert true_class("", 7, lookup) == 7


def test_unmatched_lists_labelled_files_whose_label_names_no_class():
    rows = [("a.png", "tench", None), ("b.png", "zebra", None), ("c.png", "", None)]
    rows.append(("d.png", "okapi", 0))  # an index: it has a ground truth
    assert unmatched(rows, NAMES) == [("b.png", "zebra")]
    assert unmatched(rows, []) == [("a.png", "tench"), ("b.png", "zebra")]
