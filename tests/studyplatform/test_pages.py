"""The pages a newcomer meets first: home, login/logout, dashboard, admin, API docs, health."""

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher(db):
    return get_user_model().objects.create_user("ada", password="correct horse battery")


def test_home_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Researcher login" in response.content


def test_dashboard_needs_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_login_then_dashboard_then_logout(client, researcher):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post(
        "/accounts/login/", {"username": "ada", "password": "correct horse battery"}
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert b"Welcome, ada" in client.get("/dashboard/").content
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_wrong_password_is_refused_with_a_message(client, researcher):
    response = client.post("/accounts/login/", {"username": "ada", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content


def test_login_form_enforces_csrf(researcher):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"username": "ada", "password": "x"})
    assert response.status_code == 403


def test_admin_login_page(client):
    assert client.get("/admin/login/").status_code == 200


def test_openapi_schema_and_docs(client, researcher):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    document = schema.json()
    assert document["openapi"].startswith("3.")
    assert "/api/me/" in document["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI is served from this site (no CDN), so the docs work offline.
    assert b"cdn" not in docs.content.lower()


def test_api_requires_authentication_and_uses_one_error_format(client, researcher):
    response = client.get("/api/me/")
    assert response.status_code in (401, 403)
    assert set(response.json()["error"]) == {"code", "message", "details"}
    client.force_login(researcher)
    assert client.get("/api/me/").json() == {"username": "ada", "is_staff": False}


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["services"]["database"]["ok"] is True
    assert body["services"]["broker"]["ok"] is True


BROKER_DOWN = override_settings(
    CELERY_BROKER_URL="redis://:secret@broker-host.internal:9/0",
    CELERY_TASK_ALWAYS_EAGER=False,
    CELERY_FILESYSTEM_FOLDER=None,
)


def test_healthz_is_503_and_names_the_variable_when_the_broker_is_down(client):
    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    with BROKER_DOWN:
        response = client.get("/healthz")
    assert response.status_code == 503
    broker = response.json()["services"]["broker"]
    assert broker["ok"] is False
    assert "CELERY_BROKER_URL" in broker["detail"] or "REDIS_URL" in broker["detail"]
    assert "secret" not in broker["detail"]


@pytest.mark.parametrize("variable", ["REDIS_URL", "CELERY_BROKER_URL"])
def test_healthz_names_the_variable_the_broker_came_from(client, variable):
    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    with BROKER_DOWN, override_settings(BROKER_URL_VARIABLE=variable):
        detail = client.get("/healthz").json()["services"]["broker"]["detail"]
    assert detail.startswith(f"{variable}: cannot reach the Celery broker"), detail


@pytest.mark.parametrize("who", ["anonymous", "researcher"])
def test_healthz_shows_no_service_details_to_non_staff(client, researcher, monkeypatch, who):
    from studyplatform import health

    if who == "researcher":
        client.force_login(researcher)  # logged in, but not staff
    error = "DATABASE_URL: cannot reach the postgresql database: FATAL: role dbadmin-7f3 unknown"
    monkeypatch.setattr(
        health,
        "check_database",
        lambda alias="default": health.ServiceStatus("database", False, error, 1.5),
    )
    with BROKER_DOWN:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["services"]["broker"]["ok"] is False
    assert body["services"]["database"]["ok"] is False
    text = response.content.decode()
    for leak in ("broker-host.internal", "dbadmin-7f3", "DATABASE_URL", "redis://", "detail"):
        assert leak not in text, leak
    if who == "researcher":  # the same request from a staff user shows the details
        researcher.is_staff = True
        researcher.save()
        with BROKER_DOWN:
            services = client.get("/healthz").json()["services"]
        assert services["database"]["detail"] == error
        assert "broker-host.internal" in services["broker"]["detail"]


def test_login_is_rate_limited_per_client(researcher):
    import uuid

    from django.test import Client

    from studyplatform.ratelimit import LOGIN_FAILURES

    # Fresh addresses: the limit's counters live in the shared cache (Redis in CI).
    guesser = Client(REMOTE_ADDR=f"guesser-{uuid.uuid4()}")
    for _ in range(LOGIN_FAILURES.attempts):
        response = guesser.post("/accounts/login/", {"username": "ada", "password": "no"})
        assert response.status_code == 200
    blocked = guesser.post(
        "/accounts/login/", {"username": "ada", "password": "correct horse battery"}
    )
    assert blocked.status_code == 429
    assert b"Too many failed attempts" in blocked.content
    assert "_auth_user_id" not in guesser.session
    other = Client(REMOTE_ADDR=f"someone-else-{uuid.uuid4()}")
    ok = other.post("/accounts/login/", {"username": "ada", "password": "correct horse battery"})
    assert ok.status_code == 302


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/healthz"])
def test_security_headers(client, path):
    response = client.get(path)
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"].split("script-src")[1]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response["Permissions-Policy"]


def test_admin_login_is_rate_limited_like_the_researchers_login(django_user_model):
    import uuid

    from django.test import Client

    from studyplatform.ratelimit import LOGIN_FAILURES

    django_user_model.objects.create_superuser("root", "root@example.org", "correct horse")
    guesser = Client(REMOTE_ADDR=f"admin-guesser-{uuid.uuid4()}")
    for _ in range(LOGIN_FAILURES.attempts):
        response = guesser.post("/admin/login/", {"username": "root", "password": "no"})
        assert response.status_code == 200
    blocked = guesser.post("/admin/login/", {"username": "root", "password": "correct horse"})
    assert blocked.status_code == 429 and b"Too many failed attempts" in blocked.content
    assert "_auth_user_id" not in guesser.session
    other = Client(REMOTE_ADDR=f"admin-someone-else-{uuid.uuid4()}")
    assert (
        other.post("/admin/login/", {"username": "root", "password": "correct horse"}).status_code
        == 302
    )


def test_a_forged_x_forwarded_for_does_not_reset_the_login_limit(researcher, settings):
    import uuid

    from django.test import Client

    from studyplatform.ratelimit import LOGIN_FAILURES

    settings.TRUSTED_PROXIES = 0  # no proxy: the header is the client's own words
    guesser = Client(REMOTE_ADDR=f"forger-{uuid.uuid4()}")
    for k in range(LOGIN_FAILURES.attempts):
        guesser.post(
            "/accounts/login/",
            {"username": "ada", "password": "no"},
            HTTP_X_FORWARDED_FOR=f"10.0.0.{k}",
        )
    blocked = guesser.post(
        "/accounts/login/",
        {"username": "ada", "password": "correct horse battery"},
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert blocked.status_code == 429


def test_behind_trusted_proxies_the_limit_keys_on_the_address_the_proxy_saw(settings):
    from django.test import RequestFactory

    from studyplatform.ratelimit import client_address

    factory = RequestFactory()
    forged = "1.2.3.4, 203.0.113.7"  # the client wrote 1.2.3.4; our proxy appended 203.0.113.7
    request = factory.get("/", HTTP_X_FORWARDED_FOR=forged, REMOTE_ADDR="10.0.0.2")
    settings.TRUSTED_PROXIES = 0
    assert client_address(request) == "10.0.0.2"
    settings.TRUSTED_PROXIES = 1
    assert client_address(request) == "203.0.113.7"
    settings.TRUSTED_PROXIES = 2  # a CDN, then our proxy
    assert client_address(request) == "1.2.3.4"
    assert client_address(factory.get("/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"
