"""Storage of precompute results: prediction, map and score rows, each stored once.

The end of the precompute path (command → service → task → compute → here): every row has a
unique key, so a retried, duplicated or redelivered unit inserts nothing twice.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from explainers.models import FaithfulnessScore, Prediction, SaliencyMap


def save_map_rows(rows: list[SaliencyMap]) -> int:
    """Insert map rows in one statement; a row that another delivery of the same work inserted
    first is skipped (unique key). Returns how many rows this call inserted.

    File names derive from the map's unique key, so the loser's files are the winner's files
    (same names, same content): nothing is left behind and nothing is deleted.
    """
    if not rows:
        return 0
    try:
        with transaction.atomic():  # the usual case: one INSERT of every row
            SaliencyMap.objects.bulk_create(rows)
        return len(rows)
    except IntegrityError:
        pass
    same = SaliencyMap.objects.filter(
        classifier_id=rows[0].classifier_id,
        method=rows[0].method,
        parameters_hash=rows[0].parameters_hash,
        image_id__in={r.image_id for r in rows},
    )
    with transaction.atomic():
        before = same.count()
        SaliencyMap.objects.bulk_create(rows, ignore_conflicts=True)
        return same.count() - before


def save_scores(rows: list[FaithfulnessScore]) -> int:
    before = FaithfulnessScore.objects.filter(
        saliency_map__in=[r.saliency_map_id for r in rows]
    ).count()
    FaithfulnessScore.objects.bulk_create(rows, ignore_conflicts=True)
    after = FaithfulnessScore.objects.filter(
        saliency_map__in=[r.saliency_map_id for r in rows]
    ).count()
    return after - before


def predictions_save(rows: list[Prediction]) -> None:
    Prediction.objects.bulk_create(rows, ignore_conflicts=True)
