"""The checks every contributor runs before stopping, run as tests so CI enforces them."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check_is_clean():
    res = _run(sys.executable, "-m", "ruff", "check", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_is_clean():
    res = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_snakemake_lint_is_clean():
    res = _run("snakemake", "--lint")
    assert res.returncode == 0 and "Lints for" not in res.stdout + res.stderr, (
        res.stdout + res.stderr
    )


def test_snakefmt_is_clean():
    exe = shutil.which("snakefmt")
    assert exe, "snakefmt is in the test extra; install with pip install -e '.[test]'"
    res = _run(exe, "--check", ".")
    assert res.returncode == 0, res.stdout + res.stderr
