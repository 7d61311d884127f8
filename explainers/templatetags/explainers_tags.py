"""Template helpers of the researcher pages: the dashboard's assets summary, score formatting."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Count

from explainers.models import Classifier, ImageSet
from explainers.selectors import jobs_visible_to

register = template.Library()

RECENT_JOBS = 5


@register.inclusion_tag("researcher/_assets_summary.html")
def explainers_summary(user: Any) -> dict[str, Any]:
    """Classifiers, image sets (with image counts) and the latest precompute jobs of ``user``."""
    return {
        "classifiers": list(Classifier.objects.visible_to(user)[:20]),
        "image_sets": list(
            ImageSet.objects.visible_to(user).annotate(n_images=Count("images", distinct=True))[:20]
        ),
        "jobs": list(jobs_visible_to(user).select_related("classifier", "image_set")[:RECENT_JOBS]),
    }


@register.filter
def lookup(mapping: Any, key: Any) -> Any:
    """``mapping|lookup:key``: a dictionary's value, or None."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def score(value: Any) -> str:
    """A faithfulness score to three decimals; an em dash where it is undefined."""
    if value is None:
        return "—"
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "—"
