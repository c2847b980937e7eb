#!/usr/bin/env bash
# Create the benchmark's own environment bench/.venv (git-ignored by the `.venv/` rule).
#
# torch lives ONLY here, never in the project's environment. The pin is exact: on this machine a
# CPU wheel of torch 2.13.0 lies in pip's find-links directory; a range or a bare `torch` would
# pull a multi-GB CUDA build from an index.
#
# Usage:  bash bench/setup.sh            (idempotent: an existing venv is reused)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$here/.venv"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check)
"${pip[@]}" "torch==2.13.0" "numpy==2.4.6" "scikit-learn==1.9.1" threadpoolctl
# The core needs NumPy only; --no-deps keeps pandas, snakemake and the rest out of this venv.
"${pip[@]}" --no-deps -e "$root"
"$venv/bin/python" - <<'PY'
import numpy, sklearn, threadpoolctl, torch
import nngrid
print("bench venv ready: torch", torch.__version__, "numpy", numpy.__version__,
      "sklearn", sklearn.__version__, "threadpoolctl", threadpoolctl.__version__)
PY
