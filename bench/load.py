"""Web load benchmark: hundreds of simulated participants through a 40-trial study at once.

Runs the real stack on loopback only: a private PostgreSQL cluster and a private redis-server in
a temporary folder (or the servers given with --database-url / --redis-url; the shared ones are
never restarted or cleared), gunicorn with several sync workers and production settings
(DEBUG=false, collected static files, persistent database connections). Every simulated
participant walks the study as the participant pages do: the study link, consent and
instructions through the HTML forms, then the first trial's page (HTML) and its images, and for
each trial a think time and the answer as JSON to the participant API with an idempotency key
(retried with the same key after a network failure or a 5xx), whose reply carries the next
trial's form (issue 22: one request per trial); the next trial's images are fetched during the
think time, each image URL once, as a browser's cache keeps them. ``--page-per-trial`` walks as
before issue 22 instead: every trial a page load and its images. The think time between pages
is uniform in 0.5–1.5 s, as in the profile of DESIGN.md (``--think 5,10`` for people who look
at each trial for several seconds).

It reports p50/p95/p99 latency of the trial page and of the response submit (and of the images
and the other pages), the request rate, the answers stored per second and the errors, then
checks the database: every participant's every response stored exactly once. Bounded:
--participants, --trials and --max-seconds. Not a test; run by hand:

    .venv/bin/python bench/load.py                     # 300 participants, 40 trials
    .venv/bin/python bench/load.py --participants 50   # a quick look

Targets on the 2-core development machine: 0 lost, 0 duplicated, 0 server errors, p95 < 150 ms
for the trial page and the submit.

``--ceiling`` measures instead what this machine can serve at all with the same client and the
same gunicorn: requests per second of a bare WSGI callable (no Django), of a static file served
by WhiteNoise (before Django's middleware), of Django's home page (the whole middleware stack, a
template, no query) and of the participant requests of the study, each at a fixed concurrency,
next to the request rate that ``--participants`` people with ``--think`` offer. No site can keep
its p95 low when the rate offered is near or above what it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
_PAGE = re.compile(r'name="page" value="(\w+)"')
_TRIAL = re.compile(r'data-trial="(\d+)"')
_RADIO = re.compile(r'<input type="radio" name="([^"]+)" value="([^"]*)"')
_IMG = re.compile(r'src="(/s/[^"]+)"')
_PREFETCH = re.compile(r'data-prefetch="([^"]*)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# --- services -----------------------------------------------------------------------------------
class Services:
    """Private PostgreSQL and Redis in a temporary folder, stopped and deleted at the end."""

    def __init__(self, database_url: str | None, redis_url: str | None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="studyplatform-load-"))
        self.database_url = database_url
        self.redis_url = redis_url
        self.processes: list[subprocess.Popen[bytes]] = []
        self.pg_data: Path | None = None

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, cwd=self.folder)

    def start(self) -> Services:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        if self.database_url is None:
            port = free_port()
            self.pg_data = self.folder / "pg"
            self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.pg_data), "-A", "trust",
                              "-U", "postgres")  # fmt: skip
            options = (
                f"-p {port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200 -c shared_buffers=256MB"
            )
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.pg_data), "-o", options,
                              "-l", str(self.folder / "pg.log"), "-w", "start")  # fmt: skip
            self._as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                              "-U", "postgres", "studyplatform")  # fmt: skip
            self.database_url = f"postgres://postgres@127.0.0.1:{port}/studyplatform"
        if self.redis_url is None:
            port = free_port()
            self.processes.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(self.folder),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for_port(port)
            self.redis_url = f"redis://127.0.0.1:{port}/0"
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=30)
        if self.pg_data is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._as_postgres(
                    str(PG_BIN / "pg_ctl"), "-D", str(self.pg_data), "-m", "fast", "-w", "stop"
                )
        shutil.rmtree(self.folder, ignore_errors=True)


def platform_env(services: Services, folder: Path) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=str(services.database_url),
        CELERY_BROKER_URL=str(services.redis_url),
        REDIS_URL=str(services.redis_url),
        CELERY_RESULT_BACKEND="",
        CELERY_TASK_ALWAYS_EAGER="true",
        MEDIA_ROOT=str(folder / "media"),
        STATIC_ROOT=str(folder / "static"),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def django(script: str, env: dict[str, str]) -> str:
    code = (
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'studyplatform.settings')\n"
        "django.setup()\n" + script
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return result.stdout.strip().splitlines()[-1]


STUDY = """
from django.contrib.auth import get_user_model
from tests.studies.conftest import create_study, make_assets
owner = get_user_model().objects.create_user("load-owner")
study = create_study(owner, make_assets(n_images=2 * {trials}),
                     flow={{"attention_checks": 0, "max_trials": {trials}}})
