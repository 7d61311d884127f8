"""Researcher pages: studies list, design forms, life cycle, preview, monitor, exports, team."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analysis.preregistration import canonical_json
from studies.configschema import ConfigError
from studies.errors import StudyError
from studies.export import StudyExport
from studies.forms import CollaboratorForm, ImportForm, StudyForm, TitleForm, study_initial
from studies.models import Participant, Study
from studies.monitoring import live_monitor, participants_csv
from studies.presentations import study_presentations
from studies.protocols import get_protocol, protocols
from studies.recruitment import Arrival
from studies.selectors import (
    can_edit,
    demo_waiting,
    precompute_job_in_progress,
    study_cost,
    study_for,
)
from studies.services.events import event_log
from studies.services.paper import methods_text
from studies.services.participants import (
    participant_exclude,
    participant_start,
    participants_time_out,
)
from studies.services.preregistration import preregistration_of
from studies.services.studies import (
    TRANSITIONS,
    collaborator_set,
    has_real_responses,
    study_copy_as_version,
    study_create,
    study_precompute_missing,
    study_renders_request,
    study_transition,
    study_update,
)
from studies.services.withdrawal import parse_number, participant_find, participant_withdraw
from studies.spec import spec_parse, study_spec
from studies.stimuli import check_study_stimuli


@login_required
@require_GET
def study_list(request: HttpRequest) -> HttpResponse:
    studies = Study.objects.visible_to(request.user).select_related("owner", "classifier")
    return render(
        request,
        "researcher/study_list.html",
        {"studies": studies[:200], "protocols": protocols().values()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def study_new(request: HttpRequest) -> HttpResponse:
    name = request.GET.get("protocol") or request.POST.get("protocol")
    if not name:
        return render(request, "researcher/study_new.html", {"protocols": protocols().values()})
    try:
        plugin = get_protocol(name)
    except ConfigError:
        raise Http404("no such protocol") from None
    form = StudyForm(request.POST or None, protocol=plugin, user=request.user)
    if request.method == "POST" and form.is_valid() and form.design is not None:
        study = study_create(
            owner=request.user,
            title=form.cleaned_data["title"],
            description=form.cleaned_data["description"],
            design=form.design,
        )
        messages.success(request, "Study created as a draft.")
        return redirect("studies:detail", uid=study.uid)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "researcher/study_form.html", {"form": form, "protocol": plugin}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def study_edit(request: HttpRequest, uid: str) -> HttpResponse:
    study = study_for(request.user, uid, edit=True)
    plugin = get_protocol(study.protocol)
    if study.state != Study.State.DRAFT or has_real_responses(study):
        return _edit_title(request, study)
    initial_design = {
        "configuration": study.configuration,
        "flow": study.flow,
        "stimuli": study.stimuli_selection,
    }
    form = StudyForm(
        request.POST or None,
        protocol=plugin,
        user=request.user,
        initial_design=initial_design,
        initial=study_initial(study),
    )
    if request.method == "POST" and form.is_valid() and form.design is not None:
        try:
            study_update(
                study=study,
                actor=request.user,
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                design=form.design,
            )
        except StudyError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Saved.")
            return redirect("studies:detail", uid=study.uid)
    status = 400 if request.method == "POST" else 200
    cost = study_cost(study)
    return render(
        request,
        "researcher/study_form.html",
        {
            "form": form,
            "protocol": plugin,
            "study": study,
            "costs": [(None, cost.plan)] if cost.plan else [],
            "cost_source": cost.source,
        },
        status=status,
    )


def _edit_title(request: HttpRequest, study: Study) -> HttpResponse:
    """A study out of draft or with responses: only its title and description can change."""
    form = TitleForm(
        request.POST or None, initial={"title": study.title, "description": study.description}
    )
    if request.method == "POST" and form.is_valid():
        study_update(
            study=study,
            actor=request.user,
            title=form.cleaned_data["title"],
            description=form.cleaned_data["description"],
        )
        messages.success(request, "Title and description saved.")
        return redirect("studies:detail", uid=study.uid)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "researcher/study_title.html", {"form": form, "study": study}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def study_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data.get("document")
        raw = upload.read().decode("utf-8", "replace") if upload else form.cleaned_data["text"]
        try:
            document = json.loads(raw)
            title, description, design = spec_parse(document, user=request.user)
            study = study_create(
                owner=request.user, title=title, description=description, design=design
            )
        except json.JSONDecodeError as error:
            errors = {"document": [f"not valid JSON: {error.msg} (line {error.lineno})"]}
        except ConfigError as error:
            errors = error.errors
        else:
            messages.success(request, "Study created from the document.")
            return redirect("studies:detail", uid=study.uid)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "researcher/study_import.html", {"form": form, "errors": errors}, status=status
    )


PROLIFIC_QUERY = (
    "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
)


@login_required
@require_GET
def study_detail(request: HttpRequest, uid: str) -> HttpResponse:
    study = study_for(request.user, uid)
    plugin = get_protocol(study.protocol)
    check = check_study_stimuli(study)
    job = (
        precompute_job_in_progress(
            study=study,
            methods=check.missing_methods or list(study.stimuli_selection["methods"]),
            targets=check.missing_targets,
        )
        if check.missing_maps or check.missing_predictions
        else None
    )
    link = request.build_absolute_uri(reverse("studies:take", args=[study.link_token]))
    actions = [a for a, (sources, _) in TRANSITIONS.items() if study.state in sources]
    cost = study_cost(study)
    return render(
        request,
        "researcher/study_detail.html",
        {
            "study": study,
            "protocol": plugin,
            "check": check,
            "precompute_job": job,
            "presentations": study_presentations(study.stimuli_selection),
            "editable": can_edit(request.user, study),
            "is_owner": study.owner_id == request.user.pk,
            "actions": actions,
            "link": link,
            "prolific_link": link + PROLIFIC_QUERY,
            "conditions": study.conditions.order_by("position"),
            "collaborators": study.collaborators.select_related("user"),
            "locked": has_real_responses(study),
            "collaborator_form": CollaboratorForm(),
            "costs": [(None, cost.plan)] if cost.plan else [],
            "cost_source": cost.source,
            "registration": preregistration_of(study),
            "demo": demo_waiting(request.user, study=study) if study.state == "draft" else None,
        },
    )


@login_required
@require_POST
def study_action(request: HttpRequest, uid: str) -> HttpResponse:
    study = study_for(request.user, uid, edit=True)
    action = request.POST.get("action", "")
    try:
        study_transition(study=study, actor=request.user, action=action)
    except StudyError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Done: {action}.")
    return redirect("studies:detail", uid=study.uid)


@login_required
@require_POST
def study_copy(request: HttpRequest, uid: str) -> HttpResponse:
    study = study_for(request.user, uid, edit=True)
    copy = study_copy_as_version(study=study, actor=request.user)
    messages.success(request, f"Version {copy.version} created as a draft.")
    return redirect("studies:detail", uid=copy.uid)


@login_required
@require_POST
def study_preview(request: HttpRequest, uid: str) -> HttpResponse:
    """Walk the study as a participant would; the session is flagged as a preview."""
    study = study_for(request.user, uid, edit=True)  # a preview creates participants
    chosen = request.POST.get("condition", "")
    condition = (
        study.conditions.filter(pk=int(chosen)).first()
        if chosen.isascii() and chosen.isdigit() and len(chosen) <= 18
        else None
    )
    try:
        participant, _ = participant_start(
            study=study,
            arrival=Arrival("preview"),
            preview=True,
            condition=condition,
            actor=request.user,
        )
    except StudyError as error:
        messages.error(request, error.message)
        return redirect("studies:detail", uid=study.uid)
    return redirect("studies:participant-page", code=participant.code)


@login_required
@require_POST
def study_precompute(request: HttpRequest, uid: str) -> HttpResponse:
    study = study_for(request.user, uid, edit=True)
    try:
        job = study_precompute_missing(study=study, actor=request.user)
    except StudyError as error:
        messages.error(request, error.message)
        return redirect("studies:detail", uid=study.uid)
    messages.success(request, "Precompute job started for the missing maps.")
    return redirect("precompute-job", uid=job.uid)


@login_required
@require_POST
def study_render(request: HttpRequest, uid: str) -> HttpResponse:
    """Queue the missing renders of the study's stimuli (CPU workers)."""
    study = study_for(request.user, uid, edit=True)
    missing = study_renders_request(study=study)
    if missing:
        messages.success(request, f"Rendering {missing} stimulus image(s) on the workers.")
    else:
        messages.info(request, "Every stimulus image that can be rendered now is rendered.")
    return redirect("studies:detail", uid=study.uid)


