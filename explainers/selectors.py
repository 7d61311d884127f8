"""Who may see and act on the explainers app's rows: one place for the API, pages and files.

The row-level rule of :class:`explainers.models.SharedQuerySet` (own, shared with one, or
owner-less; everything for a superuser) is kept for classifiers and image sets: owner-less
classifiers are the built-in zoo and owner-less image sets are imports that ``import_images``
shares with all (no ``--owner``). Derived rows are stricter:

- a saliency map (and its files) is visible only when *both* its image set and its classifier
  are, so a map computed with someone's private classifier stays private to them;
- an owner-less precompute job (started from the command line) is shown to staff only;
- a job is cancelled only by its owner or staff: sharing a job shares its progress, not
  control over it.

"Staff" means a superuser here, as in ``SharedQuerySet.visible_to``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from explainers.models import Classifier, Image, ImageSet, PrecomputeJob, SaliencyMap


def is_staff(user: Any) -> bool:
    """A user who sees and may act on every row (a superuser)."""
    return bool(getattr(user, "is_superuser", False))


def images_visible_to(user: Any) -> QuerySet[Image]:
    """Images of the image sets this user may see."""
    return Image.objects.filter(image_set__in=ImageSet.objects.visible_to(user))


def maps_visible_to(user: Any) -> QuerySet[SaliencyMap]:
    """Maps whose image set *and* classifier this user may see."""
    if is_staff(user):
        return SaliencyMap.objects.all()
    return SaliencyMap.objects.filter(
        image__image_set__in=ImageSet.objects.visible_to(user),
        classifier__in=Classifier.objects.visible_to(user),
    )


def jobs_visible_to(user: Any) -> QuerySet[PrecomputeJob]:
    """Jobs this user owns or that are shared with them; every job for staff."""
    jobs = PrecomputeJob.objects.visible_to(user)
    return jobs if is_staff(user) else jobs.filter(owner__isnull=False)


def job_cancellable_by(job: PrecomputeJob, user: Any) -> bool:
    """Only the job's owner or staff may cancel it (not those it is shared with)."""
    if is_staff(user):
        return True
    return job.owner_id is not None and job.owner_id == getattr(user, "pk", None)
