"""Files of images and maps go through checked views, also with ``DEBUG`` off (production).

The gallery's ``<img>`` sources and the API's ``url``/``overlay``/``heatmap``/``raw`` fields
must be fetchable by the owner, and by nobody who may not see the row; no ``/media/`` route
serves the storage unchecked.
"""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from explainers.models import Classifier, SaliencyMap

from ..studies.conftest import make_assets, png

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def user(name: str, **extra: object):
    return get_user_model().objects.create_user(name, password="pw-" + name * 3, **extra)


def logged_in(account) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(account)
    return client


def body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content)


@pytest.fixture
def owned():  # type: ignore[no-untyped-def]
    owner = user("alice")
    assets = make_assets(n_images=2, methods=("gradcam",))
    assets.image_set.owner = owner
    assets.image_set.save(update_fields=["owner"])
    return owner, assets


def gallery_sources(client: Client) -> list[str]:
    page = client.get("/gallery/")
    assert page.status_code == 200
    found = re.findall(r'<img src="([^"]+)"[^>]*alt="(?:Photograph|gradcam map)', page.text)
    return [html.unescape(src) for src in found]


@override_settings(DEBUG=False)
def test_gallery_images_are_served_to_the_owner_only(owned):
    owner, assets = owned
    sources = gallery_sources(logged_in(owner))
    assert len(sources) == 2 * 2  # two photographs, one gradcam map each
    first_image = assets.images[0]
    first_map = SaliencyMap.objects.filter(image=first_image).order_by("id").first()
    assert first_map is not None
    assert f"/files/images/{first_image.uid}" in sources
    assert f"/files/maps/{first_map.uid}/overlay?preset=default" in sources

    owner_client = logged_in(owner)
    for src in sources:
        response = owner_client.get(src, HTTP_ACCEPT="image/avif,image/webp,*/*")
        assert response.status_code == 200, src
        assert response["Content-Type"] == "image/png"
        assert "private" in response["Cache-Control"]
        assert "max-age=31536000" in response["Cache-Control"]
        assert response["ETag"].startswith('"')
        data = body(response)
        assert data.startswith(b"\x89PNG")
    photo = owner_client.get(f"/files/images/{first_image.uid}")
    with default_storage.open(first_image.file.name, "rb") as handle:
        assert body(photo) == handle.read()
    assert photo["ETag"] == f'"{first_image.sha256}"'
    again = owner_client.get(f"/files/images/{first_image.uid}", HTTP_IF_NONE_MATCH=photo["ETag"])
    assert again.status_code == 304 and again["Cache-Control"] == photo["Cache-Control"]

    stranger = logged_in(user("bob"))
    assert gallery_sources(stranger) == []
    for src in sources:
        assert stranger.get(src).status_code == 404, src
        assert Client().get(src).status_code in (401, 403), src
    # no unchecked media route, whatever DEBUG says
    assert owner_client.get(f"/media/{first_image.file.name}").status_code == 404


@override_settings(DEBUG=False)
def test_api_urls_are_fetchable_by_the_owner_with_a_token_only(owned):
    owner, assets = owned
    token = Token.objects.create(user=owner).key
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    images = api.get(f"/api/image-sets/{assets.image_set.pk}/images/").json()["results"]
    maps = api.get("/api/saliency-maps/").json()["results"]
    assert len(images) == 2 and len(maps) == len(assets.maps)
    urls = [images[0]["url"], maps[0]["overlay"], maps[0]["heatmap"], maps[0]["raw"]]
    assert all(url.startswith("http://testserver/files/") for url in urls), urls

    image = api.get(urls[0], HTTP_ACCEPT="image/png")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    raw = api.get(urls[3])
    stored = SaliencyMap.objects.get(pk=maps[0]["id"])
    with default_storage.open(stored.raw.name) as handle:  # the stored bytes, as stored
        assert raw.status_code == 200 and body(raw) == handle.read()
    render = stored.renders.get()  # the default presentation's render, served from storage
    assert urls[1].endswith("/overlay?preset=default")
    assert body(api.get(urls[1])) == default_storage.open(render.image.name).read()
    assert body(api.get(urls[2])) == default_storage.open(render.heatmap.name).read()

    other = get_user_model().objects.create_user("bob")
    stranger = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    for url in urls:
        assert stranger.get(url).status_code == 404, url
        refused = Client().get(url)
        assert refused.status_code in (401, 403), url
        assert refused.json()["error"]["message"]
    assert api.get(urls[1].replace("/overlay", "/thumbnail")).status_code == 404


@override_settings(DEBUG=False)
def test_a_map_of_someone_elses_private_classifier_stays_private(owned):
    owner, assets = owned
    bob = user("bob")
    assets.image_set.shared_with.add(bob)  # bob may use alice's images with his own model
    private = Classifier.objects.create(
        name="bob-private", owner=bob, source="zoo", zoo_name="x", class_names=["a", "b"]
    )
    image = assets.images[0]
    secret = SaliencyMap.objects.create(
        image=image,
        classifier=private,
        method="gradcam",
        target_class=1,
        parameters={},
        parameters_hash="1" * 64,
        raw=default_storage.save("maps/raw/secret.npy", ContentFile(b"r")),
        overlay=default_storage.save("maps/overlay/secret.png", ContentFile(png((1, 2, 3)))),
        height=8,
        width=8,
        device="cpu",
        seconds=0.1,
    )
    alice = logged_in(owner)
    listed = {m["id"] for m in alice.get("/api/saliency-maps/").json()["results"]}
    assert secret.pk not in listed and len(listed) == len(assets.maps)
    assert alice.get(f"/api/saliency-maps/{secret.pk}/").status_code == 404
    assert alice.get(f"/api/saliency-maps/?classifier={private.pk}").json()["count"] == 0
    assert alice.get(f"/files/maps/{secret.uid}/overlay").status_code == 404
    # bob sees his own map, and its file
    bob_client = logged_in(bob)
    assert secret.pk in {m["id"] for m in bob_client.get("/api/saliency-maps/").json()["results"]}
    assert bob_client.get(f"/files/maps/{secret.uid}/overlay").status_code == 200
    assert bob_client.get(f"/files/maps/{secret.uid}/heatmap").status_code == 404  # none stored