print(study.link_token)
"""

CHECK = """
import json
from django.db.models import Count
from studies.models import Event, Participant, Response, Trial
codes = set(json.loads(os.environ["LOAD_CODES"]))
out = {}
for p in Participant.objects.filter(code__in=codes):
    answered = list(Response.objects.filter(participant=p).values_list("trial__index", flat=True))
    out[p.code] = {
        "page": p.page, "n_trials": p.n_trials, "n_answered": p.n_answered,
        "answered": answered,
        "events": Event.objects.filter(participant=p, kind="response.saved").count(),
    }
print(json.dumps(out))
"""


# --- simulated participants ---------------------------------------------------------------------
@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    server_errors: int = 0
    network_errors: int = 0
    unexpected: list[str] = field(default_factory=list)
    image_cache_headers: set[str] = field(default_factory=set)
    requests: int = 0


class Client:
    def __init__(
        self, port: int, stats: Stats, rng: random.Random, think: tuple[float, float] = (0.5, 1.5)
    ) -> None:
        self.port = port
        self.stats = stats
        self.rng = rng
        self.think_range = think

    async def request(
        self, kind: str, method: str, path: str, body: bytes = b"", content_type: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection; retried (same bytes) on a network error or 5xx."""
        for attempt in range(8):
            started = time.perf_counter()
            try:
                status, headers, payload = await asyncio.wait_for(
                    self._once(method, path, body, content_type), timeout=30
                )
            except (TimeoutError, OSError, ValueError):
                self.stats.network_errors += 1
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            self.stats.requests += 1
            self.stats.latencies[kind].append((time.perf_counter() - started) * 1000)
            self.stats.statuses[f"{kind} {status}"] += 1
            if status >= 500:
                self.stats.server_errors += 1
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            return status, headers, payload
        raise RuntimeError(f"{method} {path}: no answer after 8 attempts")

    async def _once(
        self, method: str, path: str, body: bytes, content_type: str
    ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            if body:
                head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        header_bytes, _, payload = raw.partition(b"\r\n\r\n")
        lines = header_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        if headers.get("transfer-encoding") == "chunked":
            raise ValueError("chunked answers are not expected from gunicorn here")
        return status, headers, payload

    async def think(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.think_range))


async def fetch_images(client: Client, urls: list[str], cache: set[str], kind: str) -> None:
    """The pictures a browser would fetch: each URL once (they are immutable and cacheable)."""
    for src in urls:
        if src in cache:
            continue
        cache.add(src)
        _, img_headers, _ = await client.request(kind, "GET", src)
        client.stats.image_cache_headers.add(img_headers.get("cache-control", "none"))


async def participant(
    client: Client, token: str, expected: dict[str, set[int]], in_place: bool = True
) -> None:
    """One participant, as participant.js walks: with ``in_place`` each answer's reply carries
    the next trial's form (one request per trial), whose pictures were prefetched while the one
    before was answered; without it, every trial is a page load (the flow before issue 22)."""
    status, headers, _ = await client.request(
        "start", "POST", f"/take/{token}/", b"", "application/x-www-form-urlencoded"
    )
    if status != 302:
        client.stats.unexpected.append(f"start: {status}")
        return
    page_url = headers["location"]
    code = page_url.strip("/").split("/")[-1]
    expected[code] = set()
    cache: set[str] = set()  # the browser's cache of pictures
    html: str | None = None  # a trial's form from the last answer's reply
    for _ in range(200):
        if html is None:
            status, _, html_bytes = await client.request("page", "GET", page_url)
            html = html_bytes.decode()
        page = _PAGE.search(html)
        if page is None:  # the completion page; the database check says whether it is
            return
        name = page.group(1)
        if name in ("practice", "trials"):
            if client.stats.latencies["page"] and "<html" in html:
                client.stats.latencies["trial page"].append(client.stats.latencies["page"].pop())
            trial = int(_TRIAL.search(html).group(1))  # type: ignore[union-attr]
            await fetch_images(client, _IMG.findall(html), cache, "image")
            value: dict[str, str] = {}
            for field_name, option in _RADIO.findall(html):
                value[field_name] = option  # the last option of each question
            prefetch = _PREFETCH.search(html) if in_place else None
            ahead = asyncio.create_task(  # the next trial's pictures, while this one is answered
                fetch_images(
                    client, prefetch.group(1).split() if prefetch else [], cache, "prefetch"
                )
            )
            await client.think()
            await ahead
            body = json.dumps(
                {
                    "trial": trial,
                    "value": value,
                    "rt_ms": 900,
                    "idempotency_key": f"{code[:16]}-{trial}-{secrets.token_hex(4)}",
                    "next_trial": in_place,
                }
            ).encode()
            status, _, payload = await client.request(
                "submit", "POST", f"/api/participants/{code}/responses/", body, "application/json"
            )
            if status in (200, 201):
                expected[code].add(trial)
                nxt = json.loads(payload).get("next_trial") if in_place else None
                html = nxt["html"] if nxt else None
            else:
                client.stats.unexpected.append(f"submit {status}: {payload[:200]!r}")
                return
        else:
            html = None
            await client.think()
            form = f"page={name}" + ("&agree=yes" if name == "consent" else "")
            status, _, _ = await client.request(
                "form", "POST", page_url, form.encode(), "application/x-www-form-urlencoded"
            )
            if status != 302:
                client.stats.unexpected.append(f"{name} form: {status}")
                return
    client.stats.unexpected.append(f"{code}: did not finish")


