"""Who may do what: every URL pattern × every role, with the expected status.

The matrix is checked against the URL resolver: a new endpoint without an entry here fails
``test_every_url_pattern_is_in_the_matrix``, so nobody adds a page or an API route without
saying who may use it. Each request of a role runs inside a savepoint that is rolled back, so
every role meets the same world; a denied request (4xx, a redirect to the login page, or a
redirect marked ``!``) must also leave the database as it was.

Expected values: an HTTP status (``"200"``), ``"login"`` (302 to a login page), or ``"!302"``
(a redirect back with an error message, nothing changed).

Participant URLs carry the participant's code, the credential: the participant role uses its own
code, every other role a well-formed forged one, which must be as unknown as a missing page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from explainers.models import SaliencyMap
from studies.models import Collaborator, Event, Participant, Response, Study

from .conftest import ROLES, World

pytestmark = pytest.mark.django_db

Path = Callable[[World, str], str]
Data = Callable[[World], Any]


def E(*codes: str) -> dict[str, str]:
    """Expected outcome per role, in the order of ``ROLES``."""
    assert len(codes) == len(ROLES)
    return dict(zip(ROLES, codes, strict=True))


ALL = {code: E(*[code] * len(ROLES)) for code in ("200", "201", "302", "405")}
#                  anonymous participant owner  viewer  editor  other  admin
RESEARCHER_PAGE = E("login", "login", "200", "200", "200", "200", "200")
SAMPLE_400 = E("login", "login", "400", "400", "400", "400", "400")
RESEARCHER_API = E("403", "403", "200", "200", "200", "200", "200")
STUDY_READ = E("403", "403", "200", "200", "200", "404", "200")
STUDY_READ_EMPTY = E("403", "403", "204", "204", "204", "404", "204")  # no responses yet
STUDY_PAGE = E("login", "login", "200", "200", "200", "404", "200")
STUDY_EDIT_PAGE = E("login", "login", "200", "404", "200", "404", "200")
STUDY_EDIT_FORM = E("login", "login", "302", "404", "302", "404", "302")
OWN_ROW_API = E("403", "403", "200", "404", "404", "404", "200")
OWN_ROW_PAGE = E("login", "login", "200", "404", "404", "404", "200")
PARTICIPANT = E("404", "200", "404", "404", "404", "404", "404")


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: Path
    expected: dict[str, str]
    data: Data = lambda w: None
    json: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.method}"


def const(path: str) -> Path:
    return lambda w, role: path


def study(suffix: str = "", api: bool = False) -> Path:
    prefix = "/api/studies/" if api else "/studies/"
    return lambda w, role: f"{prefix}{w.study.uid}/{suffix}"


def code(w: World, role: str) -> str:
    return w.participant.code if role == "participant" else secrets.token_urlsafe(16)


def participant(suffix: str, api: bool = False) -> Path:
    prefix = "/api/participants/" if api else "/s/"
    return lambda w, role: f"{prefix}{code(w, role)}/{suffix}"


def image(w: World, role: str) -> str:
    token = next(iter(w.participant.trials.get(index=0).assets))
    return f"/s/{code(w, role)}/img/{token}"


def trial_answer(w: World) -> dict[str, Any]:
    trial = w.participant.trials.get(index=0)
    value = {item["name"]: 3 for item in trial.shown["items"]}
    return {"trial": 0, "value": value, "rt_ms": 900, "idempotency_key": secrets.token_hex(8)}


def a_map(w: World, role: str) -> str:
    return f"/api/saliency-maps/{w.assets.maps[0].pk}/"


def analysis_file(w: World, role: str) -> str:
    """A file of a finished analysis run of the study (made here: the world has no responses)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from studies.models import AnalysisRun

    run = AnalysisRun.objects.create(
        study=w.study, data_stamp=secrets.token_hex(32), state="done", results=[]
    )
    run.folder = f"analysis/{w.study.uid}/{run.uid}"
    run.save()
    default_storage.save(f"{run.folder}/results.csv", ContentFile(b"analysis,term\n"))
    return f"/studies/{w.study.uid}/results/{run.uid}/results.csv"


