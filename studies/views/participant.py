"""The participant's pages: study link, the current page (the server decides which), images."""

from __future__ import annotations

import mimetypes
from typing import Any

from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from explainers.services.map_storage import signed_url
from studies import presenters, sealing
from studies.errors import InvalidAnswer, StudyError, WrongPage
from studies.models import Participant, Study
from studies.questions import answers_form
from studies.recruitment import ARRIVAL_PARAMETERS, parse_arrival
from studies.selectors import (
    asset_name,
    current_and_next_trial,
    returning_participant,
)
from studies.services.participants import (
    participant_for_request,
    participant_page_submit,
    participant_start,
    participant_touch,
    questions_for,
    trial_show,
)
from studies.services.responses import (
    FEEDBACK_PAGE,
    feedback_continue,
    response_submit,
)
from studies.views.trial import trial_context

RESERVED_FIELDS = {"csrfmiddlewaretoken", "page", "trial", "idempotency_key", "rt_ms"}


def _session_key(study: Study) -> str:
    return f"studies.participant.{study.pk}"


def _page_url(participant: Participant) -> str:
    return reverse("studies:participant-page", args=[participant.code])


def _unavailable(
    request: HttpRequest, message: str, status: int = 403, study: Study | None = None
) -> HttpResponse:
    context = {"message": message}
    if study is not None:
        context["public_title"] = presenters.public_title(study)
    return render(request, "participant/unavailable.html", context, status=status)


# Participant pages are exempt from CSRF checks: they have no login to abuse (the unguessable
# code in the URL is the credential, as in the JSON API), and a CSRF cookie that a browser
# blocks (in-app browsers, strict privacy settings) must not lock a participant out.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def take(request: HttpRequest, token: str) -> HttpResponse:
    """The study link: a start page (GET) that creates or resumes the session (POST)."""
    study = get_object_or_404(Study, link_token=token)
    params = request.POST if request.method == "POST" else request.GET
    try:
        arrival = parse_arrival(params)
    except StudyError as error:
        return _unavailable(request, error.message, status=400)
    if arrival.mturk_preview:
        return render(
            request,
            "participant/mturk_preview.html",
            {"public_title": presenters.public_title(study)},
        )
    remembered = request.session.get(_session_key(study))
    if remembered and not arrival.recruiter_id:
        participant = Participant.objects.filter(code=remembered, study=study).first()
        if participant is not None:
            return redirect(_page_url(participant))
    returning = returning_participant(study, arrival.recruiter_hash)
    if returning is not None and request.method == "GET":
        return redirect(_page_url(returning))
    if request.method == "GET":
        if not study.accepts_participants:
            return _unavailable(request, "This study is not open at the moment.", study=study)
        hidden = {k: params[k] for k in ARRIVAL_PARAMETERS if params.get(k)}
        return render(
            request,
            "participant/start.html",
            {"public_title": presenters.public_title(study), "params": hidden},
        )
    try:
        participant, _ = participant_start(study=study, arrival=arrival)
    except StudyError as error:
        return _unavailable(request, error.message, status=error.status, study=study)
    request.session[_session_key(study)] = participant.code
    return redirect(_page_url(participant))


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def page(request: HttpRequest, code: str) -> HttpResponseBase:
    """The participant's current page; a POST for another page is sent back to the current one."""
    participant = participant_for_request(code)
    if request.method == "POST":
        return _submit(request, participant)
    participant_touch(participant=participant)
    return _render(request, participant)


