"""Image import from real-world archives and photos: damaged zip members, zipped folders, phone
photos rotated by EXIF, label names resolved against a classifier's classes."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from explainers.models import Classifier, Image
from explainers.services.image_sets import image_set_import

from .conftest import jpeg_bytes, png_bytes, stored_files

pytestmark = pytest.mark.django_db

ORIENTATION = 0x0112
RED, BLUE = (230, 10, 10), (10, 10, 230)


def zip_bytes(members: dict[str, bytes]) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return bytearray(buffer.getvalue())


def patch_member(data: bytearray, name: str, *, method: int | None = None, flags: int = 0) -> None:
    """Set a member's compression method and/or general-purpose flags in both of its headers."""
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name)
    headers = [(info.header_offset + 8, info.header_offset + 6)]  # local: method, flags
    position = 0
    while (position := data.find(b"PK\x01\x02", position)) != -1:
        length = struct.unpack_from("<H", data, position + 28)[0]
        if bytes(data[position + 46 : position + 46 + length]) == name.encode():
            headers.append((position + 10, position + 8))  # central directory: method, flags
        position += 4
    assert len(headers) == 2
    for method_at, flags_at in headers:
        if method is not None:
            struct.pack_into("<H", data, method_at, method)
        if flags:
            old_flags = struct.unpack_from("<H", data, flags_at)[0]
            struct.pack_into("<H", data, flags_at, old_flags | flags)


def corrupt_data(data: bytearray, name: str) -> None:
    """Flip one byte of a stored member's data: its CRC-32 no longer matches."""
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name)
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.file_size // 2] ^= 0xFF


def test_unreadable_zip_members_are_reported_one_by_one_and_the_good_files_kept(
    media_root, tmp_path
):
    data = zip_bytes(
        {
            "good.png": png_bytes(colour=(1, 2, 3)),
            "bad-crc.png": png_bytes(colour=(4, 5, 6)),
            "ppmd.png": png_bytes(colour=(7, 8, 9)),
            "secret.png": png_bytes(colour=(10, 11, 12)),
            "also-good.jpg": jpeg_bytes(colour=(13, 14, 15)),
        }
    )
    corrupt_data(data, "bad-crc.png")
    patch_member(data, "ppmd.png", method=98)  # PPMd: not supported by zipfile
    patch_member(data, "secret.png", flags=0x1)  # encrypted
    archive = tmp_path / "damaged.zip"
    archive.write_bytes(bytes(data))

    report = image_set_import(name="damaged", source=archive)

    assert sorted(report.added) == ["also-good.jpg", "good.png"]
    reasons = dict(report.rejected)
    assert set(reasons) == {"bad-crc.png", "ppmd.png", "secret.png"}
    assert "damaged" in reasons["bad-crc.png"] and "CRC" in reasons["bad-crc.png"]
    assert "compression method" in reasons["ppmd.png"]
    assert "encrypted" in reasons["secret.png"]
    assert len(stored_files(media_root)) == 2
    assert Image.objects.count() == 2


def zipped_folder(path: Path, members: dict[str, bytes], top: str = "photos") -> Path:
    """What "compress this folder" makes: every member inside one top folder."""
    path.write_bytes(bytes(zip_bytes({f"{top}/{name}": data for name, data in members.items()})))
    return path


def test_a_zipped_folder_finds_its_labels_file(media_root, tmp_path):
    archive = zipped_folder(
        tmp_path / "photos.zip",
        {
            "labels.csv": b"file,label\none.png,tench\nsub/two.png,goldfish\n",
            "one.png": png_bytes(colour=(1, 0, 0)),
            "sub/two.png": png_bytes(colour=(0, 1, 0)),
        },
    )
    report = image_set_import(name="fish", source=archive, class_names=["tench", "goldfish"])
    assert sorted(report.added) == ["one.png", "sub/two.png"] and not report.rejected
    assert dict(Image.objects.values_list("original_name", "label_index")) == {
        "one.png": 0,
        "sub/two.png": 1,
    }


