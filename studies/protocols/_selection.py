"""Training examples for model-output simulation: TP, FP, TN and FN from precomputed predictions.

A task (Alqaraawi et al. 2020) is built around a target class ``A``. Each image is an outcome of
the binary question "does the system recognise ``A``?":

=====================  ===========================  ==============================
image of               recognised as ``A``          not recognised as ``A``
=====================  ===========================  ==============================
``A`` (positive)       true positive (TP)           false negative (FN)
another class (neg.)   false positive (FP)          true negative (TN)
=====================  ===========================  ==============================

"Recognised" is the model's top-1 class (``rule="top1"``) or ``A`` among its ``k`` most likely
classes (``rule="top_k"``). Negatives come from ONE contrast class ``B`` (``negatives="one_class"``,
as in the paper: positives and negatives stay two balanced classes) or from any other class
(``"any_class"``). A task needs one example of each outcome plus at least one further image of
``A`` or of the negatives for the test. :func:`diagnose` says, per class, what is missing, so the
designer can explain why an image set cannot supply a task and name classes that can.

Pure functions over :class:`~studies.protocols.base.StimulusItem`; no database.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from studies.protocols.base import StimulusItem

OUTCOMES = ("TP", "FP", "TN", "FN")
OUTCOME_NAMES = {
    "TP": "true positive",
    "FP": "false positive",
    "TN": "true negative",
    "FN": "false negative",
}
RULES = ("top1", "top_k")
NEGATIVES = ("one_class", "any_class")


@dataclass(frozen=True)
class Rule:
    """When the system "recognises" a class, and where negative examples come from."""

    rule: str = "top1"
    k: int = 5
    negatives: str = "one_class"

    def recognised(self, item: StimulusItem, target: int) -> bool:
        if self.rule == "top1":
            return item.predicted == target
        return target in item.top_classes[: self.k]

    def describe(self) -> str:
        if self.rule == "top1":
            return "the model's most likely class"
        return f"one of the model's {self.k} most likely classes"


def outcome(item: StimulusItem, target: int, rule: Rule) -> str | None:
    """TP/FP/TN/FN of ``item`` for ``target``; ``None`` without a ground-truth label."""
    if item.label_index is None:
        return None
    positive = item.label_index == target
    said = rule.recognised(item, target)
    if positive:
        return "TP" if said else "FN"
    return "FP" if said else "TN"


@dataclass
class TaskPool:
    """Every image that can serve a task around ``target``, by outcome."""

    target: int
    target_label: str
    contrast: int | None  # the negative class (one_class) or None (any_class)
    contrast_label: str | None
    by_outcome: dict[str, list[StimulusItem]] = field(default_factory=dict)

    @property
    def images(self) -> list[StimulusItem]:
        return [item for o in OUTCOMES for item in self.by_outcome.get(o, [])]

    @property
    def missing(self) -> list[str]:
        return [o for o in OUTCOMES if not self.by_outcome.get(o)]

    @property
    def usable(self) -> bool:
        return not self.missing and len(self.images) >= len(OUTCOMES) + 1


@dataclass
class ClassDiagnosis:
    """Why a class can or cannot be a target (``reasons`` empty when it can)."""

    target: int
    label: str
    counts: dict[str, int]
    reasons: list[str]
    pool: TaskPool | None

    @property
    def usable(self) -> bool:
        return self.pool is not None and not self.reasons


def _labels(items: Iterable[StimulusItem]) -> dict[int, str]:
    out: dict[int, str] = {}
    for item in items:
        if item.label_index is not None:
            out.setdefault(item.label_index, item.label or f"class {item.label_index}")
    return out


def _pool(
    target: int, label: str, items: Sequence[StimulusItem], rule: Rule, contrast: int | None
) -> TaskPool:
    pool = TaskPool(target, label, contrast, None, {o: [] for o in OUTCOMES})
    for item in items:
        if item.label_index is None:
            continue
        if item.label_index != target and contrast is not None and item.label_index != contrast:
            continue
        found = outcome(item, target, rule)
        if found is not None:
            pool.by_outcome[found].append(item)
    if contrast is not None:
        pool.contrast_label = _labels(items).get(contrast)
    return pool


def _best_contrast(target: int, items: Sequence[StimulusItem], rule: Rule) -> int | None:
    """The negative class with the most false positives for ``target`` (ties: more images,
    then the smaller index), among those that also have a true negative."""
    stats: dict[int, list[int]] = {}
    for item in items:
        if item.label_index is None or item.label_index == target:
            continue
        row = stats.setdefault(item.label_index, [0, 0])
        row[0 if rule.recognised(item, target) else 1] += 1
    ranked = sorted(
        stats.items(),
        key=lambda kv: (-min(kv[1][0], 1) - min(kv[1][1], 1), -kv[1][0], -sum(kv[1]), kv[0]),
    )
    return ranked[0][0] if ranked else None


def diagnose(items: Sequence[StimulusItem], rule: Rule) -> list[ClassDiagnosis]:
    """Every labelled class of ``items``: its outcome counts and what stops it being a target."""
    labels = _labels(items)
    out = []
    for target, label in sorted(labels.items(), key=lambda kv: kv[1].lower()):
        contrast = _best_contrast(target, items, rule) if rule.negatives == "one_class" else None
        pool = _pool(target, label, items, rule, contrast)
        counts = {o: len(pool.by_outcome[o]) for o in OUTCOMES}
        reasons = _reasons(pool, label, rule, n_images=sum(i.label_index == target for i in items))
        out.append(ClassDiagnosis(target, label, counts, reasons, pool if not reasons else None))
    return out


def _reasons(pool: TaskPool, label: str, rule: Rule, *, n_images: int) -> list[str]:
    reasons = []
    name = f"“{label}”"
    where = "of the contrast class" if rule.negatives == "one_class" else "of another class"
    if not pool.by_outcome["TP"]:
        reasons.append(f"no true positive (none of its {n_images} image(s) is recognised)")
    if not pool.by_outcome["FN"]:
        reasons.append(
            f"no false negative (all its {n_images} image(s) are recognised as {name})"
            if n_images
            else "no false negative"
        )
    if not pool.by_outcome["FP"]:
        reasons.append(f"no false positive (no image {where} is recognised as {name})")
    if not pool.by_outcome["TN"]:
        reasons.append(f"no true negative (every image {where} is recognised as {name})")
    if not reasons and len(pool.images) < len(OUTCOMES) + 1:
        reasons.append("no image left for the test after the four training examples")
    return reasons


def explain(
    diagnoses: Sequence[ClassDiagnosis],
    rule: Rule,
    *,
    wanted: Sequence[str] = (),
    alternatives: Mapping[str, Sequence[ClassDiagnosis]] | None = None,
    limit: int = 6,
) -> list[str]:
    """Designer messages: why the requested (or any) class cannot supply a task, and which can.

    ``alternatives`` maps a description of another rule (e.g. "recognised in the top 5") to its
    diagnoses, to suggest a setting under which the image set works.
    """
    usable = [d.label for d in diagnoses if d.usable]
    by_label = {d.label.lower(): d for d in diagnoses}
    messages: list[str] = []
    for name in wanted:
        found = by_label.get(name.lower())
        if found is None:
            known = ", ".join(sorted(by_label)) or "none"
            messages.append(f"target class “{name}” has no image in this set (classes: {known})")
        elif not found.usable:
            messages.append(
                f"“{found.label}” cannot supply a task when a class counts as recognised if it "
                f"is {rule.describe()}: {'; '.join(found.reasons)}"
            )
    if messages or (not wanted and not usable):
        if not wanted and not usable:
            messages.append(
                "this image set cannot supply a model-output-simulation task: each task needs a "
                "true positive, a false positive, a true negative and a false negative for its "
                f"target class (recognised = {rule.describe()}) and one more image for the test"
            )
            for d in diagnoses[:limit]:
                messages.append(f"“{d.label}”: {'; '.join(d.reasons)}")
            if len(diagnoses) > limit:
                messages.append(f"… and {len(diagnoses) - limit} more class(es) like these")
            if diagnoses and max(d.counts["TP"] + d.counts["FN"] for d in diagnoses) < 2:
                messages.append(
                    "every class has a single image, so none can have both a true positive and a "
                    "false negative: add at least two images of each target class"
                )
        if usable:
            messages.append(f"classes that can supply a task: {', '.join(usable[: limit * 2])}")
        for description, others in (alternatives or {}).items():
            can = [d.label for d in others if d.usable]
            if can and not usable:
                messages.append(f"with {description}, these classes could: {', '.join(can[:12])}")
    return messages


@dataclass
class Task:
    """One task of a participant: four training examples and a test image."""

    target: int
    target_label: str
    examples: dict[str, StimulusItem]
    test: StimulusItem
    test_outcome: str


@dataclass
class Exposure:
    """The images one participant is shown, over practice, main trials and attention checks.

    A training example shows the model's decision on its image, so an image once shown (as an
    example or as a test) is never a later test image; and a test image is never a later
    example, whose caption would reveal the answer to a test already taken or still to come.
    """

    shown: set[int] = field(default_factory=set)  # every image shown (examples and tests)
    tested: set[int] = field(default_factory=set)  # test images

    def add(self, task: Task) -> None:
        self.shown.update(item.pk for item in task.examples.values())
        self.shown.add(task.test.pk)
        self.tested.add(task.test.pk)


def draw_tasks(
    pools: Sequence[TaskPool],
    n: int,
    rule: Rule,
    rng: random.Random,
    exposure: Exposure | None = None,
) -> list[Task]:
    """``n`` tasks, targets rotated in a shuffled order, test images alternating between
    positives and negatives; ``exposure`` (updated) holds what the participant saw before.

    A test image is an image never shown to the participant before (see :class:`Exposure`);
    training examples are never an image tested. Examples already shown are reused where the
    outcome allows, so that fresh images remain for tests. When no unseen image can be the test
    of any pool, the participant gets FEWER tasks than ``n``: an image is never reused as a
    test, which would let the participant read the model's output off an earlier example.

    Test images are balanced between the two classes (the target and the negatives): tasks ask
    for a positive and a negative test image in turn, starting at random, falling back to the
    other kind when a pool has none left.
    """
    if not pools:
        return []
    exposure = Exposure() if exposure is None else exposure
    order = list(pools)
    rng.shuffle(order)
    tasks: list[Task] = []
    want_positive = rng.random() < 0.5
    misses = 0
    k = 0
    while len(tasks) < n and misses < len(order):
        pool = order[k % len(order)]
        k += 1
        task = _task(pool, rule, rng, exposure, want_positive)
        if task is None:
            misses += 1
            continue
        misses = 0
        exposure.add(task)
        tasks.append(task)
        want_positive = not want_positive
    return tasks


def _task(
    pool: TaskPool, rule: Rule, rng: random.Random, exposure: Exposure, want_positive: bool
) -> Task | None:
    candidates = [i for i in pool.images if i.pk not in exposure.shown]
    positives = [i for i in candidates if i.label_index == pool.target]
    negatives = [i for i in candidates if i.label_index != pool.target]
    for side in (positives, negatives) if want_positive else (negatives, positives):
        for test in rng.sample(side, len(side)):
            examples = {}
            for o in OUTCOMES:
                options = [
                    i for i in pool.by_outcome[o] if i.pk != test.pk and i.pk not in exposure.tested
                ]
                if not options:
                    break
                seen = [i for i in options if i.pk in exposure.shown]
                examples[o] = rng.choice(seen or options)
            else:
                found = outcome(test, pool.target, rule)
                assert found is not None
                return Task(pool.target, pool.target_label, examples, test, found)
    return None
