"""Image-set import: each kind of bad file gets its own error and stores nothing for it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image as PILImage

from explainers.models import Image, ImageSet
from explainers.services import image_sources, image_validation, map_storage
from explainers.services.image_sets import image_set_import
from explainers.services.image_sources import SourceError
from explainers.services.image_validation import ImageRejected, validate_image_bytes

from .conftest import jpeg_bytes, png_bytes, stored_files

pytestmark = pytest.mark.django_db


def bomb_png() -> bytes:
    """A tiny file that decodes to 20,000 × 20,000 pixels."""
    buffer = io.BytesIO()
    PILImage.new("1", (20_000, 20_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_valid_images_are_described():
    valid = validate_image_bytes(jpeg_bytes((80, 60)))
    assert (valid.format, valid.extension, valid.width, valid.height) == ("JPEG", "jpg", 80, 60)
    assert len(valid.sha256) == 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"GIF89a but not really" * 3, "not an image"),
        (b"<html>not an image</html>", "not an image"),
        (jpeg_bytes((200, 200))[:300], "damaged or truncated"),
        (png_bytes((8, 8)), "smaller than"),
    ],
)
def test_bad_bytes_are_rejected_with_a_reason(data, message):
    with pytest.raises(ImageRejected, match=message):
        validate_image_bytes(data)


def test_decompression_bomb_is_refused():
    with pytest.raises(ImageRejected, match="decompression bomb"):
        validate_image_bytes(bomb_png())


def test_unaccepted_format_is_refused():
    buffer = io.BytesIO()
    PILImage.new("RGB", (32, 32)).save(buffer, format="TIFF")
    with pytest.raises(ImageRejected, match="TIFF is not accepted"):
        validate_image_bytes(buffer.getvalue())


def test_zip_import_keeps_good_files_and_reports_each_bad_one(media_root, tmp_path, monkeypatch):
    monkeypatch.setattr(image_validation, "MAX_FILE_BYTES", 50_000)
    monkeypatch.setattr(image_sources, "MAX_FILE_BYTES", 50_000)
    archive = make_zip(
        tmp_path / "set.zip",
        {
            "cats/a.png": png_bytes(colour=(1, 2, 3)),
            "dogs/b.jpg": jpeg_bytes(colour=(4, 5, 6)),
            "dogs/copy-of-a.png": png_bytes(colour=(1, 2, 3)),
            "../../etc/evil.png": png_bytes(colour=(7, 8, 9)),
            "/abs/evil.png": png_bytes(colour=(9, 8, 7)),
            "notes.jpg": b"this is a text file named like an image",
            "truncated.jpg": jpeg_bytes((300, 300))[:400],
            "bomb.png": bomb_png(),
            "huge.bmp": b"BM" + b"\0" * 60_000,
        },
    )
    report = image_set_import(name="pets", source=archive)
    assert sorted(report.added) == ["cats/a.png", "dogs/b.jpg"]
    assert report.duplicates == ["dogs/copy-of-a.png"]
    reasons = dict(report.rejected)
    assert set(reasons) == {
        "../../etc/evil.png",
        "/abs/evil.png",
        "notes.jpg",
        "truncated.jpg",
        "bomb.png",
        "huge.bmp",
    }
    assert "escapes" in reasons["../../etc/evil.png"] and "escapes" in reasons["/abs/evil.png"]
    assert "not an image" in reasons["notes.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert "larger than" in reasons["huge.bmp"]
    # Only the two good files are stored, under names keyed by SECRET_KEY: not the content hash
    # anyone could compute from a public image (issue 18: the name is in a signed URL).
    files = stored_files(media_root)
    assert len(files) == 2
    for f in files:
        image = Image.objects.get(file__endswith=f.name)
        assert image.file.name == map_storage.shown_name(f.suffix[1:], "image", image.sha256)
        assert image.sha256 not in image.file.name
    assert sorted(Image.objects.values_list("label", flat=True)) == ["cats", "dogs"]
    assert not (tmp_path / "etc").exists()


def test_reimport_adds_only_new_files(media_root, tmp_path):
    first = make_zip(tmp_path / "a.zip", {"x.png": png_bytes(colour=(1, 1, 1))})
    second = make_zip(
        tmp_path / "b.zip",
        {"x-again.png": png_bytes(colour=(1, 1, 1)), "y.png": png_bytes(colour=(2, 2, 2))},
    )
    image_set_import(name="s", source=first)
    report = image_set_import(name="s", source=second)
    assert (report.added, report.duplicates) == (["y.png"], ["x-again.png"])
    assert ImageSet.objects.get(name="s").images.count() == 2


def test_labels_csv_maps_names_and_indices(media_root, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "one.png").write_bytes(png_bytes(colour=(10, 0, 0)))
    (folder / "two.jpg").write_bytes(jpeg_bytes(colour=(0, 10, 0)))
    csv = b"file,label\none.png,goldfish\ntwo.jpg,2\n"
    classes = ["tench", "goldfish", "great white shark"]
    report = image_set_import(name="fish", source=folder, labels_csv=csv, class_names=classes)
    assert sorted(report.added) == ["one.png", "two.jpg"]
    labels = dict(Image.objects.values_list("original_name", "label_index"))
    assert labels == {"one.png": 1, "two.jpg": 2}
    assert Image.objects.get(original_name="two.jpg").label == "great white shark"


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (b"name,label\na.png,x\n", "'file' column"),
        (b"file,colour\na.png,red\n", "'label'"),
        (b"file,class_index\na.png,seven\n", "not an integer"),
        (b"\xff\xfe\x00bad", "UTF-8"),
    ],
)
def test_bad_labels_csv_stores_nothing(media_root, tmp_path, csv, message):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes())
    with pytest.raises(SourceError, match=message):
        image_set_import(name="bad", source=folder, labels_csv=csv)
    assert not ImageSet.objects.filter(name="bad").exists()
    assert stored_files(media_root) == []


def test_a_file_that_is_not_a_zip_is_refused(media_root, tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK not really")
    with pytest.raises(SourceError, match="not a readable zip"):
        image_set_import(name="z", source=fake)
    assert not ImageSet.objects.exists()


def test_imagenet_sample_imports_with_its_labels(media_root, imagenet_sample_dir):
    report = image_set_import(name="imagenet-sample", source=imagenet_sample_dir)
    assert len(report.added) == 100 and not report.rejected
    image = Image.objects.get(original_name="n01440764_tench.JPEG")
    assert (image.label_index, image.label) == (0, "tench")
