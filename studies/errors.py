"""Errors of the studies app's services; views and the API turn them into 4xx answers."""

from __future__ import annotations


class StudyError(ValueError):
    """A request the study cannot accept; ``code`` names the kind for the API."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, next_page: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.next_page = next_page


class DesignLocked(StudyError):
    code = "design_locked"
    status = 409


class InvalidTransition(StudyError):
    code = "invalid_transition"
    status = 409


class NotAccepting(StudyError):
    """The study does not take (new) participants now."""

    code = "not_accepting"
    status = 403


class AlreadyParticipated(StudyError):
    code = "already_participated"
    status = 403


class StudyFull(StudyError):
    code = "study_full"
    status = 403


class WrongPage(StudyError):
    """The participant tried a page or trial that is not the current one."""

    code = "wrong_page"
    status = 409


class InvalidAnswer(StudyError):
    code = "invalid_answer"
    status = 400

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class StimuliMissing(StudyError):
    """Maps or predictions the design needs are not precomputed (or the images cannot supply it)."""

    code = "stimuli_missing"
    status = 409