def withdraw_body(w: World) -> dict[str, Any]:
    return {"number": w.participant.number, "reason": "asked by e-mail"}


CASES: list[Case] = [
    # site
    Case("home", "GET", const("/"), ALL["200"]),
    Case("dashboard", "GET", const("/dashboard/"), RESEARCHER_PAGE),
    Case("healthz", "GET", const("/healthz"), ALL["200"]),
    Case("login", "GET", const("/accounts/login/"), ALL["200"]),
    Case(
        "login",
        "POST",
        const("/accounts/login/"),
        ALL["200"],  # a wrong password redisplays the form
        data=lambda w: {"username": "owner", "password": "wrong"},
    ),
    Case("logout", "GET", const("/accounts/logout/"), ALL["405"]),
    Case("logout", "POST", const("/accounts/logout/"), ALL["302"]),
    Case("api-schema", "GET", const("/api/schema/"), ALL["200"]),
    Case("api-docs", "GET", const("/api/docs/"), ALL["200"]),
    Case("api-me", "GET", const("/api/me/"), RESEARCHER_API),
    Case("api-root", "GET", const("/api/"), RESEARCHER_API),
    # explainers API
    Case("classifier-list", "GET", const("/api/classifiers/"), RESEARCHER_API),
    Case(
        "classifier-upload",
        "POST",
        const("/api/classifiers/upload/"),
        E("403", "403", "400", "400", "400", "400", "400"),
    ),
    Case(
        "classifier-detail",
        "GET",
        lambda w, role: f"/api/classifiers/{w.private_classifier.pk}/",
        OWN_ROW_API,
    ),
    Case("image-set-list", "GET", const("/api/image-sets/"), RESEARCHER_API),
    Case(
        "image-set-upload",
        "POST",
        const("/api/image-sets/upload/"),
        E("403", "403", "400", "400", "400", "400", "400"),
    ),
    Case(
        "image-set-detail",
        "GET",
        lambda w, role: f"/api/image-sets/{w.assets.image_set.pk}/",
        OWN_ROW_API,
    ),
    Case(
        "image-set-images",
        "GET",
        lambda w, role: f"/api/image-sets/{w.assets.image_set.pk}/images/",
        OWN_ROW_API,
    ),
    Case("saliency-map-list", "GET", const("/api/saliency-maps/"), RESEARCHER_API),
    Case("saliency-map-detail", "GET", a_map, OWN_ROW_API),
    Case("job-list", "GET", const("/api/jobs/"), RESEARCHER_API),
    Case(
        "job-list",
        "POST",
        const("/api/jobs/"),
        E("403", "403", "400", "400", "400", "400", "400"),
        data=lambda w: {},
        json=True,
    ),
    Case("job-detail", "GET", lambda w, role: f"/api/jobs/{w.job.pk}/", OWN_ROW_API),
    Case("job-cancel", "POST", lambda w, role: f"/api/jobs/{w.job.pk}/cancel/", OWN_ROW_API),
    # explainers pages
    Case("precompute-jobs", "GET", const("/jobs/"), RESEARCHER_PAGE),
    Case("gallery", "GET", const("/gallery/"), RESEARCHER_PAGE),
    Case("colormap-legend", "GET", const("/gallery/legend.png"), ALL["200"]),
    # the designer's preview sample: without a classifier and an image set, a 400 naming them
    Case(
        "presentation-sample",
        "GET",
        const("/gallery/sample.json"),
        E("login", "login", *["400"] * 5),
    ),
    # files of images and maps: the viewer must see the image set (and the map's classifier)
    Case(
        "image-file",
        "GET",
        lambda w, role: f"/files/images/{w.assets.images[0].uid}",
        OWN_ROW_API,
    ),
    Case(
        "map-file",
        "GET",
        lambda w, role: f"/files/maps/{w.assets.maps[0].uid}/overlay",
        OWN_ROW_API,
    ),
    Case("precompute-job", "GET", lambda w, role: f"/jobs/{w.job.uid}/", OWN_ROW_PAGE),
    Case(
        "precompute-job-cancel",
        "POST",
        lambda w, role: f"/jobs/{w.job.uid}/cancel/",
        E("login", "login", "302", "404", "404", "404", "302"),
    ),
    # participants (the study link's token is public; the participant's code is not)
    Case(
        "studies:take",
        "GET",
        lambda w, role: f"/take/{w.study.link_token}/",
        E("200", "302", "200", "200", "200", "200", "200"),  # the participant is sent back
    ),
    Case("studies:take", "POST", lambda w, role: f"/take/{w.study.link_token}/", ALL["302"]),
    Case("studies:participant-page", "GET", participant(""), PARTICIPANT),
    Case(
        "studies:participant-page",
        "POST",
        participant(""),
        E("404", "302", "404", "404", "404", "404", "404"),
        data=lambda w: {"page": "consent", "agree": "yes"},  # not the current page: back to it
    ),
    Case("studies:participant-image", "GET", image, PARTICIPANT),
    Case(
        "studies:api-take",
        "POST",
        lambda w, role: f"/api/take/{w.study.link_token}/",
        ALL["201"],
        data=lambda w: {},
        json=True,
    ),
    Case("studies:api-participant", "GET", participant("", api=True), PARTICIPANT),
    Case(
        "studies:api-participant-page",
        "POST",
        participant("pages/consent/", api=True),
        E("404", "409", "404", "404", "404", "404", "404"),  # consent is behind them
        data=lambda w: {"answers": {"agree": True}},
        json=True,
    ),
    Case(
        "studies:api-participant-responses",
        "POST",
        participant("responses/", api=True),
        E("404", "201", "404", "404", "404", "404", "404"),
        data=trial_answer,
        json=True,
    ),
    Case(
        "studies:api-participant-events",
        "POST",
        participant("events/", api=True),
        E("404", "201", "404", "404", "404", "404", "404"),
        data=lambda w: {"kind": "trial.image_failed", "trial": 0},
        json=True,
    ),
    # studies API
    Case("studies:api-protocols", "GET", const("/api/protocols/"), RESEARCHER_API),
    Case("studies:study-list", "GET", const("/api/studies/"), RESEARCHER_API),
    Case(
        "studies:study-list",
        "POST",
        const("/api/studies/"),
        E("403", "403", "400", "400", "400", "400", "400"),
        data=lambda w: {},
        json=True,
    ),
    Case("studies:study-detail", "GET", study(api=True), STUDY_READ),
    Case(
        "studies:study-copy",
        "POST",
        study("copy/", api=True),
        E("403", "403", "201", "403", "201", "404", "201"),
    ),
    Case("studies:study-export", "GET", study("export/", api=True), STUDY_READ),
    Case(
        "studies:study-export",
        "GET",
        lambda w, role: f"/api/studies/{w.study.uid}/export/?table=participants&recruiter_ids=1",
        E("403", "403", "200", "403", "200", "404", "200"),
    ),
    Case("studies:study-analysis", "GET", study("analysis/", api=True), STUDY_READ_EMPTY),
    Case("studies:study-analysis", "POST", study("analysis/", api=True), STUDY_READ_EMPTY),
    Case("studies:study-monitor", "GET", study("monitor/", api=True), STUDY_READ),
    Case(
        "studies:study-precompute",
        "POST",
        study("precompute/", api=True),
        E("403", "403", "400", "403", "400", "404", "400"),  # nothing is missing
    ),
    Case("studies:study-spec", "GET", study("spec/", api=True), STUDY_READ),
    Case(
        "studies:study-spec",
        "PUT",
        study("spec/", api=True),
        # launched: the design is locked; the editor cannot even name the owner's private
        # image set in a design (400), which is checked before the lock
        E("403", "403", "409", "403", "400", "404", "409"),
        data=lambda w: __import__("studies.spec", fromlist=["x"]).study_spec(w.study),
        json=True,
    ),
    Case(
        "studies:study-state",
        "POST",
        study("state/", api=True),
        E("403", "403", "200", "403", "200", "404", "200"),
        data=lambda w: {"action": "pause"},
        json=True,
    ),
    Case("studies:study-stimuli", "GET", study("stimuli/", api=True), STUDY_READ),
    Case(
        "studies:study-withdraw",
        "POST",
        study("withdraw/", api=True),
        E("403", "403", "200", "403", "200", "404", "200"),
        data=withdraw_body,
        json=True,
    ),
    # researcher pages
    Case("studies:list", "GET", const("/studies/"), RESEARCHER_PAGE),
    Case("studies:new", "GET", const("/studies/new/"), RESEARCHER_PAGE),
    Case(
        "studies:new",
        "POST",
        const("/studies/new/"),
        E("login", "login", "400", "400", "400", "400", "400"),
        data=lambda w: {"protocol": "likert"},
    ),
    Case("studies:import", "GET", const("/studies/import/"), RESEARCHER_PAGE),
    Case(
        "studies:import",
        "POST",
        const("/studies/import/"),
        E("login", "login", "400", "400", "400", "400", "400"),
        data=lambda w: {"text": "{not json"},
    ),
    Case("studies:detail", "GET", study(), STUDY_PAGE),
    Case("studies:edit", "GET", study("edit/"), STUDY_EDIT_PAGE),
    Case(
        "studies:edit",
        "POST",
        study("edit/"),
        STUDY_EDIT_FORM,
        data=lambda w: {"title": "Renamed", "description": ""},
    ),
    Case(
        "studies:action",
        "POST",
        study("state/"),
        STUDY_EDIT_FORM,
        data=lambda w: {"action": "pause"},
    ),
    Case("studies:copy", "POST", study("copy/"), STUDY_EDIT_FORM),
    Case(
        "studies:preview",
        "POST",
        study("preview/"),
        # a preview creates participants and freezes a draft's stimuli: editors only
        STUDY_EDIT_FORM,
    ),
    Case(
        "studies:precompute",
        "POST",
        study("precompute/"),
        E("login", "login", "!302", "404", "!302", "404", "!302"),  # nothing is missing
    ),
    Case("studies:render", "POST", study("render/"), STUDY_EDIT_FORM),
    Case("studies:results", "GET", study("results/"), STUDY_PAGE),
    Case(
        "studies:results",
        "POST",
        study("results/"),
        E("login", "login", "302", "302", "302", "404", "302"),  # viewers may compute again
    ),
    Case("studies:results-file", "GET", analysis_file, STUDY_PAGE),
    Case("studies:power", "GET", const("/studies/power/"), RESEARCHER_PAGE),
    Case("studies:monitor", "GET", study("monitor/"), STUDY_PAGE),
    Case(
        "studies:exclusion",
        "POST",
        lambda w, role: f"/studies/{w.study.uid}/participants/{w.participant.number}/exclusion/",
        STUDY_EDIT_FORM,
        data=lambda w: {"reason": "bot", "exclude": "1"},
    ),
    Case("studies:withdraw", "GET", study("withdraw/"), STUDY_EDIT_PAGE),
    Case(
        "studies:withdraw",
        "POST",
        study("withdraw/"),
        STUDY_EDIT_FORM,
        data=lambda w: {**withdraw_body(w), "confirm": "1"},
    ),
    Case(
        "studies:collaborators",
        "POST",
        study("collaborators/"),
        E("login", "login", "302", "!302", "!302", "404", "302"),  # the owner's (and admin's)
        data=lambda w: {"username": "other", "role": "view"},
    ),
    Case("studies:export", "GET", study("export/responses.csv"), STUDY_PAGE),
    Case(
        "studies:export",
        "GET",
        lambda w, role: f"/studies/{w.study.uid}/export/participants.csv?recruiter_ids=1",
        E("login", "login", "200", "403", "200", "404", "200"),
    ),
]

