"""URLs of the studies app: participant pages and API, researcher pages and API."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from studies import api
from studies.views import participant, researcher, results

app_name = "studies"

router = SimpleRouter()
router.register("studies", api.StudyViewSet, basename="study")

urlpatterns = [
    # participants (the code in the URL is the credential)
    path("take/<str:token>/", participant.take, name="take"),
    path("s/<str:code>/", participant.page, name="participant-page"),
    path("s/<str:code>/img/<str:token>", participant.image, name="participant-image"),
    path("api/take/<str:token>/", api.ArrivalView.as_view(), name="api-take"),
    path("api/participants/<str:code>/", api.ParticipantView.as_view(), name="api-participant"),
    path(
        "api/participants/<str:code>/pages/<str:page>/",
        api.PageView.as_view(),
        name="api-participant-page",
    ),
    path(
        "api/participants/<str:code>/responses/",
        api.ResponseView.as_view(),
        name="api-participant-responses",
    ),
    path(
        "api/participants/<str:code>/events/",
        api.ParticipantEventView.as_view(),
        name="api-participant-events",
    ),
    # researchers
    path("api/protocols/", api.ProtocolListView.as_view(), name="api-protocols"),
    path("api/", include(router.urls)),
    path("studies/", researcher.study_list, name="list"),
    path("studies/new/", researcher.study_new, name="new"),
    path("studies/import/", researcher.study_import, name="import"),
    path("studies/<uuid:uid>/", researcher.study_detail, name="detail"),
    path("studies/<uuid:uid>/edit/", researcher.study_edit, name="edit"),
    path("studies/<uuid:uid>/state/", researcher.study_action, name="action"),
    path("studies/<uuid:uid>/copy/", researcher.study_copy, name="copy"),
    path("studies/<uuid:uid>/preview/", researcher.study_preview, name="preview"),
    path("studies/<uuid:uid>/precompute/", researcher.study_precompute, name="precompute"),
    path("studies/<uuid:uid>/render/", researcher.study_render, name="render"),
    path("studies/<uuid:uid>/monitor/", researcher.study_monitor, name="monitor"),
    path(
        "studies/<uuid:uid>/participants/<int:number>/exclusion/",
        researcher.participant_exclusion,
        name="exclusion",
    ),
    path("studies/<uuid:uid>/withdraw/", researcher.participant_withdraw_view, name="withdraw"),
    path("studies/<uuid:uid>/collaborators/", researcher.study_collaborators, name="collaborators"),
    path("studies/<uuid:uid>/export/<str:name>", researcher.study_export, name="export"),
    path("studies/<uuid:uid>/results/", results.study_results, name="results"),
    path(
        "studies/<uuid:uid>/results/<uuid:run>/<str:name>",
        results.study_results_file,
        name="results-file",
    ),
    path("studies/power/", results.power_planner, name="power"),
]
