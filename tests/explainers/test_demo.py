"""The demo's image sets: the photograph views that give the simulation study its outcomes."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from PIL import Image

from explainers.demo import VIEWS, views_write


def test_views_write_crops_every_photograph_four_ways_with_its_label(
    imagenet_sample_dir: Path, tmp_path: Path
):
    sample = tmp_path / "sample"
    sample.mkdir()
    with (imagenet_sample_dir / "labels.csv").open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [next(reader), next(reader)]
    with (sample / "labels.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        shutil.copy(imagenet_sample_dir / row["file"], sample / row["file"])
    out = tmp_path / "views"
    out.mkdir()

    assert views_write(sample, out) == 2 * len(VIEWS)

    with (out / "labels.csv").open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [r["class_index"] for r in written] == [rows[0]["class_index"]] * 4 + [
        rows[1]["class_index"]
    ] * 4
    first = rows[0]
    with Image.open(imagenet_sample_dir / first["file"]) as photo:
        width, height = photo.size
    stem = Path(first["file"]).stem
    for view, (left, top, right, bottom) in VIEWS.items():
        with Image.open(out / f"{stem}__{view}.jpg") as crop:
            assert crop.size == (
                round(right * width) - round(left * width),
                round(bottom * height) - round(top * height),
            ), view
    assert {r["class_name"] for r in written} == {rows[0]["class_name"], rows[1]["class_name"]}
