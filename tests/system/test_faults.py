"""Faults a real online study meets, on real processes: nothing lost, nothing twice.

- Redis restarted during a precompute job: the worker reconnects, the queued units survive in
  the append-only file (as in docker-compose.yml), the job completes, every map exists once.
- PostgreSQL restarted while participants submit: the participants' client retries each request
  with the same idempotency key until it gets an answer; every participant completes and every
  trial has exactly one response.
- A participant's network drops mid-submit (before the request reaches the server, or after
  the server stored it but before the answer arrives): the retry with the same key stores the
  answer once (``duplicate: true`` for the second kind) and the participant continues.

The shared services on 5432/6379 are never touched: each test starts a private redis-server or
PostgreSQL cluster on a free port in a temporary folder and points worker or web server
subprocesses at it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Count

from explainers.models import PrecomputeJob, SaliencyMap
from studies.models import Event, Participant, Response

from .conftest import (
    ROOT,
    WorkerProcess,
    database_url_of_current_connection,
    skip_unless_required,
)

pytestmark = [pytest.mark.system, pytest.mark.slow]

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# --- private services ---------------------------------------------------------------------------
class PrivateRedis:
    """redis-server on a free port with an append-only file (tasks survive a restart)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        if shutil.which("redis-server") is None:
            skip_unless_required("redis-server is not installed")
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always"),
                *("--save", "", "--daemonize", "no"),
            ],
            stdout=log,
            stderr=log,
        )
        wait_until(self.ping, 20, "the private redis-server")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis flushes the append-only file, then exits
            self.process.wait(timeout=30)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl), run as ``postgres`` when we are root."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            skip_unless_required(f"PostgreSQL server binaries not found in {PG_BIN} (set PG_BIN)")
        self.folder = Path(tempfile.mkdtemp(prefix="studyplatform-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, cwd=self.folder
        )
        assert result.returncode == 0, result.stdout + result.stderr

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/studyplatform"

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.folder / "pg.log"), "-w", "start",
        )  # fmt: skip
        return self

    def create_database(self) -> None:
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "studyplatform")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(AssertionError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def django_env(**overrides: str) -> dict[str, str]:
    """The environment of a platform subprocess: no shared broker or cache unless given."""
    env = os.environ.copy()
    env.update(
        DEBUG="true",
        CELERY_BROKER_URL="",
        REDIS_URL="",
        CELERY_RESULT_BACKEND="",
        CELERY_TASK_ALWAYS_EAGER="true",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.update(overrides)
    return env


def run_django(script: str, env: dict[str, str], timeout: float = 300) -> str:
    code = (
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'studyplatform.settings')\n"
        "django.setup()\n" + script
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


# --- Redis restarted during a precompute job ----------------------------------------------------
class PrivateWorker(WorkerProcess):
    """A worker on the private broker; ready when its log says so (the test's own Celery app
    talks to the shared broker and cannot ping it)."""

    def _wait_ready(self, timeout: float = 120.0) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            return self.log_path.exists() and " ready." in self.log()

        wait_until(ready, timeout, f"the worker to start:\n{self.log()}")


def test_redis_restarted_during_a_precompute_job_the_job_completes_once(
    services, transactional_db, settings, tmp_path, imagenet_sample_dir, monkeypatch
):
    from explainers.services.image_sets import image_set_import

    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    monkeypatch.setenv("MEDIA_ROOT", str(media))
    folder = tmp_path / "six"
    folder.mkdir()
    lines = (imagenet_sample_dir / "labels.csv").read_text().splitlines()
    (folder / "labels.csv").write_text("\n".join(lines[:7]) + "\n")
    for line in lines[1:7]:
        shutil.copy(imagenet_sample_dir / line.split(",")[0], folder / line.split(",")[0])
    image_set = image_set_import(name="six", source=folder).image_set

    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis = PrivateRedis(redis_dir).start()
    settings.CELERY_BROKER_URL = redis.url  # read by WorkerProcess.start for the subprocess
    settings.CELERY_RESULT_BACKEND = redis.url.replace("/0", "/1")
    worker = PrivateWorker(name="redis-fault").start()
    try:
        env = django_env(
            DATABASE_URL=database_url_of_current_connection(),
            CELERY_BROKER_URL=redis.url,
            CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
            CELERY_TASK_ALWAYS_EAGER="false",
            MEDIA_ROOT=str(media),
        )
        job_id = int(
            run_django(
                "from explainers.services.classifiers import classifier_zoo_ensure\n"
                "from explainers.services.precompute import precompute_job_create\n"
                "from explainers.models import ImageSet\n"
                "job = precompute_job_create(\n"
                "    classifier=classifier_zoo_ensure(name='efficientnet_lite0'),\n"
                f"    image_set=ImageSet.objects.get(pk={image_set.pk}),\n"
                "    methods=['gradcam', 'gradient'], metrics=['iic'], batch_size=1)\n"
                "print(job.pk)\n",
                env,
            )
        )
        job = PrecomputeJob.objects.get(pk=job_id)

        def progressed() -> bool:
            job.refresh_from_db()
            return job.completed >= 2

        wait_until(progressed, 300, f"the first units\n{worker.log()}")
        redis.stop()  # SIGTERM; the worker loses its broker mid-job
        time.sleep(3)
        job.refresh_from_db()
        assert not job.is_finished, "the job finished before the restart: make it longer"
        redis.start()  # same port and folder: the append-only file brings the queue back

        def finished() -> bool:
            job.refresh_from_db()
            return job.is_finished

        wait_until(finished, 420, f"the job to finish after the restart\n{worker.log()}")
    finally:
        worker.stop()
        redis.stop()
    assert job.state == PrecomputeJob.State.DONE, job.errors
    assert (job.completed, job.failed, job.total) == (12, 0, 12)
    per_key = SaliencyMap.objects.values("image", "method", "target_class").annotate(n=Count("id"))
    assert SaliencyMap.objects.count() == 12
    assert {row["n"] for row in per_key} == {1}
    assert "reconnect" in worker.log().lower() or "connection" in worker.log().lower()


# --- participants under faults ------------------------------------------------------------------
class Retry(Exception):
    pass


@dataclass
class Participant_:
    """A participant's browser over HTTP: every request retried with the same body (and so the
    same idempotency key) until the server answers, as the participant page's script does."""

    host: str
    port: int
    token: str
    failures: int = 0
    duplicates: int = 0
    code: str = ""
    answered: list[int] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        for attempt in range(120):
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
                payload = None if body is None else json.dumps(body)
                headers = {"Content-Type": "application/json", "Connection": "close"}
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
                if response.status >= 500:
                    raise Retry(response.status)
                return response.status, json.loads(data) if data else None
            except (OSError, http.client.HTTPException, Retry):
                self.failures += 1
                time.sleep(min(0.2 * (attempt + 1), 2.0))
        raise AssertionError(f"{method} {path}: no answer after 120 attempts")

    @staticmethod
    def answer(shown: dict[str, Any]) -> dict[str, Any]:
        if "items" in shown:
            return {item["name"]: item["options"][-1]["value"] for item in shown["items"]}
        value: dict[str, Any] = {"choice": shown["options"][0]["value"]}
        if shown.get("validation"):
            value["validation"] = "yes"
        return value

    def run(self) -> None:
        status, state = self.call("POST", f"/api/take/{self.token}/", {})
        assert status in (200, 201), state
        self.code = state["code"]
        base = f"/api/participants/{self.code}"
        for _ in range(500):
            status, state = self.call("GET", f"{base}/")
            page = state["page"]
            if page == "complete":
                return
            if page in ("practice", "trials"):
                trial = state["trial"]
                body = {
                    "trial": trial["index"],
                    "value": self.answer(trial["shown"]),
                    "rt_ms": 800,
                    "idempotency_key": f"{self.code[:12]}-{trial['index']}",
                }
                status, result = self.call("POST", f"{base}/responses/", body)
                assert status in (200, 201, 409), result
                if status == 200:
                    self.duplicates += 1
                if status in (200, 201):
                    self.answered.append(trial["index"])
            else:
                answers = {"agree": True} if page == "consent" else {}
                status, result = self.call("POST", f"{base}/pages/{page}/", {"answers": answers})
                assert status in (200, 409), result  # 409: a retry of a page already passed
        raise AssertionError(f"participant {self.code} did not finish")


def run_participants(clients: list[Participant_]) -> None:
    errors: list[BaseException] = []

    def play(client: Participant_) -> None:
        try:
            client.run()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=play, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors


STUDY_SCRIPT = """
from django.contrib.auth import get_user_model
from tests.studies.conftest import create_study, make_assets
owner = get_user_model().objects.create_user("owner")
study = create_study(owner, make_assets(n_images=12))
print(study.link_token)
"""

CHECK_SCRIPT = """
import json
from django.db.models import Count
from studies.models import Event, Participant, Response
rows = []
for p in Participant.objects.all():
    per_trial = set(Response.objects.filter(participant=p).values("trial").annotate(n=Count("id"))
                    .values_list("n", flat=True))
    rows.append({"code": p.code, "page": p.page, "n_trials": p.n_trials,
                 "n_answered": p.n_answered, "responses": p.responses.count(),
                 "per_trial": sorted(per_trial),
                 "saved_events": p.events.filter(kind="response.saved").count()})
print(json.dumps(rows))
"""


@pytest.fixture
def private_postgres(services) -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres().start()
    try:
        pg.create_database()
        yield pg
    finally:
        pg.destroy()


def test_postgres_restarted_while_participants_submit_nothing_lost_or_doubled(
    private_postgres, tmp_path
):
    pg = private_postgres
    media = tmp_path / "media"
    env = django_env(DATABASE_URL=pg.url, MEDIA_ROOT=str(media))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, timeout=300,
    )  # fmt: skip
    token = run_django(STUDY_SCRIPT, env)
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "studyplatform.wsgi:application",
         "-b", f"127.0.0.1:{port}", "-w", "2", "--timeout", "60"],
        cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        probe = Participant_("127.0.0.1", port, token)
        wait_until(lambda: _answers(probe, "/healthz") == 200, 60, "gunicorn")
        clients = [Participant_("127.0.0.1", port, token) for _ in range(6)]
        players = threading.Thread(target=run_participants, args=(clients,))
        players.start()
        wait_until(lambda: sum(len(c.answered) for c in clients) >= 15, 120, "first answers")
        pg.stop("fast")  # every connection of the server breaks; requests fail meanwhile
        time.sleep(2.0)
        pg.start()
        players.join(timeout=600)
        assert not players.is_alive()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert sum(c.failures for c in clients) > 0, "no request failed: the restart was missed"
    rows = {row["code"]: row for row in json.loads(run_django(CHECK_SCRIPT, env))}
    for client in clients:
        row = rows[client.code]
        assert row["page"] == "complete", row
        assert row["responses"] == row["n_answered"] == row["n_trials"] > 0, row
        assert row["per_trial"] == [1], row
        assert row["saved_events"] == row["responses"], row
        assert sorted(set(client.answered)) == list(range(row["n_trials"]))


