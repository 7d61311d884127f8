"""The source hash that stamps cached results: any change of the analysis code changes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import analysis

PACKAGE = Path(analysis.__file__).resolve().parent


def test_source_hash_is_the_digest_of_the_package_and_computed_once():
    assert analysis.source_hash() == analysis.source_digest(PACKAGE)
    assert len(analysis.source_hash()) == 64
    assert analysis.source_hash.cache_info().currsize == 1  # once per process


def test_source_digest_changes_with_any_edit_addition_or_rename(tmp_path):
    copy = tmp_path / "analysis"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    original = analysis.source_digest(copy)
    assert original == analysis.source_digest(PACKAGE)  # by relative path: location-free

    glmm = copy / "mixed" / "glmm.py"
    text = glmm.read_text(encoding="utf-8")
    glmm.write_text(text.replace("def ", "def  ", 1), encoding="utf-8")
    edited = analysis.source_digest(copy)
    assert edited != original
    glmm.write_text(text, encoding="utf-8")
    assert analysis.source_digest(copy) == original

    (copy / "mixed" / "extra.py").write_text("X = 1\n", encoding="utf-8")
    assert analysis.source_digest(copy) not in (original, edited)
    (copy / "mixed" / "extra.py").unlink()
    (copy / "mixed" / "glmm.py").rename(copy / "mixed" / "glmm2.py")
    assert analysis.source_digest(copy) != original

    (copy / "mixed" / "glmm2.py").rename(copy / "mixed" / "glmm.py")
    (copy / "notes.txt").write_text("not source", encoding="utf-8")
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "x.py").write_text("compiled", encoding="utf-8")
    assert analysis.source_digest(copy) == original
