"""Input and output serializers of the studies API (explicit, as the style guide asks)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from studies.models import Condition, Study


class ConditionOut(serializers.ModelSerializer):
    class Meta:
        model = Condition
        fields = ["name", "factors", "quota", "position"]


class StudyOut(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username")
    classifier = serializers.CharField(source="classifier.name")
    image_set = serializers.CharField(source="image_set.name")
    recruitment_link = serializers.SerializerMethodField()
    state = serializers.CharField(help_text="draft, pilot, live, paused or closed.")

    class Meta:
        model = Study
        fields = [
            "uid",
            "title",
            "description",
            "protocol",
            "state",
            "version",
            "lineage",
            "owner",
            "classifier",
            "image_set",
            "recruitment_link",
            "created_at",
            "updated_at",
        ]

    def get_recruitment_link(self, study: Study) -> str:
        path = reverse("studies:take", args=[study.link_token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class StudyDetailOut(StudyOut):
    conditions = ConditionOut(many=True, read_only=True)
    completion_code = serializers.CharField()

    class Meta(StudyOut.Meta):
        fields = [
            *StudyOut.Meta.fields,
            "configuration",
            "flow",
            "stimuli_selection",
            "conditions",
            "completion_code",
            "stimuli_frozen_at",
            "launched_at",
            "closed_at",
        ]


class StudySpecIn(serializers.Serializer):
    """A study document (see ``studies.spec``); further keys are checked by the service."""

    format = serializers.CharField(required=False)
    format_version = serializers.IntegerField(required=False)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    protocol = serializers.CharField()
    configuration = serializers.JSONField(required=False)
    flow = serializers.JSONField(required=False)
    stimuli = serializers.JSONField()


class TransitionIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=["pilot", "launch", "pause", "close", "draft"])


class StimuliCheckOut(serializers.Serializer):
    ok = serializers.BooleanField()
    n_items = serializers.IntegerField()
    messages = serializers.ListField(child=serializers.CharField())


class StudyJobOut(serializers.Serializer):
    uid = serializers.UUIDField()
    state = serializers.CharField()
    methods = serializers.ListField(child=serializers.CharField())


class MonitorConditionOut(serializers.Serializer):
    name = serializers.CharField()
    factors = serializers.DictField()
    quota = serializers.IntegerField(allow_null=True)
    states = serializers.DictField(child=serializers.IntegerField())
    total = serializers.IntegerField()


class MonitorOut(serializers.Serializer):
    conditions = MonitorConditionOut(many=True)
    states = serializers.DictField(child=serializers.IntegerField())
    median_minutes = serializers.FloatField(allow_null=True)
    attention_failures = serializers.IntegerField()
    participants_with_failures = serializers.IntegerField()
    last_seen = serializers.DateTimeField(allow_null=True)


class ProtocolOptionOut(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    default = serializers.JSONField()
    title = serializers.CharField()
    description = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField())


class ProtocolOut(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    default_images = serializers.CharField()
    minimum_methods = serializers.IntegerField()
    options = ProtocolOptionOut(many=True)


# --- participant API ------------------------------------------------------------------------
class ArrivalIn(serializers.Serializer):
    PROLIFIC_PID = serializers.CharField(required=False, allow_blank=True)
    STUDY_ID = serializers.CharField(required=False, allow_blank=True)
    SESSION_ID = serializers.CharField(required=False, allow_blank=True)
    workerId = serializers.CharField(required=False, allow_blank=True)
    assignmentId = serializers.CharField(required=False, allow_blank=True)
    hitId = serializers.CharField(required=False, allow_blank=True)
    turkSubmitTo = serializers.CharField(required=False, allow_blank=True)


class TrialOut(serializers.Serializer):
    index = serializers.IntegerField()
    protocol = serializers.CharField()
    shown = serializers.JSONField(help_text="What to show; images as opaque URLs.")


class ParticipantStateOut(serializers.Serializer):
    code = serializers.CharField()
    page = serializers.CharField(help_text="The page the participant must be on.")
    progress = serializers.IntegerField(help_text="Percent of trials answered.")
    page_url = serializers.CharField()
    trial = TrialOut(allow_null=True)
    page_data = serializers.JSONField(
        help_text="The page's texts, questions or completion details; on the feedback page "
        "(after a practice answer, with practice feedback on) the feedback: "
        "{trial, correct, message}."
    )


class PageIn(serializers.Serializer):
    answers = serializers.DictField(
        required=False, help_text="consent: {agree: true}; questions: {name: answer}."
    )


class ResponseIn(serializers.Serializer):
    trial = serializers.IntegerField(min_value=0)
    value = serializers.JSONField(help_text="The protocol's answer object.")
    rt_ms = serializers.FloatField(required=False, allow_null=True, min_value=0)
    idempotency_key = serializers.RegexField(r"^[A-Za-z0-9_\-]{8,64}$")
    next_trial = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Have the reply carry the next trial's form (shown from then on), when the "
        "next page is a trial: the page moves on in place, one request per trial.",
    )


class ParticipantEventIn(serializers.Serializer):
    """Something the participant's browser saw that the server cannot: only the kinds listed."""

    kind = serializers.ChoiceField(
        choices=["trial.image_failed"],
        help_text="trial.image_failed: the trial's pictures did not load, even after retries.",
    )
    trial = serializers.IntegerField(min_value=0, help_text="The current trial's index.")


