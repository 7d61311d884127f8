"""The command line, the HTML report, and the no-Django rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

import analysis
from analysis import synthetic
from analysis.__main__ import main
from analysis.report import format_number

ROOT = Path(__file__).resolve().parents[2]


def test_cli_writes_results_report_and_plots(tmp_path, capsys):
    table = tmp_path / "tidy.csv"
    synthetic.preference_study(n_participants=10, n_items=9, seed=1).to_csv(table, index=False)
    metrics = tmp_path / "metrics.csv"
    pd.DataFrame({"method": ["gradcam", "rise", "smoothgrad"], "dauc": [0.1, 0.2, 0.3]}).to_csv(
        metrics, index=False
    )
    out = tmp_path / "out"
    code = main(
        ["preference", str(table), "--out", str(out), "--metrics", str(metrics), "--n-boot", "200"]
    )
    assert code == 0
    results = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=["NA"])
    assert list(results.columns) == list(analysis.RESULT_COLUMNS)
    assert "bradley_terry" in set(results["analysis"])
    assert "human_vs_metric" in set(results["analysis"])
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (out / "win_matrix.png").read_bytes().startswith(b"\x89PNG")
    assert "result rows" in capsys.readouterr().out


def test_cli_bad_table_exits_non_zero_with_a_message(tmp_path):
    table = tmp_path / "bad.csv"
    synthetic.likert_study(n_participants=4, n_items=3).drop(columns=["rating"]).to_csv(
        table, index=False
    )
    proc = subprocess.run(
        [sys.executable, "-m", "analysis", "likert", str(table), "--out", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "rating" in proc.stderr
    assert "Traceback" not in proc.stderr
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            "likert",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_bad_options_and_output_paths_are_errors_not_tracebacks(tmp_path):
    table = tmp_path / "tidy.csv"
    synthetic.likert_study(n_participants=4, n_items=3).to_csv(table, index=False)
    for value in ("0", "-5", "many"):
        proc = _cli("likert", str(table), "--out", str(tmp_path / "o"), "--n-boot", value)
        assert proc.returncode == 2, proc.stderr
        assert "error:" in proc.stderr and "--n-boot" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()

    a_file = tmp_path / "results.csv"
    a_file.write_text("keep me", encoding="utf-8")
    for out in (a_file, a_file / "sub"):
        proc = _cli("likert", str(table), "--out", str(out), "--no-plots", "--n-boot", "10")
        assert proc.returncode == 2, proc.stderr
        assert "error:" in proc.stderr and "not a directory" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert a_file.read_text(encoding="utf-8") == "keep me"  # changes nothing


def test_cli_reports_a_directory_it_cannot_write_to(tmp_path, monkeypatch, capsys):
    table = tmp_path / "tidy.csv"
    synthetic.likert_study(n_participants=4, n_items=3).to_csv(table, index=False)

    def refuse(self, directory):
        raise PermissionError(13, "Permission denied", str(directory))

    monkeypatch.setattr(analysis.AnalysisResult, "write", refuse)
    code = main(
        ["likert", str(table), "--out", str(tmp_path / "o"), "--no-plots", "--n-boot", "10"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the results to") and "Permission denied" in err


def test_report_is_self_contained(tmp_path):
    result = analysis.analyze(
        "likert", synthetic.likert_study(n_participants=12, n_items=6), n_boot=50
    )
    html = result.report_html(title="Pilot <1>")
    assert "Pilot &lt;1&gt;" in html
    assert html.count("data:image/png;base64,") == len(result.plots)
    assert "http://" not in html and "https://" not in html
    for name in ("numpy", "scipy", "statsmodels", "pandas", "matplotlib"):
        assert name in html
    assert "krippendorff_alpha" in html
    assert format_number(100000.0) == "100000" and format_number(0.000012345) == "0.0000"
    assert format_number(-3.43e-14) == "0.0000" and format_number(-0.00012) == "-0.00012"
    assert format_number(float("nan")) == "" and format_number(0.123456) == "0.1235"
    path = tmp_path / "likert.csv"
    synthetic.likert_study(n_participants=12, n_items=6).to_csv(path, index=False)
    from_path = analysis.analyze("likert", str(path), n_boot=50, plots=False)
    assert from_path.n_participants == 12


def test_importing_and_running_analysis_loads_no_django():
    code = (
        "import sys, analysis\n"
        "from analysis import synthetic\n"
        "analysis.analyze('simulation', synthetic.simulation_study(n_participants=12, "
        "n_items=5), n_boot=20)\n"
        "import analysis.power\n"
        "bad = [m for m in sys.modules if m == 'django' or m.startswith('django.')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
