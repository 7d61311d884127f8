"""Property-based fuzzing of the whole JSON API from its OpenAPI schema (schemathesis).

Every operation of ``/api/schema/`` is called with generated (mostly invalid) parameters and
bodies, as a logged-in researcher who owns the objects the path parameters name (a real study,
participant, classifier, image set, map and job, so that requests get past the 404s into the
validation code). The properties: no answer is a server error, and every 4xx of the API comes
in the one error format with a message. The number of examples is bounded and derandomised, so
that the test is deterministic and takes a fixed time.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.core import NotSet
from schemathesis.transport.requests import REQUESTS_TRANSPORT

from .conftest import World, build_world

EXAMPLES_PER_OPERATION = int(os.environ.get("API_FUZZ_EXAMPLES", "12"))  # more: a deeper run
NOT_FUZZED = ("/api/schema/", "/api/docs/")


def api_operations():  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_dict(Client().get("/api/schema/?format=json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if not op.path.startswith(NOT_FUZZED)]


@pytest.fixture
def fuzz_world(db, media_root) -> tuple[World, str]:
    world = build_world()
    token, _ = Token.objects.get_or_create(user=world.users["owner"])
    return world, token.key


def send(case, token: str):  # type: ignore[no-untyped-def]
    """The generated request, sent through Django's test client (same connection, same
    transaction as the test; a WSGI transport would open its own)."""
    kwargs = REQUESTS_TRANSPORT.serialize_case(
        case, base_url="http://testserver", headers={"Authorization": f"Token {token}"}
    )
    fields = ("method", "url", "headers", "params", "cookies", "json", "data", "files")
    prepared = requests.Request(**{k: kwargs[k] for k in fields if k in kwargs}).prepare()
    url = urlsplit(prepared.url)
    headers = {
        name: value
        for name, value in prepared.headers.items()
        if name.lower() not in ("content-type", "content-length", "host")
    }
    body = prepared.body or b""
    return Client().generic(
        str(prepared.method),
        url.path + (f"?{url.query}" if url.query else ""),
        data=body.encode() if isinstance(body, str) else body,
        content_type=prepared.headers.get("Content-Type", ""),
        headers=headers,
    )


def _real_ids(world: World, path: str) -> dict[str, object]:
    ids: dict[str, object] = {
        "uid": str(world.study.uid),
        "code": world.participant.code,
        "token": world.study.link_token,
        "page": "consent",
    }
    if path.startswith("/api/classifiers/"):
        ids["id"] = ids["pk"] = world.private_classifier.pk
    elif path.startswith("/api/image-sets/"):
        ids["id"] = ids["pk"] = world.assets.image_set.pk
    elif path.startswith("/api/saliency-maps/"):
        ids["id"] = ids["pk"] = world.assets.maps[0].pk
    elif path.startswith("/api/jobs/"):
        ids["id"] = ids["pk"] = world.job.pk
    return ids


def _problem(case, world: World, token: str) -> str | None:  # type: ignore[no-untyped-def]
    if case.path_parameters:
        ids = _real_ids(world, case.path)
        case.path_parameters = {
            name: ids.get(name, value) for name, value in case.path_parameters.items()
        }
    response = send(case, token)
    body = case.body if not isinstance(case.body, NotSet) else ""
    where = f"{case.method} {case.formatted_path} {body!r:.300} -> {response.status_code}"
    text = response.content[:300].decode("utf-8", "replace")
    if response.status_code >= 500:
        return f"{where}: {text}"
    if 400 <= response.status_code < 500 and "json" in response.get("Content-Type", ""):
        data = response.json()
        if not (isinstance(data, dict) and data.get("error", {}).get("message")):
            return f"{where}: not the error format: {text}"
    return None


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_garbage_with_a_clear_4xx_never_a_500(fuzz_world, mode):  # type: ignore[no-untyped-def]
    world, token = fuzz_world
    problems: list[str] = []
    operations = api_operations()
    assert len(operations) >= 20  # the schema was read

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            problem = _problem(case, world, token)
            if problem:
                problems.append(problem)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
            assert mode == GenerationMode.NEGATIVE, operation.path
    assert not problems, "\n".join(dict.fromkeys(problems))
