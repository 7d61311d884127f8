"""The pure cores import no Django (DESIGN.md: layers and the direction of imports)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ("explainers/core", "analysis")
FORBIDDEN = ("django", "rest_framework", "celery", "studies", "studyplatform", "explainers.models")


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_source_imports_no_django(package):
    folder = ROOT / package
    assert folder.is_dir(), f"{package} is missing"
    offenders = []
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
            ]
    assert not offenders, offenders


@pytest.mark.parametrize("module", ["explainers.core", "analysis"])
def test_importing_a_pure_package_loads_no_django(module):
    code = (
        f"import sys, {module}; "
        "bad = [m for m in sys.modules if m == 'django' or m.startswith('django.')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_explainers_never_imports_studies():
    """Data flows one way: studies depends on explainers. Explainers reports through signals
    (explainers.signals) that studies listens to, never by importing it."""
    offenders = []
    for path in (ROOT / "explainers").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name == "studies" or name.startswith("studies.")
            ]
    assert not offenders, offenders
