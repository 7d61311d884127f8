"""Balanced condition assignment under concurrent arrivals (PostgreSQL, threads).

Many participants arrive at once, each request in its own thread and database connection. The
study's row lock makes each assignment see the ones before it, so the cells stay balanced, the
participant numbers are unique, and one recruiter id arriving several times at once gets one
session.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from explainers.core.render import DEFAULT
from explainers.models import Classifier, Image, ImageSet, MapRender, Prediction, SaliencyMap
from studies.models import Participant
from studies.recruitment import Arrival, pseudonym
from studies.services.participants import participant_start
from studies.services.studies import (
    design_validate,
    study_create,
    study_transition,
)

pytestmark = pytest.mark.system


def _study(methods: tuple[str, ...] = ("gradcam", "occlusion", "rise")):
    owner = get_user_model().objects.create_user("concurrency")
    classifier = Classifier.objects.create(name="lite0-c", source="zoo", class_names=["a", "b"])
    image_set = ImageSet.objects.create(name="concurrency")
    for k in range(6):
        sha = hashlib.sha256(str(k).encode()).hexdigest()
        image = Image.objects.create(
            image_set=image_set,
            file=f"images/{sha}.png",
            original_name=f"{k}.png",
            sha256=sha,
            width=8,
            height=8,
            label="a",
            label_index=0,
        )
        Prediction.objects.create(
            image=image,
            classifier=classifier,
            top_classes=[0, 1],
            top_probabilities=[0.9, 0.1],
            predicted_class=0,
            probability=0.9,
        )
        for method in methods:
            saliency_map = SaliencyMap.objects.create(
                image=image,
                classifier=classifier,
                method=method,
                target_class=0,
                parameters={},
                parameters_hash="0" * 64,
                raw=f"maps/raw/{k}{method}.npy",
                overlay=f"maps/overlay/{k}{method}.png",
                heatmap=f"maps/heatmap/{k}{method}.png",
                height=8,
                width=8,
                device="cpu",
                seconds=0.0,
            )
            # the stimulus as the CPU queue renders it: launch refuses while renders are missing
            MapRender.objects.create(
                saliency_map=saliency_map,
                presentation_key=DEFAULT.key,
                presentation=DEFAULT.to_dict(),
                image=f"maps/render/{k}{method}.png",
                heatmap=f"maps/render/{k}{method}-heatmap.png",
            )
    design = design_validate(
        protocol="likert",
        configuration={},
        flow={"attention_checks": 1},
        stimuli={"methods": list(methods), "images": "all"},
        classifier=classifier,
        image_set=image_set,
        user=owner,
    )
    study = study_create(owner=owner, title="Concurrency", design=design)
    return study_transition(study=study, actor=owner, action="launch")


def _run_at_once(n: int, work: Callable[[int], None]) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(index)
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_concurrent_arrivals_stay_balanced(services, transactional_db):
    study = _study()
    n_cells = study.conditions.count()
    assert n_cells == 6  # three methods: a Williams square and its mirror
    n = 4 * n_cells

    def arrive(index: int) -> None:
        participant_start(study=study, arrival=Arrival("prolific", f"pid{index:03d}", {}))

    errors = _run_at_once(n, arrive)
    assert not errors, errors
    participants = list(Participant.objects.filter(study=study))
    assert len(participants) == n
    counts = Counter(p.condition_id for p in participants)
    assert len(counts) == n_cells and set(counts.values()) == {4}, counts
    assert sorted(p.number for p in participants) == list(range(1, n + 1))
    assert all(p.n_trials == 7 for p in participants)


def test_the_same_recruiter_id_arriving_at_once_gets_one_session(services, transactional_db):
    study = _study()
    codes: list[str] = []

    def arrive(index: int) -> None:
        participant, _ = participant_start(study=study, arrival=Arrival("prolific", "same", {}))
        codes.append(participant.code)

    errors = _run_at_once(8, arrive)
    assert not errors, errors
    assert len(set(codes)) == 1 and len(codes) == 8
    assert Participant.objects.filter(study=study, recruiter_hash=pseudonym("same")).count() == 1


def test_answers_are_not_held_up_by_an_arrival_holding_the_study_lock(
    services, transactional_db, monkeypatch
):
    """A start locks the study's row (FOR NO KEY UPDATE) while it assigns and numbers; the
    study's other participants must go on answering meanwhile: their locks are on their own
    rows, and their inserts' foreign-key checks on the study do not wait for that lock."""
    import time

    from studies.services.participants import participant_page_submit
    from studies.services.responses import response_submit
    from tests.studies.helpers import answer_for

    study = _study()
    participant, _ = participant_start(study=study, arrival=Arrival("prolific", "p1", {}))
    page = "practice" if participant.n_practice else "trials"
    Participant.objects.filter(pk=participant.pk).update(page=page)
    other, _ = participant_start(study=study, arrival=Arrival("prolific", "p2", {}))
    locked, release = threading.Event(), threading.Event()

    from studies.services import participants as service

    real_assign = service.condition_assign

    def slow_assign(**kwargs):  # runs inside the start's transaction, with the study locked
        locked.set()
        release.wait(30)
        return real_assign(**kwargs)

    monkeypatch.setattr(service, "condition_assign", slow_assign)

    def arrival_in_progress() -> None:
        try:
            participant_start(study=study, arrival=Arrival("prolific", "p3", {}))
        finally:
            connection.close()

    outcome: dict[str, object] = {}

    def answer_and_consent() -> None:
        try:
            fresh = Participant.objects.select_related("study").get(pk=participant.pk)
            trial = fresh.trials.get(index=0)
            outcome["answer"] = response_submit(
                participant=fresh, trial_index=0, value=answer_for(trial), idempotency_key="a" * 12
            )
            outcome["consent"] = participant_page_submit(
                participant=Participant.objects.select_related("study").get(pk=other.pk),
                page="consent",
                data={"agree": "yes"},
            )
        except BaseException as error:  # reported by the test
            outcome["error"] = error
        finally:
            connection.close()

    holder = threading.Thread(target=arrival_in_progress)
    holder.start()
    assert locked.wait(10)
    worker = threading.Thread(target=answer_and_consent)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=10)
    finished_while_locked = not worker.is_alive()
    release.set()
    holder.join(timeout=30)
    worker.join(timeout=30)
    assert "error" not in outcome, outcome
    assert finished_while_locked, (
        f"the answer waited for the study lock ({time.monotonic() - started:.1f} s)"
    )
    assert Participant.objects.get(pk=participant.pk).n_answered == 1
