"""The environment for running Snakemake locally from the tests.

Snakemake imports every installed executor plugin when it starts, and the Slurm plugin then runs
``scontrol show config`` (10 s timeout) to build its help text. On a machine with the Slurm
client installed but no controller answering (CI between the Slurm tests, a developer's machine
after them) every ``snakemake`` call waits ~9 s for it. Local runs never use Slurm, so a stub
``scontrol`` that fails at once goes first on ``PATH``.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_STUB_DIR: Path | None = None


def _stub_dir() -> Path:
    global _STUB_DIR
    if _STUB_DIR is None:
        _STUB_DIR = Path(tempfile.mkdtemp(prefix="nngrid-stub-"))
        atexit.register(shutil.rmtree, _STUB_DIR, ignore_errors=True)
        scontrol = _STUB_DIR / "scontrol"
        scontrol.write_text("#!/bin/sh\nexit 1\n")
        scontrol.chmod(0o755)
    return _STUB_DIR


def local_env(**extra: str) -> dict[str, str]:
    """``os.environ`` plus ``extra``, with the stub ``scontrol`` first on ``PATH``."""
    env = {**os.environ, **extra}
    env["PATH"] = f"{_stub_dir()}{os.pathsep}{env.get('PATH', '')}"
    return env