def _answers(client: Participant_, path: str) -> int:
    try:
        conn = http.client.HTTPConnection(client.host, client.port, timeout=2)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return 0


class DroppingProxy:
    """A TCP proxy that loses some submits: before forwarding, or after the server answered.

    One request per connection (the client sends ``Connection: close``). The n-th POST to a
    ``/responses/`` URL is dropped according to ``plan[n]``: ``"before"`` (the request never
    reaches the server), ``"after"`` (the server stores it; the answer is lost) or nothing.
    """

    def __init__(self, upstream: tuple[str, int], plan: dict[int, str]) -> None:
        self.upstream = upstream
        self.plan = plan
        self.submits = 0
        self.dropped: list[str] = []
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    @staticmethod
    def _read_request(sock: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            body += sock.recv(65536)
        return head + b"\r\n\r\n" + body

    def _handle(self, client: socket.socket) -> None:
        with client:
            request = self._read_request(client)
            drop = ""
            if request.startswith(b"POST ") and b"/responses/ " in request.split(b"\r\n")[0]:
                with self.lock:
                    self.submits += 1
                    drop = self.plan.get(self.submits, "")
            if drop == "before":
                self.dropped.append(drop)
                return  # the connection closes: the request never arrived
            with socket.create_connection(self.upstream, timeout=30) as upstream:
                upstream.sendall(request)
                response = b""
                while chunk := upstream.recv(65536):
                    response += chunk
            if drop == "after":
                self.dropped.append(drop)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return  # stored by the server; the answer is lost on the way (reset)
            client.sendall(response)

    def close(self) -> None:
        self.stopped = True
        self.server.close()


@pytest.mark.django_db(transaction=True)
def test_network_dropping_mid_submit_the_retry_stores_the_answer_once(
    services, live_server, settings, tmp_path
):
    from tests.studies.conftest import create_study, make_assets

    settings.MEDIA_ROOT = str(tmp_path / "media")
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user("owner")
    study = create_study(owner, make_assets(n_images=8))
    host, port = live_server.url.removeprefix("http://").split(":")
    plan = {2: "after", 4: "before", 5: "after", 7: "before"}  # of 9 submits for 5 trials
    proxy = DroppingProxy((host, int(port)), plan)
    try:
        client = Participant_("127.0.0.1", proxy.port, study.link_token)
        client.run()
    finally:
        proxy.close()
    participant = Participant.objects.get(code=client.code)
    assert sorted(proxy.dropped) == sorted(plan.values()), (proxy.submits, participant.n_trials)
    assert client.failures >= len(plan)
    assert client.duplicates == list(plan.values()).count("after")  # stored, then replayed
    participant = Participant.objects.get(code=client.code)
    assert participant.page == "complete"
    assert participant.responses.count() == participant.n_trials == participant.n_answered
    per_trial = (
        Response.objects.filter(participant=participant).values("trial").annotate(n=Count("id"))
    )
    assert {row["n"] for row in per_trial} == {1}
    saved = Event.objects.filter(participant=participant, kind="response.saved").count()
    assert saved == participant.n_trials
