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


# --- jobs: who sees and who cancels -----------------------------------------------------------


def a_job(owner=None, **extra):  # type: ignore[no-untyped-def]
    from explainers.models import Classifier, PrecomputeJob

    classifier, _ = Classifier.objects.get_or_create(
        name="zoo-model", owner=None, defaults={"source": "zoo", "class_names": ["a", "b"]}
    )
    image_set = ImageSet.objects.create(owner=owner, name=f"set-{ImageSet.objects.count()}")
    return PrecomputeJob.objects.create(
        owner=owner, classifier=classifier, image_set=image_set, methods=["gradcam"], **extra
    )


def page_client(account):  # type: ignore[no-untyped-def]
    from django.test import Client

    client = Client()
    client.force_login(account)
    return client


def test_an_ownerless_job_is_for_staff_only():
    job = a_job(owner=None)  # a CLI job on an image set imported without --owner
    alice = user("alice")
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")
    assert api_for(alice).get("/api/jobs/").json()["count"] == 0
    assert api_for(alice).get(f"/api/jobs/{job.pk}/").status_code == 404
    assert api_for(alice).post(f"/api/jobs/{job.pk}/cancel/").status_code == 404
    assert page_client(alice).get(f"/jobs/{job.uid}/").status_code == 404
    assert page_client(alice).post(f"/jobs/{job.uid}/cancel/").status_code == 404
    assert str(job.uid) not in page_client(alice).get("/jobs/").text
    assert str(job.uid) not in page_client(alice).get("/dashboard/").text
    assert str(job.uid) in page_client(admin).get("/dashboard/").text
    job.refresh_from_db()
    assert job.state == "pending"
    assert api_for(admin).get("/api/jobs/").json()["count"] == 1
    assert api_for(admin).post(f"/api/jobs/{job.pk}/cancel/").json()["state"] == "cancelled"


def test_a_shared_job_is_seen_but_not_cancelled_by_those_it_is_shared_with():
    alice, bob = user("alice"), user("bob")
    job = a_job(owner=alice)
    job.shared_with.add(bob)
    assert api_for(bob).get(f"/api/jobs/{job.pk}/").status_code == 200
    assert "Cancel job" not in page_client(bob).get(f"/jobs/{job.uid}/").text
    assert "Cancel job" in page_client(alice).get(f"/jobs/{job.uid}/").text
    refused = api_for(bob).post(f"/api/jobs/{job.pk}/cancel/")
    assert refused.status_code == 403
    assert "owner" in refused.json()["error"]["message"]
    page = page_client(bob).post(f"/jobs/{job.uid}/cancel/", follow=True)
    assert page.redirect_chain[-1][0] == f"/jobs/{job.uid}/"
    assert "Only the job&#x27;s owner" in page.text
    job.refresh_from_db()
    assert job.state == "pending" and job.finished_at is None
    assert page_client(alice).post(f"/jobs/{job.uid}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.state == "cancelled"


def test_the_owner_cancels_through_the_api():
    alice = user("alice")
    job = a_job(owner=alice)
    response = api_for(alice).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


# --- filters: ids must be ids -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["image_set", "classifier"])
@pytest.mark.parametrize("value", ["abc", "1.5", "-1", "١"])
def test_a_non_integer_id_filter_is_a_clear_400(name, value):
    response = api_for(user("alice")).get("/api/saliency-maps/", {name: value})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["message"].startswith(f"{name}: must be an id")
    assert name in error["details"]


def test_an_integer_id_filter_still_filters(media_root):
    from ..studies.conftest import make_assets

    alice = user("alice")
    first, second = make_assets(n_images=1, name="one"), make_assets(n_images=2, name="two")
    for assets in (first, second):
        assets.image_set.owner = alice
        assets.image_set.save(update_fields=["owner"])
    client = api_for(alice)
    listed = client.get("/api/saliency-maps/", {"image_set": second.image_set.pk}).json()
    assert {m["id"] for m in listed["results"]} == {m.pk for m in second.maps}
    assert client.get("/api/saliency-maps/", {"image_set": "999999"}).json()["count"] == 0


# --- upload: labels resolved against a classifier's classes -------------------------------------


def zoo_classifier(name: str = "animals", owner=None):  # type: ignore[no-untyped-def]
    from explainers.models import Classifier

    return Classifier.objects.create(
        name=name, owner=owner, source="zoo", class_names=["zebra", "tabby cat", "pelican"]
    )


def upload_with_classes(account, classes_of: str, name: str = "labelled"):  # type: ignore[no-untyped-def]
    archive = zip_upload(
        {"tabby_cat/x.png": png_bytes(colour=(1, 2, 3)), "pelican/y.png": png_bytes()}
    )
    return api_for(account).post(
        "/api/image-sets/upload/",
        {"name": name, "archive": archive, "classes_of": classes_of},
        format="multipart",
    )


@pytest.mark.parametrize("by", ["name", "id"])
def test_upload_resolves_label_names_against_a_classifier(media_root, by):
    classifier = zoo_classifier()
    alice = user("alice")
    response = upload_with_classes(alice, classifier.name if by == "name" else str(classifier.pk))
    assert response.status_code == 201, response.json()
    labels = dict(Image.objects.values_list("original_name", "label_index"))
    assert labels == {"tabby_cat/x.png": 1, "pelican/y.png": 2}


def test_upload_without_classes_of_keeps_label_indices_empty(media_root):
    archive = zip_upload({"pelican/y.png": png_bytes()})
    response = api_for(user("alice")).post(
        "/api/image-sets/upload/", {"name": "plain", "archive": archive}, format="multipart"
    )
    assert response.status_code == 201
    assert list(Image.objects.values_list("label", "label_index")) == [("pelican", None)]


def test_upload_with_a_classifier_one_may_not_see_is_a_400_and_stores_nothing(media_root):
    bob = user("bob")
    private = zoo_classifier("bob-private", owner=bob)
    alice = user("alice")
    for ref in (private.name, str(private.pk), "no-such-model"):
        response = upload_with_classes(alice, ref)
        assert response.status_code == 400, ref
        error = response.json()["error"]
        assert (
            error["message"] == f"classes_of: no classifier you can see has the id or name {ref!r}"
        )
    assert not ImageSet.objects.exists() and stored_files(media_root) == []


def test_upload_with_an_ambiguous_classifier_name_asks_for_its_id(media_root):
    alice = user("alice")
    zoo_classifier("animals")
    zoo_classifier("animals", owner=alice)
    response = upload_with_classes(alice, "animals")
    assert response.status_code == 400
    assert "give its id" in response.json()["error"]["message"]
    assert not ImageSet.objects.exists()
