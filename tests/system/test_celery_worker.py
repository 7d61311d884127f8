"""A real task through a real Celery worker process over Redis, with PostgreSQL behind it."""

import uuid

import pytest

pytestmark = pytest.mark.system


def test_task_round_trip_through_a_real_worker(celery_worker_process):
    from studyplatform.tasks import ping

    token = uuid.uuid4().hex
    result = ping.delay(token).get(timeout=60)
    assert result["token"] == token
    assert result["database"] == "postgresql"
    assert result["pid"] != __import__("os").getpid()


def test_gpu_queue_task_reports_the_device(celery_worker_process):
    from explainers.tasks.gpu import device_info

    async_result = device_info.delay()
    info = async_result.get(timeout=120)
    assert info["device"] in {"cpu", "cuda"}
    assert info["torch"].startswith("2.13.0")