@login_required
@require_GET
def study_monitor(request: HttpRequest, uid: str) -> HttpResponse:
    """Live progress; ``?format=json`` for the numbers, ``?format=csv`` for the participants."""
    study = study_for(request.user, uid)
    participants_time_out(study=study)
    live = live_monitor(study)
    if request.GET.get("format") == "json":
        return JsonResponse(live.as_json())
    if request.GET.get("format") == "csv":
        response = HttpResponse(participants_csv(live), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="study-{study.uid}-participants-now.csv"'
        )
        return response
    return render(
        request,
        "researcher/study_monitor.html",
        {
            "study": study,
            "monitor": live.base,
            "live": live,
            "rows": zip(live.base.conditions, live.cells, strict=True),
            "states": Participant.State.choices,
            "editable": can_edit(request.user, study),
        },
    )


@login_required
@require_POST
def participant_exclusion(request: HttpRequest, uid: str, number: int) -> HttpResponse:
    study = study_for(request.user, uid, edit=True)
    participant = study.participants.filter(number=number).first()
    if participant is None:
        raise Http404("no such participant")
    try:
        participant_exclude(
            participant=participant,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            excluded=request.POST.get("exclude", "1") == "1",
        )
    except StudyError as error:
        messages.error(request, error.message)
    return redirect("studies:monitor", uid=study.uid)


