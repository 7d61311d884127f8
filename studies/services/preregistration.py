"""A study's preregistration: drafted from the study file, frozen at the first launch, and the
deviations of what was run from it (the document itself: :mod:`analysis.preregistration`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from analysis import preregistration as prereg
from studies.exclusions import REASON_ATTENTION, REASON_STRAIGHTLINING, REASON_TOO_FAST
from studies.models import AnalysisRun, Participant, Study
from studies.protocols import get_protocol
from studies.services.events import event_log
from studies.spec import study_spec

__all__ = [
    "Registration",
    "analysed_participants",
    "preregistration_deviations",
    "preregistration_draft",
    "preregistration_freeze",
    "preregistration_of",
]

RULE_REASONS = frozenset({REASON_ATTENTION, REASON_TOO_FAST, REASON_STRAIGHTLINING})


@dataclass(frozen=True)
class Registration:
    """The document, and (once frozen) its hash and when it was frozen."""

    document: dict[str, Any]
    sha256: str | None
    frozen_at: Any

    @property
    def frozen(self) -> bool:
        return self.sha256 is not None

    def markdown(self) -> str:
        at = self.frozen_at.isoformat(timespec="seconds") if self.frozen_at else None
        return prereg.markdown(self.document, sha256=self.sha256, frozen_at=at)

    def html(self) -> str:
        at = self.frozen_at.isoformat(timespec="seconds") if self.frozen_at else None
        return prereg.html_document(self.document, sha256=self.sha256, frozen_at=at)


def preregistration_draft(study: Study) -> dict[str, Any]:
    """The document of the study as it stands now."""
    plugin = get_protocol(study.protocol)
    measures = [(c.name, c.description) for c in plugin.export_columns(study.configuration)]
    return prereg.document(study_spec(study), protocol_label=plugin.label, measures=measures)


def preregistration_of(study: Study) -> Registration:
    """The frozen document once the study was launched, else the draft."""
    if study.preregistration is not None:
        return Registration(
            study.preregistration, study.preregistration_sha256, study.preregistered_at
        )
    return Registration(preregistration_draft(study), None, None)


@transaction.atomic
def preregistration_freeze(*, study: Study, actor: Any = None) -> Study:
    """Store the document and the SHA-256 of its canonical JSON; a frozen one stays as it is.

    Called by the first launch, after the stimuli are frozen (so that it names the images)."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.preregistration is not None:
        return study
    doc = preregistration_draft(study)
    study.preregistration = doc
    study.preregistration_sha256 = prereg.document_hash(doc)
    study.preregistered_at = timezone.now()
    study.save(
        update_fields=[
            "preregistration",
            "preregistration_sha256",
            "preregistered_at",
            "updated_at",
        ]
    )
    event_log(
        study=study,
        kind="preregistration.frozen",
        actor=actor,
        data={"sha256": study.preregistration_sha256},
    )
    return study


def analysed_participants(run: AnalysisRun | None) -> int | None:
    """Participants the run analysed (its ``sample`` row); None without a finished run."""
    if run is None or run.state != AnalysisRun.State.DONE:
        return None
    for row in run.results:  # sections (properties) share the participants: the first
        if row.get("analysis") == "sample" and row.get("term") == "participants":
            return int(row["estimate"] or 0)
    return None


def preregistration_deviations(
    study: Study, *, n_analysed: int | None = None
) -> list[prereg.Deviation]:
    """What was run differs from the frozen plan; empty before the launch froze one."""
    if study.preregistration is None:
        return []
    live = study.participants.filter(mode=Participant.Mode.LIVE)
    by_researcher = 0
    for reason in live.filter(state=Participant.State.EXCLUDED).values_list(
        "exclusion_reason", flat=True
    ):
        reasons = {r for r in (reason or "").split("; ") if r}
        if not reasons or reasons - RULE_REASONS:
            by_researcher += 1
    return prereg.deviations(
        study.preregistration["plan"],
        preregistration_draft(study)["plan"],
        n_analysed=n_analysed,
        researcher_exclusions=by_researcher,
        researcher_inclusions=live.filter(included_by_researcher=True).count(),
    )
