"""The methods section: numbers from the participants table, the design from the plan."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import preregistration as prereg
from analysis.methods_text import Sample, duration, methods_markdown, sample_from_participants

from .test_preregistration_document import MEASURES, SPEC


def _participants() -> pd.DataFrame:
    rows = [
        # state, source, duration_s, excluded, exclusion_reason, pilot
        ("completed", "prolific", "600", "0", "NA", "0"),
        ("completed", "prolific", "720", "0", "NA", "0"),
        ("completed", "prolific", "900", "0", "NA", "0"),
        ("excluded", "prolific", "300", "1", "too fast; failed attention checks", "0"),
        ("excluded", "mturk", "480", "1", "too fast", "0"),
        ("timed_out", "mturk", "NA", "1", "incomplete", "0"),
        ("completed", "anonymous", "60", "0", "NA", "1"),  # a pilot: not counted
    ]
    columns = ["state", "source", "duration_s", "excluded", "exclusion_reason", "pilot"]
    return pd.DataFrame(rows, columns=columns).replace("NA", pd.NA)


def test_sample_counts_from_the_participants_table():
    s = sample_from_participants(_participants())
    assert (s.recruited, s.completed, s.excluded, s.analysed) == (6, 5, 3, 3)
    assert s.reasons == {"too fast": 2, "failed attention checks": 1, "incomplete": 1}
    assert s.median_minutes == pytest.approx(600 / 60)  # median of 600, 720, 900, 300, 480 s
    assert s.sources == {"mturk": 2, "prolific": 4}
    with pytest.raises(ValueError, match="lacks column"):
        sample_from_participants(_participants().drop(columns=["duration_s"]))


def test_the_text_names_what_the_study_did_with_its_numbers():
    plan = prereg.document(SPEC, protocol_label="Ground-truth prediction", measures=MEASURES)[
        "plan"
    ]
    text = methods_markdown(
        plan,
        sample_from_participants(_participants()),
        title="Do maps help?",
        protocol_label="Ground-truth prediction",
        method_parameters={"gradcam": [{"layer": "layer4"}]},
        presentation="default: overlay, jet, alpha 0.5",
        payment={"hourly_rate": 9.0, "currency": "GBP"},
        versions={"analysis": "1.0.0", "torch": "2.5.1"},
    )
    assert text.startswith("## Methods: Do maps help?\n")
    for phrase in (
        "6 participants took part, recruited through Amazon Mechanical Turk (2) and Prolific "
        "(4); 5 completed the study.",
        "paid at a rate of 9 GBP per hour",
        "The median duration was 10.0 minutes.",
        "3 participants were excluded (too fast: 2; failed attention checks: 1; incomplete: 1),"
        " leaving 3 for the analysis.",
        "failed at least 1 attention check(s)",
        "The planned sample was 340",
        "3 images from the image set “demo”",
        'gradcam (layer = "layer4")',
        "presented as follows: default: overlay, jet, alpha 0.5",
        "Ground-truth prediction protocol (gt_prediction) with 2 conditions (explanation hidden "
        "and explanation shown), assigned between participants",
        "`correct ~ explanation + (1|participant) + (1|item)`",
        "Software: analysis 1.0.0, torch 2.5.1.",
    ):
        assert phrase in text, phrase
    assert (duration(0.7), duration(12.25)) == ("42 seconds", "12.2 minutes")
    one = Sample(recruited=2, completed=2, excluded=0, analysed=2, sources={"anonymous": 2})
    plain = methods_markdown(plan, one, title="t", protocol_label="GT")
    assert "No participant was excluded; 2 were analysed." in plain
    assert "recruited through a study link;" in plain and "paid" not in plain
