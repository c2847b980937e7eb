"""The workflow on a real one-node Slurm cluster, through snakemake-executor-plugin-slurm.

Marked ``slurm``: run with ``pytest -m slurm tests/test_slurm.py`` as root (the fixture starts
munged, slurmctld and slurmd, installing the Debian packages first if they are missing, and
stops what it started; a cluster that already answers ``sinfo`` is reused and left running).

* ``test_tiny_workflow_on_slurm``: a three-job group and a local rule, run with the repository's
  ``profiles/slurm``: proves the cluster, the status polling through squeue and the grouping.
* ``test_quick_workflow_on_slurm``: ``config/quick.yaml`` through the slurm profile; every
  training JSON records its Slurm job id, and ``results/tables/runs.csv`` equals a local run's
  apart from timing columns and the job ids.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import slurm_cluster as sc  # noqa: E402

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
# Generous: the quick study trains for about a minute; a hung status check must still end.
TINY_TIMEOUT = 300
QUICK_TIMEOUT = 1200


@pytest.fixture(scope="session")
def slurm_cluster():
    """A one-node Slurm cluster for the session; tears down only the daemons it started."""
    if os.geteuid() != 0 and not sc.cluster_is_up():
        pytest.skip("starting a Slurm cluster needs root, and none is running")
    cluster = sc.start()
    yield cluster
    sc.stop(cluster.pids)


def _clean_env() -> dict[str, str]:
    """The environment without SLURM_* variables (in case pytest itself runs inside a job)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}


def run_snakemake(args: list[str], cwd: Path, timeout: float) -> subprocess.Popen:
    """Start ``snakemake *args`` in ``cwd``, output to ``cwd/snakemake.out``; see :func:`finish`."""
    out = (cwd / "snakemake.out").open("wb")
    proc = subprocess.Popen(
        ["snakemake", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=_clean_env(),
    )
    proc.nngrid_timeout = timeout  # type: ignore[attr-defined]
    out.close()
    return proc


def finish(proc: subprocess.Popen, cwd: Path) -> str:
    """Wait for ``proc``; on timeout send SIGINT (the slurm executor ignores SIGTERM), which
    cancels its Slurm jobs, then SIGKILL. Assert exit status 0; return the output."""
    try:
        proc.wait(timeout=proc.nngrid_timeout)  # type: ignore[attr-defined]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = (cwd / "snakemake.out").read_text(errors="replace")
    tail = "\n".join(text.splitlines()[-60:])
    assert proc.returncode == 0, f"snakemake in {cwd} exited {proc.returncode}:\n{tail}"
    return text


def copy_workflow(dest: Path) -> Path:
    """Copy the Snakefile, workflow/, config/ and profiles/ of the repository into ``dest``."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    for name in ("workflow", "config", "profiles"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


TINY_SNAKEFILE = """\
localrules:
    all,
    collect,


rule all:
    input:
        "collected.txt",


rule train:
    output:
        "runs/{i}.txt",
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    shell:
        "echo ${{SLURM_JOB_ID:-none}} > {output}"


rule collect:
    input:
        expand("runs/{i}.txt", i=range(3)),
    output:
        "collected.txt",
    shell:
        "echo ${{SLURM_JOB_ID:-none}} > {output}"
"""


def job_state(job_id: str) -> str:
    """``JobState`` from ``scontrol show job`` (finished jobs stay visible for MinJobAge)."""
    out = subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout
    return next(w.split("=", 1)[1] for w in out.split() if w.startswith("JobState="))


def test_tiny_workflow_on_slurm(slurm_cluster, tmp_path):
    """Three `train` jobs go to Slurm as one group job; `collect` runs locally."""
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)
    shutil.copytree(PROFILE, tmp_path / "profiles" / "slurm")
    proc = run_snakemake(["--profile", "profiles/slurm"], tmp_path, TINY_TIMEOUT)
    finish(proc, tmp_path)

    job_ids = {(tmp_path / f"runs/{i}.txt").read_text().strip() for i in range(3)}
    assert len(job_ids) == 1, f"the three grouped jobs ran in several Slurm jobs: {job_ids}"
    (job_id,) = job_ids
    assert job_id.isdigit(), f"a grouped job saw SLURM_JOB_ID={job_id!r}"
    assert job_state(job_id) == "COMPLETED"
    # The local rule ran in the Snakemake process, outside any Slurm job.
    assert (tmp_path / "collected.txt").read_text().strip() == "none"


def _comparable(csv: Path):
    """runs.csv without timing columns and job ids, rows in a canonical order."""
    import pandas as pd

    df = pd.read_csv(csv)
    drop = [
        c
        for c in df.columns
        if "second" in c.lower() or "time" in c.lower() or c in ("slurm_job_id", "history")
    ]
    df = df.drop(columns=drop)
    return df.sort_values(list(df.columns), kind="stable").reset_index(drop=True)


def test_quick_workflow_on_slurm(slurm_cluster, tmp_path):
    """The quick study on Slurm gives the local run's table, every job with a Slurm job id."""
    missing = [p for p in ("Snakefile", "workflow", "config/quick.yaml") if not (REPO / p).exists()]
    if missing:
        pytest.skip(f"the workflow is not in the repository yet: {', '.join(missing)}")
    import pandas as pd

    on_slurm = copy_workflow(tmp_path / "slurm")
    local = copy_workflow(tmp_path / "local")
    quick = ["--configfile", "config/quick.yaml"]
    # Both at once: the Slurm run spends most of its time waiting for status checks.
    slurm_proc = run_snakemake(["--profile", "profiles/slurm", *quick], on_slurm, QUICK_TIMEOUT)
    local_proc = run_snakemake(["--cores", "2", *quick], local, QUICK_TIMEOUT)
    finish(local_proc, local)
    finish(slurm_proc, on_slurm)

    runs = sorted((on_slurm / "results" / "runs").rglob("*.json"))
    assert runs, "the Slurm run wrote no training JSON under results/runs"
    assert len(runs) == len(list((local / "results" / "runs").rglob("*.json")))
    for path in runs:
        record = json.loads(path.read_text())
        assert record["slurm_job_id"], f"{path} has no slurm_job_id"
        assert all(row["slurm_job_id"] == record["slurm_job_id"] for row in record["rows"])

    table = pd.read_csv(on_slurm / "results/tables/runs.csv")
    assert table["slurm_job_id"].notna().all()
    pd.testing.assert_frame_equal(
        _comparable(on_slurm / "results/tables/runs.csv"),
        _comparable(local / "results/tables/runs.csv"),
        check_exact=True,
    )