@login_required
@require_http_methods(["GET", "POST"])
def participant_withdraw_view(request: HttpRequest, uid: str) -> HttpResponse:
    """Delete a participant's data on their request (by number or recruiter id), audited."""
    study = study_for(request.user, uid, edit=True)
    values = {"number": request.POST.get("number", ""), "reason": request.POST.get("reason", "")}
    error = ""
    if request.method == "POST":
        try:
            if request.POST.get("confirm") != "1":
                raise StudyError("tick the box to confirm the deletion")
            participant = participant_find(
                study=study,
                number=parse_number(values["number"]),
                recruiter_id=request.POST.get("recruiter_id", ""),
            )
            done = participant_withdraw(
                participant=participant, actor=request.user, reason=values["reason"]
            )
        except StudyError as failure:
            error = failure.message
        else:
            messages.success(
                request,
                f"Deleted P{done.number:04d}: {done.responses} responses, {done.trials} trials.",
            )
            return redirect("studies:monitor", uid=study.uid)
    return render(
        request,
        "researcher/participant_withdraw.html",
        {"study": study, "values": values, "error": error},
        status=400 if error else 200,
    )


EXPORTS = {
    "responses.csv": "text/csv; charset=utf-8",
    "participants.csv": "text/csv; charset=utf-8",
    "datapackage.json": "application/json",
    "study.json": "application/json",
    "preregistration.md": "text/markdown; charset=utf-8",
    "preregistration.html": "text/html; charset=utf-8",
    "preregistration.json": "application/json",
    "methods.md": "text/markdown; charset=utf-8",
}


def _recruiter_ids_requested(request: HttpRequest, study: Study, name: str) -> bool:
    """Recruiter pseudonyms go into the participant table only when asked for, by an editor."""
    if request.GET.get("recruiter_ids") != "1" or name == "responses.csv":
        return False
    if not can_edit(request.user, study):
        raise PermissionDenied("only the owner or an editor can export recruiter ids")
    if name == "participants.csv":
        event_log(study=study, actor=request.user, kind="export.recruiter_ids")
    return True


@login_required
@require_GET
def study_export(request: HttpRequest, uid: str, name: str) -> HttpResponse:
    study = study_for(request.user, uid)
    if name not in EXPORTS:
        raise Http404("no such export")
    if name == "study.json":
        body = json.dumps(study_spec(study), indent=2, ensure_ascii=False)
    elif name == "preregistration.md":
        body = preregistration_of(study).markdown()
    elif name == "preregistration.html":
        body = preregistration_of(study).html()
    elif name == "methods.md":
        body = methods_text(study)
    elif name == "preregistration.json":  # its canonical JSON: the bytes the SHA-256 is of
        body = canonical_json(preregistration_of(study).document).decode()
    else:
        export = StudyExport(
            study,
            include_pilot=request.GET.get("include_pilot") == "1",
            recruiter_ids=_recruiter_ids_requested(request, study, name),
        )
        body = {
            "responses.csv": export.responses_csv,
            "participants.csv": export.participants_csv,
            "datapackage.json": lambda: json.dumps(export.datapackage(), indent=2),
        }[name]()
    response = HttpResponse(body, content_type=EXPORTS[name])
    # the HTML preregistration opens in the browser (shown); everything else is a download
    disposition = "inline" if name.endswith(".html") else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="study-v{study.version}-{name}"'
    return response


@login_required
@require_POST
def study_collaborators(request: HttpRequest, uid: str) -> HttpResponse:
    study = study_for(request.user, uid)
    form = CollaboratorForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a user name.")
        return redirect("studies:detail", uid=study.uid)
    user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
    if user is None:
        messages.error(request, "No researcher has that user name.")
        return redirect("studies:detail", uid=study.uid)
    try:
        collaborator_set(
            study=study, actor=request.user, user=user, role=form.cleaned_data["role"] or None
        )
    except StudyError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Collaborators updated.")
    return redirect("studies:detail", uid=study.uid)
