"""Studies, conditions, frozen stimuli; participants, trials, responses; the event log;
analysis runs."""

from studies.models.analysis import AnalysisRun
from studies.models.events import Event
from studies.models.participants import Participant, Response, Trial
from studies.models.study import Collaborator, Condition, Stimulus, Study

__all__ = [
    "AnalysisRun",
    "Collaborator",
    "Condition",
    "Event",
    "Participant",
    "Response",
    "Stimulus",
    "Study",
    "Trial",
]
