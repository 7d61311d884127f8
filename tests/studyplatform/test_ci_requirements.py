"""CI cannot pass by skipping: under ``REQUIRE_SERVICES=1`` missing shared data fails the tests
that need it, and ``.ci/run`` provides what the skipping tests need (the data folder, node)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_probe_needs_the_shared_data(shared_data_dir: Path, imagenet_sample_dir: Path):
    """Run by the tests below in a child pytest; here it runs like any data-needing test."""
    assert shared_data_dir.is_dir() and imagenet_sample_dir.is_dir()


def run_probe(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REQUIRE_SERVICES"}
    env.update(DEBUG="true", SHARED_DATA_DIR=str(tmp_path / "no-such-folder"), **variables)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{Path(__file__).relative_to(ROOT)}::test_probe_needs_the_shared_data",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_missing_shared_data_is_a_skip_outside_ci(tmp_path):
    result = run_probe(tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert re.search(r"\b1 skipped\b", result.stdout), result.stdout[-2000:]
    assert "shared data not found" in result.stdout


def test_missing_shared_data_fails_under_require_services(tmp_path):
    result = run_probe(tmp_path, REQUIRE_SERVICES="1")
    assert result.returncode == 1, result.stdout[-2000:]
    assert re.search(r"\b1 error\b|\b1 failed\b", result.stdout), result.stdout[-2000:]
    assert "skipped" not in result.stdout
    assert "shared data not found" in result.stdout and "REQUIRE_SERVICES=1" in result.stdout


@pytest.fixture(scope="module")
def ci_script() -> str:
    return (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_ci_installs_node_from_debian_packages_when_missing(ci_script):
    assert re.search(r"command -v node\b", ci_script)
    assert re.search(r"apt-get install [^\n]*\bnodejs\b", ci_script)
    assert re.search(r"^node --version", ci_script, re.M)  # set -e: no node, no CI


def test_ci_checks_the_shared_data_folders_before_the_tests(ci_script):
    loop = re.search(
        r"^for folder in ([^;\n]+); do\n\s+test -d \"\$SHARED_DATA_DIR/\$folder\"", ci_script, re.M
    )
    assert loop and {"imagenet-sample", "reference"} <= set(loop.group(1).split())
    assert loop.start() < ci_script.index("make test")
