"""Ground-truth labels against a classifier's classes (no Django).

An image's ground truth is stored as the labels file gave it: a class name, a class index, or
both. Which class index a *name* means depends on the classifier (an image set can serve several
classifiers, with different classes or orders), so names are resolved against each classifier's
``class_names`` when they are used, by :func:`true_class`:

1. a stored index wins (it was given explicitly, or resolved at import with ``--classes-of``):
   names are not unique in every class list (ImageNet has two classes called ``crane``);
2. otherwise the name is looked up in the classifier's names with :func:`class_key`
   (case-insensitive; ``_``, ``-`` and runs of spaces alike), the first of two equal names
   winning;
3. otherwise there is no ground truth for that classifier (``None``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence


def class_key(name: str) -> str:
    """A class name compared case-insensitively, with ``_``, ``-`` and runs of spaces alike
    (``Great_White-Shark`` is ``great white shark``)."""
    return re.sub(r"[\s_-]+", " ", name).strip().casefold()


def class_lookup(class_names: Iterable[str]) -> dict[str, int]:
    """``class_key(name) → index`` of a classifier's classes; the first of two equal names wins."""
    lookup: dict[str, int] = {}
    for index, name in enumerate(class_names):
        lookup.setdefault(class_key(str(name)), index)
    return lookup


def true_class(label: str, label_index: int | None, lookup: Mapping[str, int]) -> int | None:
    """The ground-truth class index of an image for the classifier whose :func:`class_lookup` is
    ``lookup`` (see the module's docstring for the order of the rules)."""
    if label_index is not None:
        return label_index
    if label:
        return lookup.get(class_key(label))
    return None


def unmatched(
    labels: Iterable[tuple[str, str, int | None]], class_names: Sequence[str]
) -> list[tuple[str, str]]:
    """``(file, label)`` of the labelled images among ``(file, label, label_index)`` whose label
    names no class of ``class_names`` (unlabelled images are not listed)."""
    lookup = class_lookup(class_names)
    return [
        (file, label)
        for file, label, index in labels
        if label and true_class(label, index, lookup) is None
    ]
