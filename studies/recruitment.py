"""Arrivals from Prolific, MTurk or an anonymous link; pseudonyms; completion redirects.

Recruiter ids (Prolific PID, MTurk workerId, session ids) are stored only as keyed hashes
(HMAC-SHA256 with a key derived from ``SECRET_KEY``): the same id always maps to the same pseudonym,
so a second participation is recognised, but the id cannot be read back. Rotating ``SECRET_KEY``
changes every pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from studies.errors import StudyError

MTURK_PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
MTURK_HOSTS = ("www.mturk.com", "workersandbox.mturk.com")
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete"
_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,100}$")


def pseudonym(value: str) -> str:
    """The keyed hash of a recruiter id (64 hex characters): HMAC-SHA256 under
    ``RECRUITER_ID_KEY``, or a key derived from ``SECRET_KEY`` when that is not set."""
    secret = getattr(settings, "RECRUITER_ID_KEY", "") or settings.SECRET_KEY
    key = hashlib.sha256(b"studies.recruiter-id:" + secret.encode()).digest()
    return hmac.new(key, value.strip().encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Arrival:
    """What a study link's parameters say about the participant."""

    source: str
    recruiter_id: str | None = None
    recruitment: dict[str, Any] = field(default_factory=dict)
    mturk_preview: bool = False

    @property
    def recruiter_hash(self) -> str:
        return pseudonym(self.recruiter_id) if self.recruiter_id else ""


def _clean(params: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise StudyError(f"the study link is missing {name}")
        return None
    text = str(value).strip()
    if not _ID.match(text):
        raise StudyError(f"{name} is not a valid identifier")
    return text


def parse_arrival(params: Mapping[str, Any]) -> Arrival:
    """Read Prolific, MTurk or no recruiter parameters; raises StudyError on malformed ones."""
    if params.get("PROLIFIC_PID"):
        pid = _clean(params, "PROLIFIC_PID", required=True)
        session = _clean(params, "SESSION_ID")
        recruitment = {"study_id": _clean(params, "STUDY_ID")}
        if session:
            recruitment["session_hash"] = pseudonym(session)
        return Arrival("prolific", pid, recruitment)
    if params.get("assignmentId") or params.get("workerId"):
        assignment = _clean(params, "assignmentId", required=True)
        if assignment == MTURK_PREVIEW_ASSIGNMENT:
            return Arrival("mturk", mturk_preview=True)
        worker = _clean(params, "workerId", required=True)
        submit_to = str(params.get("turkSubmitTo") or "").strip()
        if submit_to and urlsplit(submit_to).hostname not in MTURK_HOSTS:
            raise StudyError("turkSubmitTo must be an MTurk address")
        recruitment = {
            "hit_id": _clean(params, "hitId"),
            "assignment_id": assignment,  # needed to submit the assignment; not a person's id
            "turk_submit_to": submit_to.rstrip("/") or None,
        }
        return Arrival("mturk", worker, recruitment)
    return Arrival("anonymous")


ARRIVAL_PARAMETERS = (
    "PROLIFIC_PID",
    "STUDY_ID",
    "SESSION_ID",
    "workerId",
    "assignmentId",
    "hitId",
    "turkSubmitTo",
)


def completion_redirect(
    *, source: str, recruitment: Mapping[str, Any], flow: Mapping[str, Any], code: str
) -> str | None:
    """Where a participant who completed the study goes next (None: show the code only)."""
    url = str(flow.get("completion_url") or "")
    if url:
        return url.replace("{code}", code)
    if source == "prolific":
        return f"{PROLIFIC_COMPLETE}?{urlencode({'cc': code})}"
    if source == "mturk" and recruitment.get("turk_submit_to"):
        query = urlencode({"assignmentId": recruitment["assignment_id"], "completion_code": code})
        return f"{recruitment['turk_submit_to']}/mturk/externalSubmit?{query}"
    return None


def screen_out_redirect(*, source: str, flow: Mapping[str, Any]) -> str | None:
    """Where a screened-out participant goes (Prolific: its screen-out completion code)."""
    url = str(flow.get("screen_out_url") or "")
    if url:
        return url
    if source == "prolific" and flow.get("screen_out_code"):
        return f"{PROLIFIC_COMPLETE}?{urlencode({'cc': flow['screen_out_code']})}"
    return None