def _submit(request: HttpRequest, participant: Participant) -> HttpResponseBase:
    page_name = request.POST.get("page", "")
    if page_name != participant.page:
        return redirect(_page_url(participant))
    try:
        if page_name in ("practice", "trials"):
            value = {k: v for k, v in request.POST.items() if k not in RESERVED_FIELDS}
            result = response_submit(
                participant=participant,
                trial_index=_int(request.POST.get("trial")),
                value=value,
                rt_ms=request.POST.get("rt_ms"),
                idempotency_key=request.POST.get("idempotency_key", ""),
            )
            participant = result.participant
        elif page_name == FEEDBACK_PAGE:
            participant = feedback_continue(participant=participant)
        else:
            data = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
            participant = participant_page_submit(
                participant=participant, page=page_name, data=data
            )
    except WrongPage:
        return redirect(_page_url(participant))
    except InvalidAnswer as error:
        return _render(request, participant, error=error, status=400)
    # Always back to this site: the CSP's form-action would block a redirect to the recruiter
    # straight after a form post; the completion page sends the participant on by itself.
    return redirect(_page_url(participant))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _render(
    request: HttpRequest,
    participant: Participant,
    *,
    error: InvalidAnswer | None = None,
    status: int = 200,
) -> HttpResponse:
    study = participant.study
    context: dict[str, Any] = {
        "code": participant.code,
        "page": participant.page,
        "public_title": presenters.public_title(study),
        "progress": presenters.progress_percent(participant),
        "data": presenters.page_data(participant),
        "error": error.message if error else "",
        "errors": error.errors if error else {},
    }
    if participant.page in ("practice", "trials"):
        trial, following = current_and_next_trial(participant)
        if trial is None:  # cannot happen with a consistent plan; do not loop
            return _unavailable(request, "This session has no trial to show.", status=500)
        trial_show(participant=participant, trial=trial)
        context.update(trial_context(participant, trial, following))
        return render(request, "participant/trial.html", context, status=status)
    if participant.page in ("demographics", "questionnaire", "comprehension"):
        questions = questions_for(study, participant.page)
        context["form"] = answers_form(questions, request.POST if error else None)
    template = {
        "expired": "participant/expired.html",
        "screened_out": "participant/screened_out.html",
    }.get(participant.page, f"participant/{participant.page}.html")
    return render(request, template, context, status=status)


# A sealed picture's URL never serves anything else: the browser keeps it for good.
SEALED_CACHE_CONTROL = "private, max-age=31536000, immutable"
# Only stimuli are ever sealed; a seal naming anything else (models, raw maps) is refused.
# ``s/``: the keyed names of files shown to participants; the others: names of older rows.
SEALED_FOLDERS = ("s/", "images/", "maps/render/", "maps/overlay/", "maps/heatmap/")
IMAGE_CACHE_CONTROL = "private, max-age=86400, immutable"


@require_GET
def image(request: HttpRequest, code: str, token: str) -> HttpResponseBase:
    """A stimulus image, only for the participant whose trial shows it: by its sealed name
    (:mod:`studies.sealing`, no query) or by an opaque token of one of their trials (one).

    With object storage the answer is a redirect to a short-lived signed URL of the bucket (the
    image's key, ``s/<keyed hex>``, says nothing of the trial): the web process checks, the
    bucket serves.
    """
    if sealing.looks_sealed(token):
        name = sealing.unseal(presenters.sealing_key(), code, token)
        if name is not None and not name.startswith(SEALED_FOLDERS):
            name = None
        cache_control = SEALED_CACHE_CONTROL
    else:
        name = asset_name(code, token)
        cache_control = IMAGE_CACHE_CONTROL
    if name is None:
        raise Http404("no such image")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    extension = mimetypes.guess_extension(content_type) or ""
    signed = signed_url(name, filename=token + extension, cache_control=cache_control)
    if signed is not None:
        redirect_to = HttpResponseRedirect(signed)
        redirect_to["Cache-Control"] = "private, no-store"  # the URL expires; this view won't
        redirect_to["Referrer-Policy"] = "no-referrer"
        return redirect_to
    if not default_storage.exists(name):
        raise Http404("no such image")
    response = FileResponse(  # named after the token: the stored name stays on the server
        default_storage.open(name, "rb"), content_type=content_type, filename=token + extension
    )
    response["Cache-Control"] = cache_control
    return response
