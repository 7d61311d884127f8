"""CSRF: every state-changing request of a logged-in user needs the token; every form has it.

Participant pages and the participant API are deliberately exempt (studies.views.participant):
they have no login to ride on, the unguessable code in the URL is the credential, and a CSRF
cookie blocked by an in-app browser must not lock a participant out. The exemption is listed
here by URL name, so that it cannot grow silently.
"""

from __future__ import annotations

import re

import pytest

from .conftest import World, build_world
from .test_authorization_matrix import CASES, Case, outcome, request

pytestmark = pytest.mark.django_db

CSRF_EXEMPT = {
    "studies:take",
    "studies:participant-page",
    "studies:api-take",
    "studies:api-participant-page",
    "studies:api-participant-responses",
    "studies:api-participant-events",
}
UNSAFE = [c for c in CASES if c.method in ("POST", "PUT", "PATCH", "DELETE")]
_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)


@pytest.fixture
def strict_world(db, media_root) -> World:
    return build_world(enforce_csrf_checks=True)


@pytest.mark.parametrize("case", UNSAFE, ids=[c.id for c in UNSAFE])
def test_unsafe_requests_need_the_csrf_token(strict_world: World, case: Case):
    if case.name in CSRF_EXEMPT:
        response = request(strict_world, case, "participant")
        assert outcome(response) == case.expected["participant"]
        return
    # Logged-in users; anonymous ones only where a session is made (the login form).
    roles = ["owner", "admin"] + (["anonymous"] if case.name == "login" else [])
    for role in roles:
        response = request(strict_world, case, role)
        assert response.status_code == 403, (role, response.status_code)
        assert "CSRF" in response.content.decode(), role


def test_csrf_exemptions_are_participant_routes_only():
    assert {c.name for c in CASES} >= CSRF_EXEMPT
    for name in CSRF_EXEMPT:
        assert name.startswith("studies:") and ("take" in name or "participant" in name), name


def test_every_form_of_every_page_carries_the_csrf_token(strict_world: World):
    pages = [c for c in CASES if c.method == "GET"]
    checked = 0
    for case in pages:
        for role in ("owner", "admin"):
            if case.expected[role] != "200":
                continue
            response = request(strict_world, case, role)
            if "text/html" not in response.get("Content-Type", ""):
                continue
            for attributes, body in _FORM.findall(response.content.decode()):
                if "post" not in attributes.lower():
                    continue
                checked += 1
                assert 'name="csrfmiddlewaretoken"' in body, (case.id, attributes)
    for url in ("/admin/", "/admin/studies/study/", "/admin/auth/user/add/"):
        response = strict_world.clients["admin"].get(url)
        for attributes, body in _FORM.findall(response.content.decode()):
            if "post" in attributes.lower():
                checked += 1
                assert 'name="csrfmiddlewaretoken"' in body, (url, attributes)
    assert checked >= 10  # the crawl did find the researcher forms
