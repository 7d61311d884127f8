"""Friendly 404 and 500 pages in the site's layout, with nothing of the platform's internals."""

from __future__ import annotations

import sys

import pytest
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

from studyplatform.urls import urlpatterns as platform_urlpatterns

pytestmark = pytest.mark.django_db

SECRET = "db-password-hunter2 at /srv/app/secret.py line 42"


def not_found(request: HttpRequest) -> HttpResponse:
    raise Http404(f"no such analysis ({SECRET})")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(SECRET)


urlpatterns = [
    *platform_urlpatterns,
    path("test-missing/", not_found),
    path("test-boom/", boom),
]


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = sys.modules[__name__]


def assert_site_page(html: str) -> None:
    assert 'class="site-header"' in html and "Saliency study platform" in html  # base.html
    assert 'href="/"' in html  # a way back
    for internal in (SECRET, "Traceback", "RuntimeError", "Http404", "no such analysis"):
        assert internal not in html, internal


def test_unknown_address_gets_the_friendly_404(client, production):
    response = client.get("/no-such-page/at-all/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Page not found</h1>" in html
    assert "<title>Page not found" in html
    assert_site_page(html)


def test_a_404_raised_by_a_view_does_not_show_its_message(client, production):
    response = client.get("/test-missing/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Page not found</h1>" in html
    assert_site_page(html)


def test_an_error_gets_the_friendly_500(client, production):
    client.raise_request_exception = False
    response = client.get("/test-boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "<h1>Something went wrong</h1>" in html
    assert "study link again" in html
    assert_site_page(html)
