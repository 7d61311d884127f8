"""Demo content of the studies app (``manage.py demo`` calls :func:`load`).

One study per installed protocol (Likert, preference, and model-output simulation and
ground-truth prediction when their plug-ins are registered) for the demo researcher, on the
image set with the most maps of at least two methods, computed or being computed by the demo's
precompute jobs. The studies are created as drafts at once and open by themselves when their maps
are ready (:mod:`studies.services.demo`), each with a few bots' sessions, so that the monitor,
the results and the exports have data. A protocol the image set cannot serve is reported with the
protocol's own message. Idempotent: a second run reuses the studies. The model-output simulation
study uses the demo's image set of photograph views (see :mod:`explainers.demo`), where the model
both recognises and misses some classes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from studies.models import Study
from studies.protocols import protocols
from studies.services.demo import (
    DEMO_OWNER,
    DEMO_STUDIES,
    DemoUnavailable,
    demo_studies,
    demo_studies_draft,
    demo_studies_open,
)


def load(stdout: Any = None, *, wait: bool = True) -> list[str]:
    """Draft the demo's studies and open those whose maps are ready; lines to print.

    ``wait`` changes nothing here (the explainers demo waits for the maps when asked to): a draft
    whose maps are still being computed opens by itself when its job finishes.
    """
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        return ["Studies demo skipped: no demo researcher."]
    try:
        refused = demo_studies_draft(owner=owner)
    except DemoUnavailable as error:
        return [f"Studies demo skipped: {error}."]
    reasons = {o.study.title: o.reason for o in demo_studies_open() if o.reason}
    studies = {s.title: s for s in demo_studies()}
    lines = []
    installed = protocols()
    for spec in DEMO_STUDIES:
        title, protocol = spec["title"], spec["protocol"]
        study = studies.get(title)
        if protocol not in installed:
            continue
        if study is None or title in reasons:
            reason = reasons.get(title) or refused.get(protocol, "")
            lines.append(f"Studies demo: {protocol} study not opened: {reason}")
        elif study.state == Study.State.DRAFT:
            lines.append(
                f"{title}: waiting for its maps; it opens by itself when they are ready "
                f"(see {{base}}/studies/{study.uid}/)"
            )
        elif not study.accepts_participants:
            lines.append(f"{title}: {study.get_state_display()} (see {{base}}/studies/)")
        else:
            lines.append(
                f"{title}: take part at {{base}}/take/{study.link_token}/ · "
                f"monitor at {{base}}/studies/{study.uid}/monitor/ · "
                f"results at {{base}}/studies/{study.uid}/results/"
            )
    return lines