async def drive(  # type: ignore[no-untyped-def]
    port: int,
    token: str,
    n: int,
    ramp: float,
    max_seconds: float,
    seed: int,
    think: tuple[float, float],
    in_place: bool = True,
):
    stats = Stats()
    expected: dict[str, set[int]] = {}
    rng = random.Random(seed)

    async def one(k: int) -> None:
        await asyncio.sleep(ramp * k / n)
        client = Client(port, stats, random.Random(rng.random()), think)
        await participant(client, token, expected, in_place)

    started = time.perf_counter()
    tasks = [asyncio.create_task(one(k)) for k in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=max_seconds)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            stats.unexpected.append(repr(task.exception()))
    return stats, expected, time.perf_counter() - started, len(pending)


HELLO_WSGI = """
def application(environ, start_response):
    body = b"x" * 2000
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "2000")])
    return [body]
"""


async def rate(port: int, path: str, concurrency: int, seconds: float) -> dict[str, float]:
    """Requests per second of ``GET path``, each on a fresh connection, ``concurrency`` at a
    time for ``seconds``, and the p50/p95 latency at that rate."""
    stats = Stats()
    client = Client(port, stats, random.Random(0))
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            status, _, _ = await client.request("get", "GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status}")

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    latencies = percentiles(stats.latencies["get"])
    return {
        "requests_per_second": round(stats.requests / (time.perf_counter() - started), 1),
        "p50_ms": latencies["p50"],
        "p95_ms": latencies["p95"],
    }