# Patterns outside the matrix, each with the reason.
NOT_IN_MATRIX: dict[str, str] = {}


def _patterns(resolver: URLResolver, prefix: str = "", ns: str = "") -> Iterator[tuple[str, str]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{ns}{entry.namespace}:" if entry.namespace else ns
            if entry.namespace == "admin":
                yield "admin:*", prefix + str(entry.pattern)
                continue
            yield from _patterns(entry, prefix + str(entry.pattern), namespace)
        elif isinstance(entry, URLPattern):
            yield (
                (f"{ns}{entry.name}" if entry.name else prefix + str(entry.pattern)),
                prefix + str(entry.pattern),
            )


def test_every_url_pattern_is_in_the_matrix():
    names = {name for name, _ in _patterns(get_resolver())}
    covered = {case.name for case in CASES} | set(NOT_IN_MATRIX) | {"admin:*"}
    missing = sorted(names - covered)
    assert not missing, f"URL patterns without an entry in the authorisation matrix: {missing}"
    stale = sorted({case.name for case in CASES} - names)
    assert not stale, f"matrix entries for URL patterns that no longer exist: {stale}"


def _fingerprint(world: World) -> tuple[Any, ...]:
    """What a denied request must not change."""
    study = Study.objects.get(pk=world.study.pk)
    return (
        Study.objects.count(),
        study.state,
        study.title,
        Participant.objects.count(),
        Participant.objects.filter(state=Participant.State.EXCLUDED).count(),
        Response.objects.count(),
        Collaborator.objects.count(),
        Event.objects.count(),
        SaliencyMap.objects.count(),
        type(world.job).objects.get(pk=world.job.pk).state,
    )


def request(world: World, case: Case, role: str):  # type: ignore[no-untyped-def]
    client = world.clients[role]
    path = case.path(world, role)
    data = case.data(world)
    kwargs: dict[str, Any] = {}
    if case.json:
        kwargs["content_type"] = "application/json"
    method = getattr(client, case.method.lower())
    if data is None:
        return method(path, **kwargs)
    return method(path, data, **kwargs)


def outcome(response) -> str:  # type: ignore[no-untyped-def]
    if response.status_code == 302 and "login" in response.get("Location", ""):
        return "login"
    return str(response.status_code)


def denied(expected: str) -> bool:
    return expected == "login" or expected.startswith(("!", "4"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_authorization_matrix(world: World, case: Case):
    observed: dict[str, str] = {}
    for role in ROLES:
        expected = case.expected[role]
        savepoint = transaction.savepoint()
        try:
            before = _fingerprint(world)
            response = request(world, case, role)
            observed[role] = outcome(response)
            if denied(expected):
                assert _fingerprint(world) == before, f"{role}: a denied request changed data"
        finally:
            transaction.savepoint_rollback(savepoint)
    wanted = {role: case.expected[role].lstrip("!") for role in ROLES}
    assert observed == wanted


def _admin_urls() -> list[str]:
    urls = ["/admin/"]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(f"/admin/{meta.app_label}/{meta.model_name}/")
        urls.append(f"/admin/{meta.app_label}/{meta.model_name}/add/")
    return urls


def test_admin_site_is_for_staff_only(world: World):
    assert any(m._meta.app_label == "studies" for m in admin.site._registry)
    for url in _admin_urls():
        observed = {role: outcome(world.clients[role].get(url)) for role in ROLES}
        expected = {role: "login" for role in ROLES} | {"admin": "200"}
        if url.endswith("/add/"):
            model = apps.get_model(*url.strip("/").split("/")[1:3])
            if not admin.site._registry[model].has_add_permission(_admin_request(world)):
                expected["admin"] = "403"
        assert observed == expected, url


def _admin_request(world: World):  # type: ignore[no-untyped-def]
    from django.test import RequestFactory

    req = RequestFactory().get("/admin/")
    req.user = world.users["admin"]
    return req
