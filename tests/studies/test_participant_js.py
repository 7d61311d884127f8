"""participant.js under node with a tiny fake DOM: timing, idempotency keys, retries, keys."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run(scenario: str) -> dict:
    result = subprocess.run(
        [
            str(NODE),
            str(Path(__file__).parent / "js" / "harness.js"),
            str(ROOT / "static" / "js" / "participant.js"),
            scenario,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_retries_reuse_one_idempotency_key_and_time_the_answer():
    out = run("retry")
    assert out["errors"] == ["Please answer every question."]
    bodies = [f["body"] for f in out["fetches"]]
    assert len(bodies) == 3  # offline, 503, then stored; the double click sent nothing
    assert len({b["idempotency_key"] for b in bodies}) == 1
    assert bodies[0]["idempotency_key"].startswith("uuid")
    assert all(b["value"] == {"justification": "4"} and b["trial"] == 3 for b in bodies)
    assert bodies[0]["rt_ms"] == 1500
    assert out["navigations"] == ["/s/CODE/"]
    assert out["storedAfter"] == 0  # the key is forgotten once the answer is stored


def test_a_reload_before_the_answer_arrived_reuses_the_key():
    out = run("reload")
    assert out["fetches"][0]["body"]["idempotency_key"] == out["first"]


def test_arrow_keys_choose_left_or_right_and_conflicts_follow_the_server():
    out = run("arrows")
    assert out["fetches"][0]["body"]["value"] == {"choice": "1"}
    assert out["navigations"] == ["/s/CODE/"]


def test_a_rejected_answer_shows_the_servers_message():
    out = run("invalid")
    assert out["errors"] == ["choose one of 1-5"] and out["navigations"] == []
    assert out["buttonDisabled"] is False


def test_a_picture_that_fails_is_retried_then_the_trial_cannot_be_answered_until_it_loads():
    out = run("broken-image")
    # the page's own load failed: two more tries, later each time, each with a URL of its own
    assert out["srcs"] == ["/s/CODE/img/tok?retry=1", "/s/CODE/img/tok?retry=2"]
    assert out["imageTimeouts"] == [1000, 3000]
    # each try waits for the one before to fail (its early "complete" and its error event are
    # one failure, not two)
    assert out["imageLog"] == [
        "wait 1000",
        "src /s/CODE/img/tok?retry=1",
        "wait 3000",
        "src /s/CODE/img/tok?retry=2",
    ]
    # still broken: answers disabled, a message with a retry button, one report to the server
    failed = out["failed"]
    assert failed["fieldsets"] == [True] and failed["button"] is True
    assert failed["notice"]["hidden"] is False and failed["notice"]["role"] == "alert"
    assert "could not be loaded" in failed["notice"]["text"][0]
    assert failed["notice"]["text"][1] == "Try again"
    report = {
        "url": "/api/participants/CODE/events/",
        "body": {"kind": "trial.image_failed", "trial": 3},
    }
    assert out["fetchesWhileBroken"] == [report]  # keys, Enter and submit sent no answer
    # "Try again" loads it: the answers open, and the response time starts then
    assert out["srcsAfter"][-1] == "/s/CODE/img/tok?retry=3"
    assert out["retried"]["fieldsets"] == [False] and out["retried"]["button"] is False
    assert out["retried"]["notice"]["hidden"] is True
    answer = out["fetches"][1]
    assert answer["url"].endswith("/responses/") and answer["body"]["rt_ms"] == 700
    assert answer["body"]["value"] == {"justification": "4"}
    assert out["navigations"] == ["/s/CODE/"]
