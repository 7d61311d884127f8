"""The explainers API: uploads with per-file reports, and researchers see only what is theirs."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from explainers.models import Image, ImageSet

from .conftest import png_bytes, stored_files

pytestmark = pytest.mark.django_db


def user(name: str):
    return get_user_model().objects.create_user(name, password="pw-" + name * 3)


def api_for(account) -> APIClient:
    client = APIClient()
    client.force_authenticate(account)
    return client


def zip_upload(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "images.zip"
    return buffer


def test_zip_upload_reports_each_file(media_root):
    alice = user("alice")
    response = api_for(alice).post(
        "/api/image-sets/upload/",
        {
            "name": "mine",
            "archive": zip_upload(
                {
                    "a/x.png": png_bytes(colour=(1, 2, 3)),
                    "b/y.png": png_bytes(colour=(3, 2, 1)),
                    "fake.png": b"not an image",
                    "../escape.png": png_bytes(colour=(9, 9, 9)),
                }
            ),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert sorted(body["added"]) == ["a/x.png", "b/y.png"]
    assert {r["file"] for r in body["rejected"]} == {"fake.png", "../escape.png"}
    assert body["image_set"]["n_images"] == 2
    assert ImageSet.objects.get(name="mine").owner == alice


def test_upload_of_a_non_zip_is_a_clear_400_and_stores_nothing(media_root):
    bad = io.BytesIO(b"definitely not a zip")
    bad.name = "x.zip"
    response = api_for(user("bob")).post(
        "/api/image-sets/upload/", {"name": "broken", "archive": bad}, format="multipart"
    )
    assert response.status_code == 400
    assert "not a readable zip" in response.json()["error"]["message"]
    assert not ImageSet.objects.exists() and stored_files(media_root) == []


def test_missing_fields_are_named(media_root):
    response = api_for(user("carol")).post("/api/image-sets/upload/", {}, format="multipart")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) >= {"name", "archive"}


def test_researchers_see_only_their_own_and_shared_image_sets(media_root):
    alice, bob = user("alice"), user("bob")
    mine = ImageSet.objects.create(owner=alice, name="alice-set")
    ImageSet.objects.create(owner=bob, name="bob-set")
    shared = ImageSet.objects.create(owner=bob, name="bob-shared")
    shared.shared_with.add(alice)
    Image.objects.create(
        image_set=mine,
        file="images/x.png",
        original_name="x.png",
        sha256="0" * 64,
        width=20,
        height=20,
    )
    names = {s["name"] for s in api_for(alice).get("/api/image-sets/").json()["results"]}
    assert names == {"alice-set", "bob-shared"}
    other = ImageSet.objects.get(name="bob-set")
    assert api_for(alice).get(f"/api/image-sets/{other.pk}/").status_code == 404
    assert api_for(bob).get(f"/api/image-sets/{mine.pk}/images/").status_code == 404
    assert api_for(alice).get(f"/api/image-sets/{mine.pk}/images/").json()["count"] == 1


def test_anonymous_requests_are_refused():
    assert APIClient().get("/api/image-sets/").status_code in (401, 403)
    assert APIClient().get("/api/jobs/").status_code in (401, 403)
