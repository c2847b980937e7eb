#!/usr/bin/env bash
# Runs once, inside the new conda env, from the directory snakemake was started in (the
# repository root): install the nngrid package of this working copy, without dependencies
# (the env file already pins them).
set -euo pipefail
python -m pip install --no-deps --no-build-isolation --editable .
