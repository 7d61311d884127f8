"""Template tags of the studies app: the dashboard's list of studies."""

from __future__ import annotations

from typing import Any

from django import template

from studies.models import Study
from studies.selectors import demo_waiting

register = template.Library()


@register.inclusion_tag("researcher/_studies_summary.html")
def studies_summary(user: Any) -> dict[str, Any]:
    """The researcher's latest studies, for the dashboard, and the demo's drafts that wait for
    their maps."""
    studies = Study.objects.visible_to(user).order_by("-updated_at")[:8]
    return {"studies": list(studies), "demo": demo_waiting(user)}
