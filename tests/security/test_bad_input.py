"""Bad input at the HTTP boundary: each a clear 4xx with a message, and nothing stored.

The services' own validation (image bytes, zip members, labels, model files) is tested in
tests/explainers; here the same kinds of input arrive the way an attacker or a broken client
sends them: oversized, malformed or hostile request bodies, forged or replayed participant
codes and idempotency keys, a pickle disguised as a TorchScript model.
"""

from __future__ import annotations

import io
import json
import pickle
import secrets
from pathlib import Path
from typing import Any

import pytest

from explainers.models import Classifier
from studies.models import Event, Participant, Response

from .conftest import World, fresh_client

pytestmark = pytest.mark.django_db


def _answer(world: World, index: int = 0) -> dict[str, Any]:
    trial = world.participant.trials.get(index=index)
    return {item["name"]: 3 for item in trial.shown["items"]}


def _post(world: World, body: Any, *, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    client = world.clients["participant"]
    url = f"/api/participants/{world.participant.code}/responses/"
    data = raw if raw is not None else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def _stored(world: World) -> tuple[int, int]:
    return Response.objects.count(), Event.objects.filter(kind="response.saved").count()


def _key() -> str:
    return secrets.token_hex(8)


BAD_BODIES = [
    ("not json", None, b"{trial: 0,"),
    ("a list", [1, 2, 3], None),
    ("no value", {"trial": 0, "idempotency_key": "k" * 16}, None),
    ("string trial", {"trial": "first", "value": {}, "idempotency_key": "k" * 16}, None),
    ("negative trial", {"trial": -1, "value": {}, "idempotency_key": "k" * 16}, None),
    ("short key", {"trial": 0, "value": {}, "idempotency_key": "k"}, None),
    ("key with slashes", {"trial": 0, "value": {}, "idempotency_key": "../../" * 3}, None),
    ("nan rt", None, b'{"trial": 0, "value": {}, "rt_ms": NaN, "idempotency_key": "kkkkkkkk"}'),
    ("huge rt", {"trial": 0, "value": {}, "rt_ms": 1e300, "idempotency_key": "k" * 16}, None),
    ("value a string", {"trial": 0, "value": "x" * 5000, "idempotency_key": "k" * 16}, None),
    ("value a list", {"trial": 0, "value": [1] * 1000, "idempotency_key": "k" * 16}, None),
    (
        "deep nesting",
        None,
        b'{"trial": 0, "idempotency_key": "kkkkkkkk", "value": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
    ),
    ("future trial", {"trial": 5, "value": {}, "idempotency_key": "k" * 16}, None),
]


@pytest.mark.parametrize(("what", "body", "raw"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_malformed_responses_are_a_clear_4xx_and_store_nothing(world: World, what, body, raw):
    before = _stored(world)
    response = _post(world, body, raw=raw)
    assert 400 <= response.status_code < 500, (what, response.status_code)
    error = response.json()["error"]
    assert error["message"] and error["code"], what
    assert _stored(world) == before


def test_an_oversized_answer_is_refused_and_stores_nothing(world: World):
    value = _answer(world)
    value["note"] = "x" * 200_000  # a field the protocol does not know, very long
    response = _post(world, {"trial": 0, "value": value, "idempotency_key": _key()})
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert _stored(world) == (0, 0)


def test_a_body_over_the_upload_limit_is_a_400_with_a_message(world: World, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    body = {"trial": 0, "value": _answer(world), "idempotency_key": _key(), "pad": "x" * 70_000}
    response = _post(world, body)
    assert response.status_code == 400
    assert "too large" in response.json()["error"]["message"].lower()
    assert _stored(world) == (0, 0)


def test_a_replayed_idempotency_key_stores_once_and_cannot_answer_another_trial(world: World):
    key = _key()
    first = _post(world, {"trial": 0, "value": _answer(world), "idempotency_key": key})
    again = _post(world, {"trial": 0, "value": _answer(world), "idempotency_key": key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    other = _post(world, {"trial": 1, "value": _answer(world, 1), "idempotency_key": key})
    assert other.status_code == 400
    assert "already used for another trial" in other.json()["error"]["message"]
    assert _stored(world) == (1, 1)


def test_a_code_of_another_study_or_a_forged_code_reaches_nothing(world: World):
    response = fresh_client().post(
        f"/api/participants/{secrets.token_urlsafe(16)}/responses/",
        {"trial": 0, "value": _answer(world), "idempotency_key": _key()},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"]
    for code in ("", "a" * 5000, "../../etc/passwd", "' OR 1=1 --"):
        page = fresh_client().get(f"/s/{code}/")
        assert page.status_code == 404, code
    assert _stored(world) == (0, 0)
    assert Participant.objects.count() == 1


class Exploit:
    """Unpickling this would create a file: the proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("source", ["torchscript", "state_dict"])
def test_a_malicious_pickle_uploaded_as_a_model_never_runs(world: World, tmp_path, source):
    import torch

    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"weight": Exploit(marker)}, buffer)
    for payload in (buffer.getvalue(), pickle.dumps(Exploit(marker))):
        upload = io.BytesIO(payload)
        upload.name = "model.pt"
        response = world.clients["owner"].post(
            "/api/classifiers/upload/",
            {
                "name": "evil",
                "source": source,
                "file": upload,
                "architecture": "torch.nn.Linear" if source == "state_dict" else "",
                "class_names": json.dumps(["a", "b"]),
                "input_size": 32,
            },
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]["message"]
        assert not marker.exists()
    assert not Classifier.objects.filter(name="evil").exists()


def test_an_upload_that_is_not_a_zip_or_is_huge_is_refused(world: World, settings):
    fake = io.BytesIO(b"GIF89a" + b"\0" * 1000)
    fake.name = "images.zip"
    response = world.clients["owner"].post(
        "/api/image-sets/upload/", {"name": "fake", "archive": fake}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    many = {f"field{k}": "x" for k in range(50)}
    response = world.clients["owner"].post("/api/image-sets/upload/", many)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_nul_characters_anywhere_are_a_clear_400_and_store_nothing(world: World):
    """PostgreSQL cannot store U+0000: without the guard these were 500s (DataError)."""
    code = world.participant.code
    client = world.clients["participant"]
    before = (_stored(world), Participant.objects.count(), Event.objects.count())
    answers = [
        fresh_client().get(f"/s/{code}%00/"),
        fresh_client().get(f"/api/participants/{code[:-1]}%00/"),
        world.clients["owner"].get("/api/saliency-maps/?method=grad%00cam"),
        fresh_client(HTTP_COOKIE="sessionid=abc\x00def").get("/studies/"),
        client.post(f"/s/{code}/", "page=trials&note=a%00b", "application/x-www-form-urlencoded"),
        _post(world, {"trial": 0, "value": {"q\x00": 1}, "idempotency_key": _key()}),
        _post(
            world, {"trial": 0, "value": _answer(world) | {"x": "a\x00"}, "idempotency_key": _key()}
        ),
        fresh_client().post(
            f"/api/take/{world.study.link_token}/",
            {"PROLIFIC_PID": "abc\x00"},
            content_type="application/json",
        ),
    ]
    for response in answers:
        assert response.status_code == 400, response.content[:300]
        assert b"NUL" in response.content
    assert (_stored(world), Participant.objects.count(), Event.objects.count()) == before


def test_oversized_uploads_are_refused_by_their_size_before_being_read(world: World, monkeypatch):
    from django.core.files.uploadedfile import UploadedFile

    from explainers import serializers as upload_serializers
    from explainers.services import classifiers, image_sources

    reads: list[str] = []
    original_read = UploadedFile.read

    def read(self, *args: Any) -> bytes:  # type: ignore[no-untyped-def]
        reads.append(self.name)
        return original_read(self, *args)

    monkeypatch.setattr(UploadedFile, "read", read, raising=False)
    monkeypatch.setattr(classifiers, "MAX_MODEL_BYTES", 4096)
    monkeypatch.setattr(image_sources, "MAX_ARCHIVE_BYTES", 4096)
    monkeypatch.setattr(upload_serializers, "MAX_LABELS_BYTES", 4096)
    before = (Classifier.objects.count(), type(world.assets.image_set).objects.count())

    def big(name: str) -> io.BytesIO:
        upload = io.BytesIO(b"\0" * 5000)
        upload.name = name
        return upload

    owner = world.clients["owner"]
    model = owner.post(
        "/api/classifiers/upload/",
        {
            "name": "huge",
            "source": "torchscript",
            "file": big("model.pt"),
            "class_names": ["a", "b"],
        },
    )
    archive = owner.post("/api/image-sets/upload/", {"name": "huge", "archive": big("images.zip")})
    labels = owner.post(
        "/api/image-sets/upload/",
        {"name": "huge", "archive": big("x.zip"), "labels": big("labels.csv")},
    )
    for response, field in ((model, "file"), (archive, "archive"), (labels, "labels")):
        assert response.status_code == 400, response.content
        assert "larger than 4096 bytes" in json.dumps(response.json()), response.json()
        assert field in json.dumps(response.json())
    assert reads == []  # refused by size: nothing was read into memory
    assert (Classifier.objects.count(), type(world.assets.image_set).objects.count()) == before
