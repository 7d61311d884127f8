"""JSON API of the studies app: researchers' studies, and the participant flow for custom
front ends (jsPsych and the like). Thin views over the services; one error format."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from studies import presenters
from studies import serializers as s
from studies.configschema import ConfigError
from studies.errors import StudyError
from studies.export import StudyExport
from studies.models import Participant, Study
from studies.protocols import protocols
from studies.recruitment import parse_arrival
from studies.selectors import can_edit, current_trial, monitor
from studies.services.analysis import analysis_request, run_files
from studies.services.events import event_log
from studies.services.participants import (
    participant_for_request,
    participant_page_submit,
    participant_start,
    participant_touch,
    participants_time_out,
    trial_image_failed,
    trial_show,
)
from studies.services.responses import (
    FEEDBACK_PAGE,
    feedback_continue,
    response_feedback,
    response_submit,
)
from studies.services.studies import (
    study_copy_as_version,
    study_create,
    study_precompute_missing,
    study_transition,
    study_update,
)
from studies.services.withdrawal import participant_find, participant_withdraw
from studies.spec import spec_parse, study_spec
from studies.stimuli import check_study_stimuli
from studies.views.trial import next_trial


def _error(error: StudyError, *, participant: Participant | None = None) -> Response:
    body: dict[str, Any] = {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": getattr(error, "errors", {}),
        }
    }
    if participant is not None:
        body["page"] = participant.page
        body["next"] = reverse("studies:participant-page", args=[participant.code])
    return Response(body, status=error.status)


def _config_error(error: ConfigError) -> ValidationError:
    return ValidationError(
        {key or "non_field_errors": value for key, value in error.errors.items()}
    )


class WithdrawIn(serializers.Serializer):
    """Which participant (``number`` or the raw ``recruiter_id``) and why."""

    number = serializers.IntegerField(required=False, min_value=1)
    recruiter_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
    reason = serializers.CharField(max_length=500)


class WithdrawOut(serializers.Serializer):
    number = serializers.IntegerField()
    responses = serializers.IntegerField()
    trials = serializers.IntegerField()
    events = serializers.IntegerField()
    audit_event = serializers.IntegerField()


class StudyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Studies the researcher owns or collaborates on; others' studies are not found (404)."""

    lookup_field = "uid"
    serializer_class = s.StudyOut

    def get_queryset(self):
        return (
            Study.objects.visible_to(self.request.user)
            .select_related("owner", "classifier", "image_set")
            .order_by("-created_at", "id")
        )

    def get_serializer_class(self):
        return s.StudyDetailOut if self.action == "retrieve" else s.StudyOut

    def _editable(self) -> Study:
        study = self.get_object()
        if not can_edit(self.request.user, study):
            raise PermissionDenied("you can view this study but not change it")
        return study

    @extend_schema(request=s.StudySpecIn, responses={201: s.StudyDetailOut})
    def create(self, request: Request) -> Response:
        """Create a study from a study document (the format of ``GET .../spec/``)."""
        try:
            title, description, design = spec_parse(request.data, user=request.user)
            study = study_create(
                owner=request.user, title=title, description=description, design=design
            )
        except ConfigError as error:
            raise _config_error(error) from None
        return Response(
            s.StudyDetailOut(study, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(methods=["GET"], responses={200: s.StudySpecIn})
    @extend_schema(methods=["PUT"], request=s.StudySpecIn, responses={200: s.StudyDetailOut})
    @action(detail=True, methods=["get", "put"])
    def spec(self, request: Request, uid: str) -> Response:
        """The study's full design as a document; PUT replaces the design of a draft."""
        if request.method == "GET":
            return Response(study_spec(self.get_object()))
        study = self._editable()
        try:
            title, description, design = spec_parse(request.data, user=request.user)
            study = study_update(
                study=study,
                actor=request.user,
                title=title,
                description=description,
                design=design,
            )
        except ConfigError as error:
            raise _config_error(error) from None
        except StudyError as error:
            return _error(error)
        return Response(s.StudyDetailOut(study, context={"request": request}).data)

    @extend_schema(request=s.TransitionIn, responses={200: s.StudyDetailOut})
    @action(detail=True, methods=["post"])
    def state(self, request: Request, uid: str) -> Response:
        """pilot, launch, pause, close, or draft (back from a pilot without participants)."""
        study = self._editable()
        data = s.TransitionIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            study = study_transition(
                study=study, actor=request.user, action=data.validated_data["action"]
            )
        except StudyError as error:
            return _error(error)
        return Response(s.StudyDetailOut(study, context={"request": request}).data)

    @extend_schema(request=None, responses={201: s.StudyDetailOut})
    @action(detail=True, methods=["post"])
    def copy(self, request: Request, uid: str) -> Response:
        """Copy the design into a new draft: the next version of the study."""
        study = self.get_object()
        if not can_edit(request.user, study):
            raise PermissionDenied("you can view this study but not copy it")
        copy = study_copy_as_version(study=study, actor=request.user)
        return Response(
            s.StudyDetailOut(copy, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={200: s.MonitorOut})
    @action(detail=True, methods=["get"])
    def monitor(self, request: Request, uid: str) -> Response:
        """Participants per condition and state, median duration, attention-check failures."""
        study = self.get_object()
        participants_time_out(study=study)
        data = monitor(study)
        return Response(
            s.MonitorOut(
                {
                    **data.__dict__,
                    "conditions": [{**c.__dict__, "total": c.total} for c in data.conditions],
                }
            ).data
        )

    @extend_schema(responses={200: s.StimuliCheckOut})
    @action(detail=True, methods=["get"])
    def stimuli(self, request: Request, uid: str) -> Response:
        """Whether everything the design needs is precomputed, and what is missing."""
        study = self.get_object()
        check = check_study_stimuli(study)
        return Response({"ok": check.ok, "n_items": len(check.items), "messages": check.messages()})

    @extend_schema(request=None, responses={201: s.StudyJobOut})
    @action(detail=True, methods=["post"])
    def precompute(self, request: Request, uid: str) -> Response:
        """Start a precompute job for the maps the study still lacks."""
        study = self._editable()
        try:
            job = study_precompute_missing(study=study, actor=request.user)
        except StudyError as error:
            return _error(error)
        return Response(
            {"uid": job.uid, "state": job.state, "methods": job.methods},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=WithdrawIn, responses={200: WithdrawOut})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, uid: str) -> Response:
        """Delete a participant's data on their request; a study event records it."""
        study = self._editable()
        data = WithdrawIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            participant = participant_find(
                study=study, number=v.get("number"), recruiter_id=v.get("recruiter_id", "")
            )
            done = participant_withdraw(
                participant=participant, actor=request.user, reason=v["reason"]
            )
        except StudyError as error:
            return _error(error)
        return Response(
            {
                "number": done.number,
                "responses": done.responses,
                "trials": done.trials,
                "events": done.events,
                "audit_event": done.audit.pk,
            }
        )

    @extend_schema(
        request=None,
        responses={200: s.AnalysisOut, 202: s.AnalysisOut, 204: None},
        description="GET: the results for the study's current data (computed once per state "
        "of the data; 202 while a worker computes them, 204 before any response). POST: "
        "compute again a run that failed, or send again one that waits.",
    )
    @action(detail=True, methods=["get", "post"])
    def analysis(self, request: Request, uid: str) -> Response:
        """The study's analysis: effect sizes, CIs, tests, mixed models (analysis package)."""
        study = self.get_object()
        run = analysis_request(study, force=request.method == "POST")
        if run is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        files = {
            name: request.build_absolute_uri(
                reverse("studies:results-file", args=[study.uid, run.uid, name])
            )
            for name in run_files(run)
        }
        body = s.AnalysisOut(run, context={"files": files})
        code = status.HTTP_200_OK if run.finished else status.HTTP_202_ACCEPTED
        return Response(body.data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("table", str, enum=["responses", "participants", "codebook"]),
            OpenApiParameter("include_pilot", bool),
            OpenApiParameter(
                "recruiter_ids",
                bool,
                description="Add the recruiter pseudonyms (keyed hashes); owner or editors only.",
            ),
        ],
        responses={(200, "text/csv"): str},
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, uid: str) -> HttpResponse:
        """The tidy responses CSV, the participant table or the codebook (datapackage.json)."""
        study = self.get_object()
        table = request.query_params.get("table", "responses")
        pilot = request.query_params.get("include_pilot") in ("1", "true")
        recruiter_ids = request.query_params.get("recruiter_ids") in ("1", "true")
        if recruiter_ids and not can_edit(request.user, study):
            raise PermissionDenied("only the owner or an editor can export recruiter ids")
        if recruiter_ids and table == "participants":
            event_log(study=study, actor=request.user, kind="export.recruiter_ids")
        export = StudyExport(study, include_pilot=pilot, recruiter_ids=recruiter_ids)
        if table == "codebook":
            return Response(export.datapackage())
        if table not in ("responses", "participants"):
            raise ValidationError({"table": ["choose responses, participants or codebook"]})
        text = export.responses_csv() if table == "responses" else export.participants_csv()
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{table}.csv"'
        return response


class ProtocolListView(APIView):
    @extend_schema(responses={200: s.ProtocolOut(many=True)})
    def get(self, request: Request) -> Response:
        """The installed protocols and their configuration options."""
        out = []
        for plugin in protocols().values():
            out.append(
                {
                    "name": plugin.name,
                    "title": plugin.label,
                    "description": plugin.description,
                    "default_images": plugin.default_images,
                    "minimum_methods": plugin.minimum_methods,
                    "options": [
                        {
                            "name": o.name,
                            "kind": o.kind,
                            "default": o.default,
                            "title": o.label,
                            "description": o.help,
                            "choices": list(o.choices),
                        }
                        for o in plugin.schema.options
                    ],
                }
            )
        return Response(out)


# --- participant API ---------------------------------------------------------------------------
class _ParticipantAPI(APIView):
    """No account: the participant's unguessable code is the credential."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


def _state(participant: Participant) -> dict[str, Any]:
    trial = current_trial(participant)
    if trial is not None:
        trial_show(participant=participant, trial=trial)
    return {
        "code": participant.code,
        "page": participant.page,
        "progress": presenters.progress_percent(participant),
        "page_url": reverse("studies:participant-page", args=[participant.code]),
        "trial": presenters.trial_payload(participant, trial) if trial else None,
        "page_data": presenters.page_data(participant) if trial is None else {},
    }


class ArrivalView(_ParticipantAPI):
    @extend_schema(request=s.ArrivalIn, responses={201: s.ParticipantStateOut})
    def post(self, request: Request, token: str) -> Response:
        """Start (or, for a known recruiter id, resume) a session from a study link's token."""
        study = Study.objects.filter(link_token=token).first()
        if study is None:  # 404, not 400: a failed guess for the code-guessing limit
            raise NotFound("no such study link")
        data = s.ArrivalIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            arrival = parse_arrival(data.validated_data)
            if arrival.mturk_preview:
                raise StudyError("this is an MTurk preview: accept the HIT to begin")
            participant, created = participant_start(study=study, arrival=arrival)
        except StudyError as error:
            return _error(error)
        return Response(
            _state(participant), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class ParticipantView(_ParticipantAPI):
    @extend_schema(responses={200: s.ParticipantStateOut})
    def get(self, request: Request, code: str) -> Response:
        """The current page, and the current trial's content on trial pages."""
        participant = participant_for_request(code)
        participant_touch(participant=participant)
        return Response(_state(participant))


class PageView(_ParticipantAPI):
    @extend_schema(request=s.PageIn, responses={200: s.ParticipantStateOut})
    def post(self, request: Request, code: str, page: str) -> Response:
        """Submit a non-trial page: consent, demographics, instructions, questionnaire, debrief,
        or ``feedback`` (Continue after the feedback on a practice answer; no answers)."""
        participant = participant_for_request(code)
        data = s.PageIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            if page == FEEDBACK_PAGE:
                participant = feedback_continue(participant=participant)
            else:
                participant = participant_page_submit(
                    participant=participant,
                    page=page,
                    data=data.validated_data.get("answers", {}),
                )
        except StudyError as error:
            return _error(error, participant=participant)
        return Response(_state(participant))


class ResponseView(_ParticipantAPI):
    @extend_schema(request=s.ResponseIn, responses={201: s.ResponseOut, 200: s.ResponseOut})
    def post(self, request: Request, code: str) -> Response:
        """Save the answer to the current trial; the same idempotency key stores it once.

        With practice feedback on, a practice answer's reply carries its ``feedback`` (and
        ``page`` is ``feedback``): built from the stored answer, never sent before it.
        Asked for (``next_trial: true``) while the next page is a trial, ``next_trial`` carries
        its form (the trial page's own HTML) and pictures, and that trial counts as shown from
        then on, so a page can move on in place; else it is null and ``next`` is the way on."""
        participant = participant_for_request(code)
        data = s.ResponseIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            result = response_submit(
                participant=participant,
                trial_index=v["trial"],
                value=v["value"],
                rt_ms=v.get("rt_ms"),
                idempotency_key=v["idempotency_key"],
            )
        except StudyError as error:
            participant.refresh_from_db()
            return _error(error, participant=participant)
        participant = result.participant
        return Response(
            {
                "trial": result.response.trial.index,
                "duplicate": not result.created,
                "page": participant.page,
                "next": reverse("studies:participant-page", args=[participant.code]),
                "feedback": response_feedback(participant.study, result.response),
                "next_trial": next_trial(request._request, participant)
                if v.get("next_trial")
                else None,
            },
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class ParticipantEventView(_ParticipantAPI):
    @extend_schema(request=s.ParticipantEventIn, responses={201: s.ParticipantEventOut})
    def post(self, request: Request, code: str) -> Response:
        """Report what only the browser sees: ``trial.image_failed`` when the current trial's
        pictures did not load after the page's retries (it keeps the answers disabled)."""
        participant = participant_for_request(code)
        data = s.ParticipantEventIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            logged = trial_image_failed(participant=participant, trial_index=v["trial"])
        except StudyError as error:
            return _error(error, participant=participant)
        return Response(
            {"kind": v["kind"], "trial": v["trial"], "logged": logged},
            status=status.HTTP_201_CREATED,
        )
