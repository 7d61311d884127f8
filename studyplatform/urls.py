"""URL map: pages, authentication, admin, API with its schema and docs, health.

No media URL, in development as in production: stored files go out only through views that check
who asks (``explainers`` ``image-file`` and ``map-file``, ``studies:participant-image``, the
analysis results).
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from studyplatform import api, views
from studyplatform.auth_views import RateLimitedLoginView

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/me/", api.MeView.as_view(), name="api-me"),
    path("", include("explainers.urls")),
    path("", include("studies.urls")),
]
