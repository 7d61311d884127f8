"""The browser tests' live server runs the platform's own URLs, nothing added.

The gallery's photographs and maps come through the platform's file views (``image-file``,
``map-file``), exactly as in production with ``DEBUG`` off: no media route hides a missing one.
"""

from studyplatform.urls import urlpatterns as platform_urlpatterns

urlpatterns = [*platform_urlpatterns]