def test_a_zipped_folder_of_class_folders_labels_by_sub_folder(media_root, tmp_path):
    archive = zipped_folder(
        tmp_path / "pets.zip",
        {"cats/a.png": png_bytes(colour=(3, 0, 0)), "dogs/b.png": png_bytes(colour=(0, 3, 0))},
        top="pets",
    )
    report = image_set_import(name="pets", source=archive)
    assert sorted(report.added) == ["cats/a.png", "dogs/b.png"]
    assert sorted(Image.objects.values_list("label", flat=True)) == ["cats", "dogs"]


@pytest.mark.parametrize(
    ("names", "wrapper"),
    [
        (["photos/labels.csv", "photos/a.jpg"], "photos"),
        (["photos/cats/a.jpg", "photos/dogs/b.jpg"], "photos"),
        (["cats/a.jpg", "cats/b.jpg"], ""),  # one class, not a wrapper
        (["cats/a.jpg", "dogs/b.jpg"], ""),
        (["labels.csv", "a.jpg"], ""),
        ([], ""),
    ],
)
def test_wrapper_folder(names, wrapper):
    from explainers.services.image_sources import wrapper_folder

    assert wrapper_folder(names) == wrapper


def rotated_jpeg(orientation: int) -> bytes:
    """64×32 stored pixels, left half red and right half blue, with an EXIF Orientation tag."""
    picture = PILImage.new("RGB", (64, 32), BLUE)
    picture.paste(RED, (0, 0, 32, 32))
    exif = PILImage.Exif()
    exif[ORIENTATION] = orientation
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def close(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True))


def test_a_phone_photo_is_stored_upright(media_root, tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    # Orientation 6: stored column 0 is the displayed top row (rotate 90° clockwise to view).
    (folder / "IMG_0001.jpg").write_bytes(rotated_jpeg(6))
    report = image_set_import(name="phone", source=folder)
    assert report.added == ["IMG_0001.jpg"]
    image = Image.objects.get()
    assert (image.width, image.height) == (32, 64)
    with default_storage.open(image.file.name, "rb") as handle:
        stored = PILImage.open(io.BytesIO(handle.read()))
        stored.load()
    assert stored.format == "JPEG" and stored.size == (32, 64)
    assert stored.getexif().get(ORIENTATION, 1) == 1  # nothing left for a viewer to turn again
    rgb = stored.convert("RGB")
    assert close(rgb.getpixel((16, 8)), RED) and close(rgb.getpixel((16, 56)), BLUE)

    again = image_set_import(name="phone", source=folder)
    assert again.duplicates == ["IMG_0001.jpg"] and Image.objects.count() == 1


def test_an_upright_photo_is_stored_byte_for_byte(media_root, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    data = rotated_jpeg(1)
    (folder / "a.jpg").write_bytes(data)
    image_set_import(name="plain", source=folder)
    with default_storage.open(Image.objects.get().file.name, "rb") as handle:
        assert handle.read() == data


def test_compute_opens_only_accepted_formats(media_root):
    from explainers.services.compute import _open_rgb

    buffer = io.BytesIO()
    PILImage.new("RGB", (32, 32)).save(buffer, format="TIFF")
    name = default_storage.save("images/sneaky.png", ContentFile(buffer.getvalue()))
    with pytest.raises(UnidentifiedImageError):
        _open_rgb(Image(file=name))


def test_label_names_resolve_against_the_classifier_case_insensitively(media_root, tmp_path):
    classifier = Classifier.objects.create(
        name="fish",
        source=Classifier.Source.TORCHSCRIPT,
        class_names=["tench", "goldfish", "great_white_shark"],
    )
    archive = zipped_folder(
        tmp_path / "upload.zip",
        {
            "labels.csv": b"file,label\na.png,GoldFish\nb.png,Great White-Shark\nc.png,eel\n",
            "a.png": png_bytes(colour=(5, 0, 0)),
            "b.png": png_bytes(colour=(0, 5, 0)),
            "c.png": png_bytes(colour=(0, 0, 5)),
        },
    )
    report = image_set_import(name="upload", source=archive, classifier=classifier)
    assert len(report.added) == 3
    assert dict(Image.objects.values_list("original_name", "label_index")) == {
        "a.png": 1,
        "b.png": 2,
        "c.png": None,  # not a class of this classifier: no index, never guessed
    }
