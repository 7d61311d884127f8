"""Reading an image set's files from a folder or a zip archive, with their labels.

Labels come from a CSV (``file`` plus ``label`` or ``class_name``, optional ``class_index``) or from
one sub-folder per class. Zip members are read in memory with bounded sizes; members whose path
would escape the archive's folder (absolute paths, ``..``) are refused, never extracted, and a
member that cannot be read (bad CRC, unsupported compression, encryption) is that file's problem
only: the other files are kept.

Zipping a folder wraps everything in one top folder (``photos/labels.csv``, ``photos/cats/a.jpg``).
That wrapper is stripped from member names (see :func:`wrapper_folder`) so that the labels file and
the class sub-folders are found as if the folder itself had been given.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from explainers.services.image_validation import MAX_FILE_BYTES

MAX_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024
MAX_MEMBERS = 20_000
SKIPPED_NAMES = {".DS_Store", "Thumbs.db"}
LABEL_FILE_NAME = "labels.csv"
#: What reading one zip member can raise: a bad CRC or damaged data (BadZipFile, zlib.error,
#: EOFError), an unsupported compression method (NotImplementedError), an encrypted member
#: (RuntimeError: password required), a missing optional codec (ImportError: bz2, lzma).
MEMBER_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ImportError,
    OSError,
    ValueError,
)


class SourceError(ValueError):
    """The folder, archive or label file as a whole cannot be used."""


@dataclass(frozen=True)
class SourceFile:
    name: str  # path relative to the folder or archive root, with forward slashes
    data: bytes | None  # None when the file was refused before reading
    problem: str = ""


@dataclass(frozen=True)
class Label:
    name: str
    index: int | None


def _safe_member_name(name: str) -> str | None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        return None
    return str(path)


def _skipped(name: str) -> bool:
    return PurePosixPath(name).name in SKIPPED_NAMES or name.startswith("__MACOSX/")


def wrapper_folder(names: Sequence[str]) -> str:
    """The one top folder that wraps every name, when it is a wrapper and not a class ('' if none).

    A shared top folder is a wrapper when it holds the labels file directly or holds sub-folders
    (then those are the classes). A lone folder of images with no labels file is ambiguous and is
    kept: its name stays the class of its files (one-class layout), as before.
    """
    parts = [PurePosixPath(name).parts for name in names]
    if not parts or any(len(p) < 2 for p in parts) or len({p[0] for p in parts}) != 1:
        return ""
    inner = [p[1:] for p in parts]
    if any(p == (LABEL_FILE_NAME,) or len(p) >= 2 for p in inner):
        return parts[0][0]
    return ""


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes | str:
    """The member's bytes (at most one byte over the limit), or why it cannot be read."""
    try:
        with archive.open(member) as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except MEMBER_ERRORS as error:
        if isinstance(error, RuntimeError) and "encrypted" in str(error):
            return "the file is encrypted (password-protected archives are not supported)"
        if isinstance(error, NotImplementedError):
            return f"the file uses a compression method that cannot be read ({error})"
        return f"the file is damaged in the archive ({type(error).__name__}: {error})"


def iter_zip(path: Path) -> Iterator[SourceFile]:
    """Every file of the archive, wrapper folder stripped; unreadable members carry a problem."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise SourceError(f"{path.name} is not a readable zip archive ({error})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_MEMBERS:
            raise SourceError(f"the archive has {len(members)} files, more than {MAX_MEMBERS}")
        if sum(m.file_size for m in members) > MAX_ARCHIVE_BYTES:
            raise SourceError("the archive expands to more than 2 GB")
        safe = {id(m): _safe_member_name(m.filename) for m in members}
        wrapper = wrapper_folder([n for n in safe.values() if n is not None and not _skipped(n)])
        for member in members:
            name = safe[id(member)]
            if name is None:
                yield SourceFile(member.filename, None, "path escapes the archive's folder")
                continue
            if _skipped(name):
                continue
            if wrapper:
                name = name[len(wrapper) + 1 :]
            if member.file_size > MAX_FILE_BYTES:
                yield SourceFile(name, None, f"larger than {MAX_FILE_BYTES / 1e6:.0f} MB")
                continue
            data = _read_member(archive, member)
            if isinstance(data, str):
                yield SourceFile(name, None, data)
                continue
            if len(data) > MAX_FILE_BYTES:
                yield SourceFile(name, None, f"larger than {MAX_FILE_BYTES / 1e6:.0f} MB")
                continue
            yield SourceFile(name, data)


def iter_folder(root: Path) -> Iterator[SourceFile]:
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder")
    resolved_root = root.resolve()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name in SKIPPED_NAMES or path.name.startswith("."):
            continue
        name = path.relative_to(root).as_posix()
        if not path.resolve().is_relative_to(resolved_root):
            yield SourceFile(name, None, "link points outside the folder")
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            yield SourceFile(name, None, f"larger than {MAX_FILE_BYTES / 1e6:.0f} MB")
            continue
        yield SourceFile(name, path.read_bytes())


def read_labels_csv(data: bytes) -> dict[str, Label]:
    """``file,label`` (or ``file,class_name``, with optional ``class_index``) → labels by file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError("the labels CSV is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if "file" not in fields:
        raise SourceError("the labels CSV needs a 'file' column (and 'label' or 'class_index')")
    name_field = fields.get("label") or fields.get("class_name")
    index_field = fields.get("class_index")
    if name_field is None and index_field is None:
        raise SourceError("the labels CSV needs a 'label', 'class_name' or 'class_index' column")
    labels: dict[str, Label] = {}
    for line, row in enumerate(reader, start=2):
        file_name = (row.get(fields["file"]) or "").strip()
        if not file_name:
            raise SourceError(f"labels CSV line {line}: empty file name")
        index: int | None = None
        raw_index = (row.get(index_field) or "").strip() if index_field else ""
        if raw_index:
            try:
                index = int(raw_index)
            except ValueError:
                raise SourceError(
                    f"labels CSV line {line}: class_index {raw_index!r} is not an integer"
                ) from None
        name = (row.get(name_field) or "").strip() if name_field else ""
        if name_field == fields.get("label") and not index_field and name.isdigit():
            index, name = int(name), ""
        labels[file_name] = Label(name=name, index=index)
    return labels


def folder_label(name: str) -> str:
    """The class of a file in one-sub-folder-per-class layout ('' at the top level)."""
    parts = PurePosixPath(name).parts
    return parts[-2] if len(parts) >= 2 else ""