async def ceiling(port: int, token: str, work: Path, args: argparse.Namespace) -> dict[str, object]:
    """What one participant's trial asks of the server, what the profile offers, and what this
    machine serves: a bare WSGI callable, a static file, Django's home page, the trial page and
    an image of the study (fixed concurrency, fresh connection per request, as in the study)."""
    stats = Stats()
    client = Client(port, stats, random.Random(0), (0.0, 0.0))
    _, headers, _ = await client.request(
        "start", "POST", f"/take/{token}/", b"", "application/x-www-form-urlencoded"
    )
    page_url = headers["location"]
    html = ""
    for _ in range(10):  # through consent and instructions to the first trial
        html = (await client.request("page", "GET", page_url))[2].decode()
        name = _PAGE.search(html)
        if name is None or name.group(1) in ("practice", "trials"):
            break
        form = f"page={name.group(1)}" + ("&agree=yes" if name.group(1) == "consent" else "")
        await client.request(
            "form", "POST", page_url, form.encode(), "application/x-www-form-urlencoded"
        )
    images = _IMG.findall(html)
    # the submit and the trial's images, and the trial page itself without the in-place reply
    per_trial = (2 if args.page_per_trial else 1) + len(images)
    think = sum(args.think) / 2
    static = "/static/js/participant.js"
    hello_dir = work / "hello"
    hello_dir.mkdir(exist_ok=True)
    (hello_dir / "hello_wsgi.py").write_text(HELLO_WSGI)
    hello_port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    hello = subprocess.Popen(
        [gunicorn, "hello_wsgi:application", "-b", f"127.0.0.1:{hello_port}", "-w",
         str(args.workers), "--backlog", "2048", "--chdir", str(hello_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port(hello_port)
        measured = {"bare WSGI callable (no Django)": await rate(
            hello_port, "/", args.concurrency, args.seconds)}  # fmt: skip
    finally:
        os.killpg(hello.pid, signal.SIGTERM)
        hello.wait(timeout=30)
    for label, path in (
        (f"static file by WhiteNoise ({static})", static),
        ("Django home page (middleware, template, no query)", "/"),
        ("trial page of the study (repeated GET)", page_url),
        ("image of the study (repeated GET)", images[0] if images else static),
    ):
        measured[label] = await rate(port, path, args.concurrency, args.seconds)
    return {
        "cpus": os.cpu_count(),
        "gunicorn_workers": args.workers,
        "concurrency": args.concurrency,
        "requests_per_trial": per_trial,
        "profile": {
            "participants": args.participants,
            "think_seconds": list(args.think),
            "offered_requests_per_second": round(args.participants * per_trial / think, 1),
        },
        "served": measured,
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "n": len(values),
        "p50": round(cuts[49], 1),
        "p95": round(cuts[94], 1),
        "p99": round(cuts[98], 1),
        "max": round(max(values), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which all start")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--think",
        type=lambda text: tuple(float(v) for v in text.split(",")),
        default=(0.5, 1.5),
        help="think time between pages, uniform in MIN,MAX seconds (default 0.5,1.5)",
    )
    parser.add_argument("--database-url", help="an existing, empty PostgreSQL database")
    parser.add_argument("--redis-url", help="an existing Redis (only its keys are used)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--strict", action="store_true", help="exit with 1 when a target is missed")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="measure the request rate this machine serves (see above) instead of the study",
    )
    parser.add_argument(
        "--page-per-trial",
        action="store_true",
        help="load every trial as a page, as before issue 22 (default: the answer's reply "
        "carries the next trial, one request per trial, as participant.js does)",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="with --ceiling")
    parser.add_argument("--seconds", type=float, default=10.0, help="with --ceiling, per request")
    args = parser.parse_args()

    load_before = os.getloadavg()
    services = Services(args.database_url, args.redis_url).start()
    work = Path(tempfile.mkdtemp(prefix="studyplatform-load-files-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        env = platform_env(services, work)
        for command in (
            ["migrate", "--noinput", "-v", "0"],
            ["collectstatic", "--noinput", "-v", "0"],
        ):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
        token = django(STUDY.format(trials=args.trials), env)
        port = free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        server = subprocess.Popen(
            [gunicorn, "studyplatform.wsgi:application", "-b", f"127.0.0.1:{port}",
             "-w", str(args.workers), "--preload", "--backlog", "2048", "--timeout", "60"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        wait_for_port(port)
        if args.ceiling:
            result = asyncio.run(ceiling(port, token, work, args))
            print(json.dumps(result, indent=2))
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(result, indent=2) + "\n")
            return 0
        stats, expected, seconds, unfinished = asyncio.run(
            drive(
                port,
                token,
                args.participants,
                args.ramp,
                args.max_seconds,
                args.seed,
                args.think,
                not args.page_per_trial,
            )
        )
        env["LOAD_CODES"] = json.dumps(sorted(expected))
        stored = json.loads(django(CHECK, env))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        services.stop()
        shutil.rmtree(work, ignore_errors=True)

    lost = duplicated = incomplete = 0
    for code, answered in expected.items():
        row = stored.get(code)
        rows = row["answered"] if row else []
        lost += len(answered - set(rows))
        duplicated += len(rows) - len(set(rows)) + max(0, (row or {}).get("events", 0) - len(rows))
        if not row or row["page"] != "complete" or row["n_answered"] != len(rows):
            incomplete += 1
    result = {
        "participants": args.participants,
        "trials": args.trials,
        "gunicorn_workers": args.workers,
        "think_seconds": list(args.think),
        "cpus": os.cpu_count(),
        "load_average_before_and_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "seconds": round(seconds, 1),
        "requests": stats.requests,
        "requests_per_second": round(stats.requests / seconds, 1),
        "answers_per_second": round(sum(len(a) for a in expected.values()) / seconds, 1),
        "one_request_per_trial": not args.page_per_trial,
        "latency_ms": {kind: percentiles(v) for kind, v in sorted(stats.latencies.items()) if v},
        "server_errors": stats.server_errors,
        "network_errors": stats.network_errors,
        "unexpected": stats.unexpected[:20],
        "unfinished_participants": unfinished,
        "incomplete_participants": incomplete,
        "responses_stored": sum(len(r["answered"]) for r in stored.values()),
        "responses_lost": lost,
        "responses_duplicated": duplicated,
        "image_cache_control": sorted(stats.image_cache_headers),
        "statuses": dict(sorted(stats.statuses.items())),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    ok = (
        lost == 0
        and duplicated == 0
        and stats.server_errors == 0
        and incomplete == 0
        and not stats.unexpected
        and "submit" in result["latency_ms"]
        and all(
            result["latency_ms"].get(k, {}).get("p95", 0) < 150 for k in ("trial page", "submit")
        )
    )
    print("targets met" if ok else "targets NOT met", file=sys.stderr)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
