"""Bots that play whole sessions through the real flow (Django's HTTP test client).

A bot does what a browser does: opens the study link, presses Start, reads each page the server
sends, posts the page's form, and answers trials as ``participant.js`` does (JSON to the
participant API, with an idempotency key and a response time). Only its answers come from a
response model, which may read the trial's hidden information (an oracle) to simulate effects:
``effects`` shift the Likert rating of a method, or are Bradley–Terry log-strengths in a choice.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.test import Client
from django.urls import reverse

from studies.models import Participant, Study, Trial
from studies.protocols import ResponseError, get_protocol
from studies.services.participants import questions_for

_PAGE = re.compile(r'name="page" value="(\w+)"')


class BotError(RuntimeError):
    """The flow did something a participant could not get through."""


@dataclass
class ResponseModel:
    """How bots answer: method effects, attention slips, refusals and drop-outs."""

    effects: Mapping[str, float] = field(default_factory=dict)
    # Shifts of every method's effect for participants of a condition, keyed "factor=level"
    # (e.g. {"presentation=legacy": -1.0}: maps drawn the legacy way are rated lower).
    condition_effects: Mapping[str, float] = field(default_factory=dict)
    attention_fail_rate: float = 0.0
    decline_rate: float = 0.0
    abandon_rate: float = 0.0
    comprehension_fail_rate: float = 0.0
    rt_mean_ms: float = 2500.0


@dataclass
class SimulationReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    seconds: float = 0.0
    codes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        rate = self.requests / self.seconds if self.seconds else 0.0
        return (
            f"{sum(self.outcomes.values())} sessions ({parts}); {self.requests} requests in "
            f"{self.seconds:.1f} s ({rate:.0f}/s)"
        )


def _host() -> str:
    hosts = [h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")]
    return hosts[0] if hosts else "localhost"


class Bot:
    def __init__(self, study: Study, model: ResponseModel, rng: random.Random, source: str) -> None:
        self.study = study
        self.model = model
        self.rng = rng
        self.source = source
        self.client = Client(HTTP_HOST=_host())
        self.protocol = get_protocol(study.protocol)
        self.requests = 0

    def _get(self, path: str, data: Mapping[str, Any] | None = None) -> Any:
        self.requests += 1
        return self.client.get(path, data or {}, secure=True)

    def _post(self, path: str, data: Mapping[str, Any], *, json: bool = False) -> Any:
        self.requests += 1
        if json:
            return self.client.post(path, data, content_type="application/json", secure=True)
        return self.client.post(path, data, secure=True)

    def arrival(self, index: int) -> dict[str, str]:
        tag = f"{self.rng.getrandbits(48):012x}{index}"
        if self.source == "prolific":
            return {"PROLIFIC_PID": f"bot{tag}", "STUDY_ID": "botstudy", "SESSION_ID": f"s{tag}"}
        if self.source == "mturk":
            return {"workerId": f"W{tag}", "assignmentId": f"A{tag}", "hitId": "HBOT"}
        return {}

    def play(self, index: int) -> tuple[str, str]:
        """One whole session; its outcome (completed, screened_out, abandoned) and code."""
        link = reverse("studies:take", args=[self.study.link_token])
        params = self.arrival(index)
        page = self._get(link, params)
        if page.status_code == 302:  # a returning participant goes straight back to the session
            url = page["Location"]
        elif page.status_code == 200:
            started = self._post(link, params)
            if started.status_code != 302:
                raise BotError(f"start answered {started.status_code}: {started.content[:300]!r}")
            url = started["Location"]
        else:
            raise BotError(f"study link answered {page.status_code}: {page.content[:200]!r}")
        code = url.rstrip("/").split("/")[-1]
        participant = Participant.objects.get(code=code)
        abandon = self.rng.random() < self.model.abandon_rate
        for _ in range(10000):
            reply = self._get(url)
            if reply.status_code != 200:
                raise BotError(f"{url} answered {reply.status_code}")
            match = _PAGE.search(reply.content.decode())
            if match is None:  # complete, screened out, expired: no form
                participant.refresh_from_db()
                return participant.page, code
            name = match.group(1)
            if abandon and name == "trials":
                participant.refresh_from_db()
                if participant.n_answered * 2 >= participant.n_trials:
                    return "abandoned", code
            if name in ("practice", "trials"):
                self._answer_trial(participant, reply)
            else:
                self._answer_page(participant, url, name)
        raise BotError("the session did not end")

    def _answer_page(self, participant: Participant, url: str, name: str) -> None:
        data: dict[str, Any] = {"page": name}
        if name == "consent":
            data["agree"] = "no" if self.rng.random() < self.model.decline_rate else "yes"
        for q in questions_for(self.study, name):
            data[q["name"]] = self._question_answer(q)
        if name == "comprehension":  # the oracle: the right answers, or wrong ones on purpose
            understood = self.rng.random() >= self.model.comprehension_fail_rate
            for k, q in enumerate(self.study.flow.get("comprehension") or [], start=1):
                wrong = [o for o in q["options"] if o != q["answer"]]
                data[f"check_{k}"] = q["answer"] if understood else self.rng.choice(wrong)
        reply = self._post(url, data)
        if reply.status_code != 302:
            raise BotError(f"the {name} page answered {reply.status_code}: {reply.content[:300]!r}")

    def _question_answer(self, q: Mapping[str, Any]) -> Any:
        if q["type"] == "number":
            low, high = q.get("min") or 18, q.get("max") or 80
            return self.rng.randint(int(low), min(int(high), int(low) + 50))
        if q["type"] == "choice":
            return self.rng.choice(q["options"])
        if q["type"] == "likert":
            return self.rng.randint(1, q["points"])
        return "bot answer"

    def _effects(self, participant: Participant) -> Mapping[str, float]:
        if not self.model.condition_effects:
            return self.model.effects
        condition = Participant.objects.select_related("condition").get(pk=participant.pk).condition
        factors = condition.factors if condition else {}  # assigned after the bot's arrival
        shift = sum(
            self.model.condition_effects.get(f"{name}={level}", 0.0)
            for name, level in factors.items()
        )
        if not shift:
            return self.model.effects
        methods = self.study.stimuli_selection.get("methods", [])
        return {m: self.model.effects.get(m, 0.0) + shift for m in methods}

    def _answer_trial(self, participant: Participant, reply: Any) -> None:
        index = int(re.search(r'data-trial="(\d+)"', reply.content.decode()).group(1))  # type: ignore[union-attr]
        trial = Trial.objects.get(participant=participant, index=index)
        config = self.study.configuration
        if (
            trial.kind == Trial.Kind.ATTENTION
            and self.rng.random() >= self.model.attention_fail_rate
        ):
            value: dict[str, Any] = self._instructed(trial)
        else:
            attention = trial.kind == Trial.Kind.ATTENTION
            for _ in range(100):  # a failed check must not hit the expected answer by chance
                value = self.protocol.simulate_response(
                    config,
                    shown=trial.shown,
                    hidden={} if attention else trial.hidden,
                    rng=self.rng,
                    effects=self._effects(participant),
                )
                if not attention or not self._passes(trial, value):
                    break
        body = {
            "trial": index,
            "value": value,
            "rt_ms": round(self.rng.lognormvariate(0, 0.4) * self.model.rt_mean_ms, 1),
            "idempotency_key": uuid.uuid4().hex,
        }
        path = reverse("studies:api-participant-responses", args=[participant.code])
        answer = self._post(path, body, json=True)
        if answer.status_code not in (200, 201):
            raise BotError(f"trial {index} answered {answer.status_code}: {answer.content[:300]!r}")

    def _passes(self, trial: Trial, value: Mapping[str, Any]) -> bool:
        """Whether the server would count ``value`` as passing the check (judged, as there, on
        the cleaned answer; an answer the server would refuse does not pass)."""
        try:
            clean = self.protocol.validate_response(
                self.study.configuration, shown=trial.shown, value=value
            )
        except ResponseError:
            return False
        return self.protocol.attention_passed(hidden=trial.hidden, value=clean)

    def _instructed(self, trial: Trial) -> dict[str, Any]:
        """An answer that follows the check's instruction: the expected answer itself when it is
        a whole answer (a choice, a rating), else a simulated answer that satisfies it (e.g. a
        ranking with the instructed map first)."""
        expected = dict(trial.hidden["expected"])
        if self._passes(trial, expected):
            return expected
        for _ in range(1000):
            value = self.protocol.simulate_response(
                self.study.configuration, shown=trial.shown, hidden={}, rng=self.rng, effects={}
            )
            if self._passes(trial, value):
                return value
        raise BotError(f"no answer passes the attention check of trial {trial.index}")


def simulate(
    study: Study,
    *,
    n: int,
    seed: int = 0,
    model: ResponseModel | None = None,
    source: str = "prolific",
) -> SimulationReport:
    """Play ``n`` sessions one after the other; the report counts their outcomes."""
    if not study.accepts_participants:
        raise BotError(f"the study is {study.state}: bots need a pilot or live study")
    rng = random.Random(seed)
    report = SimulationReport()
    start = time.perf_counter()
    for index in range(n):
        bot = Bot(study, model or ResponseModel(), random.Random(rng.getrandbits(64)), source)
        outcome, code = bot.play(index)
        report.outcomes[outcome] += 1
        report.codes.append(code)
        report.requests += bot.requests
    report.seconds = time.perf_counter() - start
    return report