class ParticipantEventOut(serializers.Serializer):
    kind = serializers.CharField()
    trial = serializers.IntegerField()
    logged = serializers.BooleanField(
        help_text="False when this participant has already reported the most that is kept."
    )


class PracticeFeedbackOut(serializers.Serializer):
    trial = serializers.IntegerField()
    correct = serializers.BooleanField(
        allow_null=True, help_text="null: no right answer on record for the item."
    )
    title = serializers.CharField(help_text='The verdict, once: "Correct", "Not quite".')
    detail = serializers.CharField(
        allow_blank=True, help_text="What the right answer was (a sentence; may be empty)."
    )
    message = serializers.CharField(help_text="Title and detail in one line.")


class NextTrialOut(serializers.Serializer):
    """The next trial, ready to be put in place of the one answered (issue 22)."""

    index = serializers.IntegerField()
    title = serializers.CharField(help_text="The page title for this trial.")
    progress = serializers.IntegerField(help_text="Percent of the trials answered.")
    url = serializers.CharField(help_text="The participant's page (where a reload resumes).")
    images = serializers.ListField(child=serializers.CharField(), help_text="Its pictures.")
    prefetch = serializers.ListField(
        child=serializers.CharField(), help_text="The pictures of the trial after it."
    )
    html = serializers.CharField(help_text="The trial's form, as on the trial page.")


class ResponseOut(serializers.Serializer):
    trial = serializers.IntegerField()
    duplicate = serializers.BooleanField(help_text="True when this key was stored before.")
    page = serializers.CharField()
    next = serializers.CharField(help_text="The page to go to now.")
    feedback = PracticeFeedbackOut(
        allow_null=True,
        help_text="With practice feedback on, for a practice answer: whether it was right.",
    )
    next_trial = NextTrialOut(
        allow_null=True,
        help_text="Asked for with next_trial: the trial to show now, when the next page is one "
        "(else null: go to next).",
    )


class AnalysisOut(serializers.Serializer):
    """A study's analysis run (``results`` rows: analysis.RESULT_COLUMNS, plus ``property``
    for the Likert properties variant)."""

    uid = serializers.UUIDField()
    state = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    error = serializers.CharField(help_text="Why a failed run failed.")
    n_participants = serializers.IntegerField()
    n_responses = serializers.IntegerField(help_text="Rows of the tidy table analysed.")
    seed = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True)
    versions = serializers.DictField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.CharField())
    results = serializers.ListField(child=serializers.DictField())
    files = serializers.SerializerMethodField(
        help_text="File name → URL (results.csv, reports, plots)."
    )

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_files(self, run: Any) -> dict[str, str]:
        return dict(self.context["files"])
