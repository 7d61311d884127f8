"""The platform's URLs plus the media files, for the browser tests' live server.

``make demo`` runs with ``DEBUG=true``, where ``studyplatform.urls`` serves ``MEDIA_URL`` itself;
the tests run with ``DEBUG`` off (pytest-django), so the gallery's images would be missing.
"""

from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from studyplatform.urls import urlpatterns as platform_urlpatterns


def _media(request, path):  # type: ignore[no-untyped-def]
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    *platform_urlpatterns,
    re_path(r"^media/(?P<path>.*)$", _media),
]
