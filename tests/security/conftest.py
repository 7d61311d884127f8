"""Fixtures of the security tests: a launched study with its team, a participant, a job.

The roles of the authorisation matrix, each a logged-in (or not) test client:

- ``anonymous``: no session at all;
- ``participant``: a browser that took part in the study (its code is its only credential);
- ``owner``: the researcher who created the study and its image set;
- ``viewer`` / ``editor``: collaborators on the study with the view or the edit role;
- ``other``: a researcher with no relation to the study;
- ``admin``: a superuser (staff).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from explainers.models import Classifier, PrecomputeJob
from studies.models import Collaborator, Participant, Study

from ..studies.conftest import Assets, create_study, make_assets, media_root  # noqa: F401
from ..studies.helpers import arrive, walk_to_trials

ROLES = ("anonymous", "participant", "owner", "viewer", "editor", "other", "admin")


def fresh_client(**kwargs: object) -> Client:
    """A client with its own address: rate-limit counters live in a shared cache (Redis in CI)."""
    return Client(REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().hex[:8]}", **kwargs)


@dataclass
class World:
    study: Study
    assets: Assets
    participant: Participant
    private_classifier: Classifier
    job: PrecomputeJob
    users: dict[str, object]
    clients: dict[str, Client] = field(default_factory=dict)


def build_world(*, enforce_csrf_checks: bool = False) -> World:
    users_model = get_user_model()
    users: dict[str, object] = {
        "owner": users_model.objects.create_user("owner", password="owner-pass-123"),
        "viewer": users_model.objects.create_user("viewer"),
        "editor": users_model.objects.create_user("editor"),
        "other": users_model.objects.create_user("other"),
        "admin": users_model.objects.create_superuser("admin", "admin@example.org", "x-admin-9"),
    }
    assets = make_assets()
    assets.image_set.owner = users["owner"]
    assets.image_set.save(update_fields=["owner"])
    study = create_study(users["owner"], assets)
    Collaborator.objects.create(study=study, user=users["viewer"], role=Collaborator.Role.VIEW)
    Collaborator.objects.create(study=study, user=users["editor"], role=Collaborator.Role.EDIT)
    private = Classifier.objects.create(
        name="private",
        owner=users["owner"],
        source="zoo",
        zoo_name="efficientnet_lite0",
        class_names=["a", "b"],
    )
    job = PrecomputeJob.objects.create(
        owner=users["owner"],
        classifier=assets.classifier,
        image_set=assets.image_set,
        methods=["gradcam"],
        targets=["predicted"],
    )
    clients: dict[str, Client] = {}
    for role in ROLES:
        client = fresh_client(enforce_csrf_checks=enforce_csrf_checks)
        if role in users:
            client.force_login(users[role])  # type: ignore[arg-type]
        clients[role] = client
    participant_client = fresh_client()  # takes part without CSRF: the participant pages are
    url, _ = arrive(participant_client, study)  # exempt (see the participant views)
    participant = walk_to_trials(participant_client, url)
    clients["participant"].cookies = participant_client.cookies
    return World(study, assets, participant, private, job, users, clients)


@pytest.fixture
def world(db, media_root) -> World:  # noqa: F811
    return build_world()
