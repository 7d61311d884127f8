"""Walking the participant flow in tests."""

from __future__ import annotations

import uuid
from typing import Any

from django.test import Client

from studies.models import Participant, Trial


def arrive(client: Client, study, **params: str) -> tuple[str, Any]:
    """Open the study link and press Start; the participant's page URL and the response."""
    link = f"/take/{study.link_token}/"
    response = client.post(link, params)
    return response.get("Location", ""), response


def code_of(url: str) -> str:
    return url.strip("/").split("/")[-1]


def answer_for(trial: Trial) -> dict[str, Any]:
    if "expected" in trial.hidden:
        return dict(trial.hidden["expected"])
    shown = trial.shown
    if "items" in shown:
        return {item["name"]: item["options"][-1]["value"] for item in shown["items"]}
    value: dict[str, Any] = {"choice": shown["options"][0]["value"]}
    if shown.get("validation"):
        value["validation"] = "yes"
    return value


def submit(
    client: Client,
    participant: Participant,
    value: Any = None,
    *,
    key: str | None = None,
    index: int | None = None,
    rt_ms: Any = 1234.5,
):
    participant.refresh_from_db()
    index = participant.n_answered if index is None else index
    trial = Trial.objects.get(participant=participant, index=min(index, participant.n_trials - 1))
    body = {
        "trial": index,
        "value": answer_for(trial) if value is None else value,
        "rt_ms": rt_ms,
        "idempotency_key": key or uuid.uuid4().hex,
    }
    return client.post(
        f"/api/participants/{participant.code}/responses/", body, content_type="application/json"
    )


def walk_to_trials(client: Client, url: str) -> Participant:
    """Consent and instructions (and empty optional pages) through the HTML forms."""
    participant = Participant.objects.get(code=code_of(url))
    for _ in range(6):
        participant.refresh_from_db()
        if participant.page in ("trials", "practice"):
            return participant
        data = {"page": participant.page}
        if participant.page == "consent":
            data["agree"] = "yes"
        assert client.post(url, data).status_code == 302
    raise AssertionError(f"stuck on {participant.page}")


def finish(client: Client, url: str) -> Participant:
    """Answer every remaining trial and page."""
    participant = walk_to_trials(client, url)
    for _ in range(500):
        participant.refresh_from_db()
        if participant.page in ("practice", "trials"):
            assert submit(client, participant).status_code == 201
        elif participant.page in ("complete", "screened_out"):
            return participant
        else:
            client.post(url, {"page": participant.page})
    raise AssertionError("did not finish")
