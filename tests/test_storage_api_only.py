"""Every media read and write goes through Django's storage API (issue 18).

With ``MEDIA_STORAGE=s3`` there is no media folder: a worker on a GPU host and the web server
share only the bucket. Code that builds a path under ``MEDIA_ROOT``, asks a ``FieldFile`` or a
storage for its ``.path``, or makes a ``FileSystemStorage`` of its own works on one host and
breaks on two. This reads the code's syntax trees and names every such place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("studyplatform", "explainers", "studies", "analysis")
# settings.py defines MEDIA_ROOT for the file-system backend, which is its only reader.
ALLOWED_MEDIA_ROOT = {"studyplatform/settings.py"}
# ``request.path`` is the URL's path, ``os.path`` the module, ``env.path`` the settings' reader.
PATH_OWNERS = {"request", "os", "self.request", "env"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def violations(source: str, where: str) -> list[str]:
    """The places of ``source`` that bypass the storage API, as ``where:line: why``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute):
            if node.attr == "MEDIA_ROOT" and where not in ALLOWED_MEDIA_ROOT:
                found.append(f"{where}:{line}: reads MEDIA_ROOT")
            elif node.attr == "path" and _dotted(node.value) not in PATH_OWNERS:
                found.append(f"{where}:{line}: {_dotted(node.value) or '…'}.path (a disk path)")
        elif (
            isinstance(node, ast.Name)
            and node.id == "MEDIA_ROOT"
            and where not in ALLOWED_MEDIA_ROOT
        ):
            found.append(f"{where}:{line}: reads MEDIA_ROOT")
        elif isinstance(node, ast.Constant) and node.value == "MEDIA_ROOT":
            parent_ok = where in ALLOWED_MEDIA_ROOT or where.endswith("envconfig.py")
            if not parent_ok:
                found.append(f"{where}:{line}: names MEDIA_ROOT (getattr(settings, …)?)")
        elif isinstance(node, ast.Call) and _dotted(node.func).endswith("FileSystemStorage"):
            found.append(f"{where}:{line}: makes its own FileSystemStorage")
    return found


def _modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def test_code_reads_and_writes_media_through_the_storage_api_only():
    found = [
        problem
        for path in _modules()
        for problem in violations(path.read_text("utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "snippet",
    [
        "from django.conf import settings\nopen(settings.MEDIA_ROOT / 'maps' / name)",
        "from django.conf import settings\nroot = getattr(settings, 'MEDIA_ROOT')",
        "torch.jit.load(row.file.path)",
        "Image.open(default_storage.path(name))",
        "from django.conf.settings import MEDIA_ROOT\nprint(MEDIA_ROOT)",
        "storage = FileSystemStorage(location='/data')",
        "from django.core.files import storage\ns = storage.FileSystemStorage()",
    ],
)
def test_the_check_finds_each_way_around_the_storage_api(snippet):
    assert violations(snippet, "explainers/example.py")


@pytest.mark.parametrize(
    "snippet",
    [
        "if request.path.startswith('/api/'): pass",
        "import os\nos.path.join('a', 'b')",
        "with default_storage.open(name, 'rb') as handle: data = handle.read()",
        "with row.file.open('rb') as handle: data = handle.read()",
    ],
)
def test_the_check_lets_the_storage_api_and_url_paths_through(snippet):
    assert not violations(snippet, "explainers/example.py")
