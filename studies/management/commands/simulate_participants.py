"""``python manage.py simulate_participants STUDY --n N [--seed S]``: bots play whole sessions."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.bots import BotError, ResponseModel, simulate
from studies.management.commands._study_arg import find_study


def _effects(text: str) -> dict[str, float]:
    effects: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            effects[name.strip()] = float(value)
        except ValueError:
            raise CommandError(f"--effects: {part!r} is not METHOD=NUMBER") from None
    return effects


class Command(BaseCommand):
    help = (
        "Play N whole participant sessions through the real flow (HTTP test client). "
        "The study must be in pilot or live."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="The study's uid (or numeric id).")
        parser.add_argument("--n", type=int, default=10, help="Sessions to play.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--effects",
            default="",
            help="Method effects, e.g. gradcam=1,rise=-0.5: Likert shift in scale points, "
            "or log-strength in a choice.",
        )
        parser.add_argument("--attention-fail-rate", type=float, default=0.0)
        parser.add_argument("--decline-rate", type=float, default=0.0)
        parser.add_argument("--abandon-rate", type=float, default=0.0)
        parser.add_argument(
            "--source", choices=["prolific", "mturk", "anonymous"], default="prolific"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = find_study(options["study"])
        if options["n"] < 1:
            raise CommandError("--n must be at least 1")
        for name in ("attention_fail_rate", "decline_rate", "abandon_rate"):
            if not 0 <= options[name] <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1")
        model = ResponseModel(
            effects=_effects(options["effects"]),
            attention_fail_rate=options["attention_fail_rate"],
            decline_rate=options["decline_rate"],
            abandon_rate=options["abandon_rate"],
        )
        try:
            report = simulate(
                study, n=options["n"], seed=options["seed"], model=model, source=options["source"]
            )
        except BotError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(report.summary())
