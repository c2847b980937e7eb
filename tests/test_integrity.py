"""Integrity (nngrid.study.integrity): results trusted by their content, not by where they lie;
nothing from a config is markup or template in the report; plugins cannot fake success; input
bounds at the edge; SIGTERM/SIGHUP stop a run cleanly.

The fast tests drive the functions and the command lines directly. The workflow tests share one
tiny study (``SMALL``: 4 training jobs of a few epochs) built once per module; each probe works in
its own copy of it. The injection test builds a real report (``snakemake --report``) from a tiny
study and is not slow-marked; the tampering probes and the signal runs are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from local_env import local_env
from test_reliability import (
    TIMEOUT,
    assert_same_tables,
    no_temporary_files,
    read_tables,
    session_gone,
    snakemake,
    start_snakemake,
    training_processes,
    wait_for,
    workflow_copy,
)

from nngrid.errors import NngridError
from nngrid.io import write_json
from nngrid.study import integrity as I

ROOT = Path(__file__).resolve().parents[1]

SMALL = {
    "data_seed": 0,
    "splits": {"val_fraction": 0.25, "test_fraction": 0.25},
    "datasets": {
        "moons": {"params": {"n_samples": 200, "noise": 0.2}},
        "circles": {"params": {"n_samples": 200, "noise": 0.1, "factor": 0.5}},
    },
    "regularizers": {"none": {}},
    "optimizers": {
        "sgd": {"lr_grid": {"low": 1.0e-2, "high": 1.0, "points": 2}},
        "adam": {"lr_grid": {"low": 1.0e-3, "high": 1.0e-1, "points": 2}},
    },
    "training": {"hidden": [8], "epochs": 5, "batch_size": 32, "seeds": [0, 1]},
    "tuning": {"seeds": 1, "extend": 0},
    "studies": {
        "small": {
            "datasets": ["moons", "circles"],
            "activations": ["relu"],
            "regularizers": ["none"],
            "optimizers": ["sgd", "adam"],
        }
    },
}
TABLES_TARGET = "tables"


def fix_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("nngrid:")]


def run_module(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env or local_env(),
        cwd=cwd,
    )


# ------------------------------------------------------------------------------------------
# Results, specs and datasets by content (fast)
# ------------------------------------------------------------------------------------------


def _result(tmp_path: Path, name: str, spec: dict) -> Path:
    path = tmp_path / f"{name}.json"
    doc = {"spec": spec, "rows": [], "seconds": 0.0, **I.job_stamp(spec, None)}
    write_json(path, doc, checksum=True)
    return path


def _docs(paths):
    return [json.loads(Path(p).read_text()) for p in paths]


def test_a_copied_result_is_refused_by_its_spec_digest(tmp_path):
    a = _result(tmp_path, "a", {"axes": {"dataset": "moons"}})
    b = _result(tmp_path, "b", {"axes": {"dataset": "circles"}})
    expected = [
        I.spec_digest({"axes": {"dataset": "moons"}}),
        I.spec_digest(json.loads(b.read_text())["spec"]),
    ]
    I.check_results([a, b], _docs([a, b]), expected)  # each stands for its job
    shutil.copy(a, b)  # moons' result where circles' belongs
    with pytest.raises(NngridError) as exc:
        I.check_results([a, b], _docs([a, b]), expected)
    assert str(b) in str(exc.value) and "another spec" in str(exc.value)
    assert f"snakemake --forcerun {b}" in str(exc.value)
    # without expectations the copy is still caught: one job's result twice
    with pytest.raises(NngridError, match="same job"):
        I.check_results([a, b], _docs([a, b]))


def test_a_symlinked_or_unstamped_result_is_refused(tmp_path):
    a = _result(tmp_path, "a", {"axes": {"dataset": "moons"}})
    link = tmp_path / "link.json"
    link.symlink_to(a)
    with pytest.raises(NngridError, match="symbolic link"):
        I.check_results([link], _docs([link]))
    plain = tmp_path / "plain.json"
    write_json(plain, {"spec": {}, "rows": []}, checksum=True)
    with pytest.raises(NngridError, match="names no spec digest"):
        I.check_results([plain], _docs([plain]))
    forged = tmp_path / "forged.json"
    write_json(forged, {"spec": {"x": 1}, "rows": [], "spec_sha256": "0" * 64}, checksum=True)
    with pytest.raises(NngridError, match="does not match its spec digest"):
        I.check_results([forged], _docs([forged]))


def test_an_edited_or_truncated_spec_file_is_refused_by_the_job(tmp_path):
    spec = {"training": {"epochs": 15}, "seeds": [0]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec, sort_keys=True, separators=(",", ":")) + "\n")
    digest = I.spec_digest(spec)[:16]
    assert I.read_job_spec(str(path), digest) == spec
    path.write_text(path.read_text().replace("15", "3"))
    with pytest.raises(NngridError) as exc:
        I.read_job_spec(str(path), digest)
    assert str(path) in str(exc.value) and "differs from the spec its rule holds" in str(exc.value)
    assert "rerun snakemake" in str(exc.value)
    path.write_text(path.read_text()[:10])
    with pytest.raises(NngridError, match="rerun snakemake"):
        I.read_job_spec(str(path), digest)
    with pytest.raises(NngridError):
        I.read_job_spec(str(path), "abc")  # too short a digest is never accepted


def _dataset(folder: Path, label: str, **params) -> tuple[Path, dict]:
    from nngrid.datasets import build, describe, save_dataset

    spec = {"kind": label, "seed": 0, "val_fraction": 0.2, "test_fraction": 0.2, "params": params}
    splits = build(label, seed=0, **params)
    save_dataset(folder / f"{label}.npz", splits)
    write_json(folder / f"{label}.json", {**describe(splits), "spec": spec})
    return folder / f"{label}.npz", spec


def test_a_swapped_dataset_is_refused_by_its_json(tmp_path):
    moons, moons_spec = _dataset(tmp_path, "moons", n_samples=60)
    circles, _ = _dataset(tmp_path, "circles", n_samples=60)
    assert (
        I.check_job_data(moons, {"data": moons_spec})
        == json.loads((tmp_path / "moons.json").read_text())["sha256"]
    )
    backup = moons.read_bytes()
    shutil.copy(circles, moons)  # the probe: cp circles.npz moons.npz
    with pytest.raises(NngridError) as exc:
        I.check_job_data(moons, {"data": moons_spec})
    assert "does not match the sha256 in" in str(exc.value) and str(moons) in str(exc.value)
    moons.write_bytes(backup)
    shutil.copy(circles.with_suffix(".json"), moons.with_suffix(".json"))
    shutil.copy(circles, moons)  # both swapped: the .json names another dataset spec
    with pytest.raises(NngridError, match="describes another dataset"):
        I.check_job_data(moons, {"data": moons_spec})


def test_stale_specs_and_results_are_removed_at_load_and_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["snakemake", "--cores", "2"])
    spec = tmp_path / "spec.json"
    spec.write_text('{"a":1}\n')
    assert I.remove_stale_specs({str(spec): '{"a":1}'}) == []
    spec.write_text('{"a":')
    assert I.remove_stale_specs({str(spec): '{"a":1}'}) == [str(spec)] and not spec.exists()
    good = _result(tmp_path, "good", {"n": 1})
    old = _result(tmp_path, "old", {"n": 0})  # an earlier run's result at a newer job's path
    tables = tmp_path / "runs.parquet"
    tables.write_text("x")
    want = {str(good): I.spec_digest({"n": 1}), str(old): I.spec_digest({"n": 2})}
    monkeypatch.setattr(sys, "argv", ["snakemake", "-n"])  # a dry run only names it
    assert I.remove_stale_results(want, [str(tables)]) == [str(old)] and old.exists()
    monkeypatch.setattr(sys, "argv", ["snakemake", "--cores", "1"])
    assert I.remove_stale_results(want, [str(tables)]) == [str(old)]
    assert good.exists() and not old.exists() and not tables.exists()
    err = capsys.readouterr().err
    assert f"nngrid: {old} is not its job's result: made from another spec" in err


def test_an_experiment_result_copied_or_edited_is_refused(tmp_path):
    from nngrid.study.experiments import load, save

    result = {"records": [{"cure": "none", "value": 0.5}], "grid": np.arange(3.0)}
    stamped = I.stamp_experiment_result(result, "data_size_sweep", {"epochs": 3}, 0)
    path = tmp_path / "data_size_sweep.npz"
    save(path, stamped)
    loaded = load(path)
    assert set(loaded) == {"records", "grid"} and loaded["records"] == result["records"]
    copy = tmp_path / "regression_overfitting.npz"
    shutil.copy(path, copy)
    with pytest.raises(NngridError, match="result of experiment 'data_size_sweep'"):
        load(copy)
    save(path, {**stamped, "grid": np.arange(4.0)})  # an entry changed, the stamp kept
    with pytest.raises(NngridError, match="does not match its sha256"):
        load(path)
    # the stamp names the settings' digest, which the workflow compares at load
    assert I._named_digest(str(copy)) == I.experiment_digest("data_size_sweep", {"epochs": 3}, 0)


def test_an_architectures_result_edited_or_copied_is_refused_by_the_merge(tmp_path):
    from nngrid.study.experiments import load, save

    paths, expected = [], []
    for name in ("cnn", "gru"):
        spec = {"axes": {"architecture": name}}
        res = {"records": [{"architecture": name, "test_accuracy": 0.9}], "curves": []}
        paths.append(tmp_path / f"{name}.npz")
        save(paths[-1], I.stamp_architecture_result(res, spec, None))
        expected.append(I.spec_digest(spec))
    I.check_architecture_results(paths, [load(p) for p in paths], expected)
    shutil.copy(paths[0], paths[1])
    with pytest.raises(NngridError, match="another spec"):
        I.check_architecture_results(paths, [load(p) for p in paths], expected)
    edited = load(paths[0])
    edited["records"][0]["test_accuracy"] = 0.99
    save(paths[0], edited)
    with pytest.raises(NngridError, match="sha256 checksum"):
        I.check_architecture_results(paths[:1], [load(paths[0])], expected[:1])


# ------------------------------------------------------------------------------------------
# claims.csv is derived, never trusted (fast)
# ------------------------------------------------------------------------------------------


def _claims(tmp_path: Path) -> tuple[Path, Path]:
    from nngrid.study.claims import claims_table

    source = tmp_path / "summary.parquet"
    source.write_bytes(b"tables")
    table = claims_table({})
    table.loc[0, ["verdict", "value", "ci_low", "ci_high", "threshold", "direction"]] = [
        "supported", 0.3, 0.2, 0.4, 0.0, ">"
    ]  # fmt: skip
    path = tmp_path / "claims.csv"
    table.to_csv(path, index=False)
    I.write_claims_stamp(path, [source])
    return path, source


def test_an_edited_verdict_is_refused_by_the_report_and_the_figures(tmp_path):
    from nngrid.study.figures.make import make
    from nngrid.study.report.landing import write_landing

    path, _ = _claims(tmp_path)
    assert len(I.read_claims(path)) > 0
    text = path.read_text()
    path.write_text(text.replace("supported", "contradicted", 1))
    desc = tmp_path / "workflow.rst"
    desc.write_text("x\n")
    with pytest.raises(NngridError) as exc:
        write_landing(path, desc, {}, tmp_path / "landing.rst", tmp_path / "claims.html")
    assert "edited by hand" in str(exc.value) and "snakemake --forcerun claims" in str(exc.value)
    assert not (tmp_path / "landing.rst").exists()
    with pytest.raises(NngridError, match="edited by hand"):
        make("figure_cost", {"claims": str(path)}, {}, {})


def test_a_claims_table_of_other_inputs_is_refused(tmp_path):
    path, source = _claims(tmp_path)
    source.write_bytes(b"newer tables")
    with pytest.raises(NngridError, match="stale"):
        I.read_claims(path)


def test_a_verdict_inconsistent_with_its_own_numbers_is_refused(tmp_path):
    path, source = _claims(tmp_path)
    table = pd.read_csv(path)
    I.verify_claims(table)
    bad = table.copy()
    bad.loc[0, "verdict"] = "contradicted"  # its interval [0.2, 0.4] clears > 0: supported
    with pytest.raises(NngridError, match="gives 'supported'"):
        I.verify_claims(bad, path)
    # a forger who rewrites the stamp too is still refused by the numbers
    bad.to_csv(path, index=False)
    I.write_claims_stamp(path, [source])
    with pytest.raises(NngridError, match="gives 'supported'"):
        I.read_claims(path)
    outside = table.copy()
    outside.loc[0, "value"] = 0.9
    with pytest.raises(NngridError, match="outside its interval"):
        I.verify_claims(outside, path)


def _by_dataset(tmp_path: Path, claims: Path, source: Path, **changes) -> Path:
    """claims_by_dataset.csv stamped with ``claims`` as nngrid.study.claims writes them (one
    claim on two datasets), ``changes`` made to its second row before the stamp."""
    from nngrid.study.claims.core import DATASET_COLUMNS

    row = {"claim_id": "cure_l2", "verdict": "supported", "value": 0.05, "ci_low": 0.01,
           "ci_high": 0.09, "threshold": 0.0, "direction": ">", "evidence": "3 seeds.",
           "protocol": ""}  # fmt: skip
    second = {**row, "dataset": "moons", "verdict": "contradicted", "value": -0.05,
              "ci_low": -0.09, "ci_high": -0.01, **changes}  # fmt: skip
    path = tmp_path / "claims_by_dataset.csv"
    pd.DataFrame([{**row, "dataset": "mnist1d"}, second], columns=DATASET_COLUMNS).to_csv(
        path, index=False
    )
    I.write_claims_stamp(claims, [source], path)
    return path


def _landing(tmp_path: Path, claims: Path, by_dataset=None, replication=None) -> str:
    from synthetic_tables import landing_text

    return landing_text(tmp_path, claims, by_dataset, replication)


def test_the_claims_step_stamps_its_per_dataset_table_and_an_edited_one_is_refused(tmp_path):
    from nngrid.study.claims import main as claims_main

    claims, by = tmp_path / "claims.csv", tmp_path / "claims_by_dataset.csv"
    assert claims_main(["--out", str(claims), "--by-dataset", str(by)]) == 0
    stamp = json.loads(I.claims_stamp_path(claims).read_text())
    assert stamp["by_dataset_sha256"] == I.file_sha256(by)  # written with claims.csv
    I.read_claims_by_dataset(by, claims)
    # the page shows an untouched one, and refuses it edited by hand
    claims, source = _claims(tmp_path)
    by = _by_dataset(tmp_path, claims, source)
    page = _landing(tmp_path, claims, by)
    assert "Per dataset" in page and "moons" in page
    by.write_text(by.read_text().replace("moons", "circles"))
    from synthetic_tables import landing_refused

    message = landing_refused(tmp_path, claims, by)
    assert "claims_by_dataset.csv differs from what nngrid.study.claims wrote" in message
    assert "snakemake --forcerun claims" in message


def test_a_per_dataset_verdict_its_own_interval_does_not_give_is_refused(tmp_path):
    claims, source = _claims(tmp_path)
    # a forger who rewrites the stamp too: the interval [-0.09, -0.01] against > 0 contradicts
    by = _by_dataset(tmp_path, claims, source, verdict="supported")
    with pytest.raises(NngridError, match="claim cure_l2 on dataset moons says 'supported' but"):
        _landing(tmp_path, claims, by)
    by = _by_dataset(tmp_path, claims, source, value=0.5)
    with pytest.raises(NngridError, match="on dataset moons has value 0.5 outside its interval"):
        _landing(tmp_path, claims, by)
    by = _by_dataset(tmp_path, claims, source)
    I.verify_claims(pd.read_csv(by).drop(columns="dataset"))  # the same rule as claims.csv's
    with pytest.raises(NngridError, match="lacks the column 'direction'"):
        I.verify_claims(pd.read_csv(by).drop(columns="direction"), by)


def test_a_per_dataset_table_without_its_stamp_entry_is_refused(tmp_path):
    claims, source = _claims(tmp_path)
    by = _by_dataset(tmp_path, claims, source)
    stamp = json.loads(I.claims_stamp_path(claims).read_text())
    older = {k: v for k, v in stamp.items() if k not in ("by_dataset_sha256", "sha256")}
    write_json(I.claims_stamp_path(claims), older, checksum=True)  # as an older nngrid wrote it
    with pytest.raises(NngridError, match="names no per-dataset table .written by an older"):
        _landing(tmp_path, claims, by)
    I.write_claims_stamp(claims, [source])  # claims.csv written without one
    with pytest.raises(NngridError, match="was not written with .*forcerun claims"):
        _landing(tmp_path, claims, by)
    # another run's per-dataset table beside this claims.csv
    other = tmp_path / "other"
    other.mkdir()
    other_claims, other_source = _claims(other)
    _by_dataset(other, other_claims, other_source, value=-0.06)
    by = _by_dataset(tmp_path, claims, source)  # this run's, stamped with its claims.csv
    shutil.copy(other / "claims_by_dataset.csv", by)
    with pytest.raises(NngridError, match="differs from what nngrid.study.claims wrote with"):
        _landing(tmp_path, claims, by)


def test_an_edited_table_is_refused_by_the_claims_and_the_figures(tmp_path):
    from test_tables import ACTS, REGS, SEEDS, _job

    from nngrid.study.claims import main as claims_main
    from nngrid.study.figures.make import make

    result = tmp_path / "adam.json"  # a job's result as the protocol writes it
    job = _job("moons", "adam", ACTS, REGS, SEEDS, {(a, r): 0.9 for a in ACTS for r in REGS})
    write_json(result, job, checksum=True)
    out = tmp_path / "tables"
    proc = run_module("nngrid.study.tables", "--runs", str(result), "--out-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    stamp = out / I.TABLES_STAMP
    I.verify_tables(stamp, [out / "runs.parquet", out / "rankings.csv"])
    rankings = out / "rankings.csv"
    rankings.write_text(rankings.read_text().replace("relu", "tanh", 1))
    with pytest.raises(NngridError, match="edited by hand"):
        make("figure_grid", {"tables_stamp": stamp, "rankings": rankings}, {}, {})
    summary = out / "summary.parquet"
    summary.write_bytes(summary.read_bytes() + b"\0")
    status = claims_main(
        ["--runs", str(out / "runs.parquet"), "--summary", str(summary), "--tables-stamp",
         str(stamp), "--out", str(tmp_path / "claims.csv")]
    )  # fmt: skip
    assert status == 2 and not (tmp_path / "claims.csv").exists()


def test_target_accuracy_null_says_not_measured_and_the_speed_claims_need_no_target():
    from synthetic_tables import synthetic_tables

    from nngrid.study import claims
    from nngrid.study.claims import optimizers
    from nngrid.study.report.grid_captions import time_to_target_caption

    tables = synthetic_tables()
    runs = tables["runs"].assign(
        target_accuracy=np.nan, epochs_to_target=np.inf, steps_to_target=np.inf
    )
    summary = tables["summary"].assign(steps_to_target_median=np.inf)
    grid = {"runs": runs, "summary": summary, "histories": tables["histories"]}
    table = claims.claims_table({"grid": grid}).set_index("claim_id")
    # the speed claims need no target: they read the learning curves' early loss
    speed = table.loc[["momentum_faster", "adam_faster", "adam_fast"]]
    assert speed["evidence"].str.contains(f"first {optimizers.SPEED_EPOCHS} epochs").all()
    assert not table["evidence"].str.contains("reached the target in", na=False).any()
    assert "not measured" in time_to_target_caption(runs)
    from nngrid.study.report.landing import protocol_summary

    summary_text = protocol_summary({"training": {"target_accuracy": None, "seeds": [0]}})
    assert "not measured" in summary_text and "n/a validation accuracy" not in summary_text


# ------------------------------------------------------------------------------------------
# Config text is never markup or template (fast), and a real report build
# ------------------------------------------------------------------------------------------

PAYLOADS = {
    "html": '<img src=x onerror="alert(1)">',
    "rst": ".. raw:: html\n\n   <b id=rstraw>raw</b>",
    "jinja": "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
}


@pytest.fixture(scope="module")
def common():
    """The workflow's config check (nngrid.study.config, which common.smk calls)."""
    from nngrid.study.config import check_config

    return {"check_config": check_config}


def _quick():
    return yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())


def _rename(section: dict, old: str, new: str) -> None:
    items = list(section.items())
    section.clear()
    section.update((new if k == old else k, v) for k, v in items)


def _place(cfg: dict, where: str, text: str) -> None:
    """Put ``text`` as the user-chosen name at ``where`` of the quick study's config."""
    exp = cfg["experiments"]
    if where == "study":
        _rename(cfg["studies"], "quick", text)
    elif where == "dataset":
        _rename(cfg["datasets"], "moons", text)
    elif where == "regularizer":
        _rename(cfg["regularizers"], "l2", text)
    elif where == "architecture":
        _rename(cfg["architectures"], next(iter(cfg["architectures"])), text)
    elif where == "cure":
        _rename(exp["regression_overfitting"]["cures"], "more_data", text)
    elif where == "cures_cure":
        _rename(exp["overfitting_cures"]["cures"], "dropout", text)
    elif where == "cures_dataset":
        _rename(exp["overfitting_cures"]["datasets"], "moons", text)
    elif where == "experiment_value":
        exp["nonlinearity_boundaries"]["datasets"][0] = text


PLACES = [
    "study",
    "dataset",
    "regularizer",
    "architecture",
    "cure",
    "cures_cure",
    "cures_dataset",
    "experiment_value",
]


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@pytest.mark.parametrize("where", PLACES)
def test_markup_and_templates_in_any_label_are_refused_at_load(common, where, kind, tmp_path):
    cfg = _quick()
    _place(cfg, where, PAYLOADS[kind])
    with pytest.raises(NngridError) as exc:
        common["check_config"](cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    message = str(exc.value)
    assert message.startswith("config error:") and "\n" not in message.strip()
    assert "not a valid name" in message or "is not valid" in message, message
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_an_over_long_label_is_a_config_error(common):
    cfg = _quick()
    _place(cfg, "dataset", "d" * 300)
    with pytest.raises(NngridError, match="longer than 64 characters"):
        common["check_config"](cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    cfg = _quick()
    _place(cfg, "cure", "c" * 300)
    with pytest.raises(NngridError, match="longer than 64 characters"):
        common["check_config"](cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")


def test_non_finite_dataset_params_are_refused_at_load_naming_the_key(common):
    cfg = _quick()
    cfg["datasets"]["moons"]["params"]["noise"] = 1e308
    with pytest.raises(NngridError) as exc:
        common["check_config"](cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    assert "datasets.moons.params" in str(exc.value) and "noise" in str(exc.value)
    assert "NaN or infinite" in str(exc.value)


def _render_like_snakemake(text: str) -> str:
    """A caption through Snakemake's report pipeline: Jinja (its Environment), then docutils."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    env = Environment(trim_blocks=True, lstrip_blocks=True)
    rendered = env.from_string(text).render(snakemake=None)
    return publish_parts(rendered, writer="html")["body"]


def test_generated_captions_are_inert_for_jinja_and_rst(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "\n\n".join(
        [*PAYLOADS.values(), "- {% endraw %}{{ 'pwn' ~ 'ed' }}", ".. include:: /etc/passwd"]
    )
    html = _render_like_snakemake(I.safe_caption(text))
    assert not (tmp_path / "PWNED").exists()
    assert "<img" not in html and "&lt;img src=x" in html
    assert "<b id=rstraw>" not in html and "pwned" not in html and "root:" not in html
    assert "cycler.__init__" in html  # shown as text, never run
    landing = _render_like_snakemake(I.inert_template("x {% endraw %}{{ 'pwn' ~ 'ed' }}"))
    assert "pwned" not in landing


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> Path:
    """A tiny study run to the end (figures, claims, landing page) and its report built."""
    cfg = json.loads(json.dumps(SMALL))
    cfg["studies"]["small"]["datasets"] = ["moons"]
    wf = workflow_copy(tmp_path_factory.mktemp("report") / "wf", cfg)
    proc = snakemake(wf)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return wf


def test_a_real_report_never_runs_or_shows_live_caption_text(reported):
    """A caption the run wrote, rewritten as nngrid.study.report writes captions but with HTML, an
    rst directive and Jinja expressions as its computed text, in a report Snakemake builds:
    none of it is live and no command ran."""
    from nngrid.study.report.captions import write_caption

    wf = reported
    caption = wf / "results" / "figures" / "fig09_heatmaps.rst"
    payload = "\n\n".join([*PAYLOADS.values(), "{{ 'pwn' ~ 'ed' }}", ".. include:: /etc/passwd"])
    write_caption(caption, payload, "A description.")
    proc = snakemake(wf, "--report", "results/report.html")
    assert proc.returncode == 0, proc.stdout[-4000:]
    html = (wf / "results" / "report.html").read_text()
    assert not (wf / "PWNED").exists()
    assert "<img src=x" not in html and "<b id=rstraw>" not in html
    assert "pwned" not in html and "root:x:0" not in html
    assert "cycler.__init__" in html  # the text is there, as text


# ------------------------------------------------------------------------------------------
# Plugins cannot fake success (fast, one process each)
# ------------------------------------------------------------------------------------------

ACTIVATION = """
import numpy as np
from nngrid.core.activations import ACTIVATIONS, Activation


@ACTIVATIONS.register("{name}")
class Loud(Activation):
    default_init = "glorot_uniform"

    def forward(self, z, out=None):
        {forward}
        return np.tanh(z, out=out)

    def derivative(self, z):
        return 1 - np.tanh(z) ** 2
"""


def _plugin(tmp_path: Path, name: str, source: str) -> dict:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return local_env(PYTHONPATH=path, NNGRID_PLUGINS=name)


TRAIN = ["nngrid", "train", "--dataset", "moons", "--dataset-params", "n_samples=80",
         "--epochs", "2", "--quiet"]  # fmt: skip


@pytest.mark.parametrize(
    "body, raised",
    [
        ("import sys\nsys.exit(0)\n", "SystemExit"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
        ("raise BaseException('no')\n", "BaseException"),
    ],
)
def test_a_plugin_that_exits_on_import_is_refused_by_name(tmp_path, body, raised):
    env = _plugin(tmp_path, "bad_plugin", body)
    proc = run_module(*TRAIN, env=env)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert "'bad_plugin'" in proc.stderr and raised in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_plugin_printing_while_training_never_reaches_stdout(tmp_path):
    forward = 'print("noise"); import os; os.write(1, b"raw noise\\n")'
    env = _plugin(tmp_path, "loud_plugin", 'print("import noise")\n' + ACTIVATION.format(
        name="loud", forward=forward))  # fmt: skip
    proc = run_module(*TRAIN, "--activation", "loud", env=env)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)  # stdout is the record alone
    assert "noise" in proc.stderr and "raw noise" in proc.stderr
    plugins = record["config"]["plugins"]
    assert [p["module"] for p in plugins] == ["loud_plugin"]
    assert plugins[0]["file"].endswith("loud_plugin.py") and len(plugins[0]["sha256"]) == 64


@pytest.mark.parametrize(
    "source, named",
    [
        ("import numpy as np\nnp.tanh = lambda z, **k: z\n", "np.tanh"),
        ("import nngrid.core.losses as L\nL.LOSSES = None\n", "nngrid.core.losses.LOSSES"),
    ],
)
def test_a_plugin_that_patches_numpy_or_the_core_is_refused(tmp_path, source, named):
    env = _plugin(tmp_path, "patch_plugin", source)
    proc = run_module(*TRAIN, "--activation", "tanh", env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "'patch_plugin'" in proc.stderr and named in proc.stderr


def test_a_plugin_exiting_during_training_is_an_error(tmp_path):
    forward = "import sys; sys.exit(0) if z.shape[-2] > 3 else None"
    env = _plugin(tmp_path, "exit_plugin", ACTIVATION.format(name="quitter", forward=forward))
    proc = run_module(*TRAIN, "--activation", "quitter", env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "sys.exit(0)" in proc.stderr


def test_a_plugin_exiting_on_import_stops_the_workflow_naming_it(tmp_path):
    """`snakemake --forcerun tables` with such a plugin used to 'succeed' having done nothing."""
    env = _plugin(tmp_path, "exit_on_import", "import sys\nsys.exit(0)\n")
    wf = workflow_copy(tmp_path / "wf", SMALL)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--forcerun", "tables", "-n"],
        cwd=wf, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "'exit_on_import'" in out and "SystemExit" in out, out[-2000:]


def test_a_plugins_helper_module_is_hashed(tmp_path, monkeypatch):
    from nngrid import plugins

    (tmp_path / "helper_mod.py").write_text("SCALE = 1.0\n")
    (tmp_path / "uses_helper.py").write_text("import helper_mod  # noqa\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NNGRID_PLUGINS", "uses_helper")
    monkeypatch.setattr(plugins, "_OUTCOME", {})
    monkeypatch.setattr(plugins, "_CLOSURE", {})
    plugins.load_plugins()
    labels = [label for label, _ in plugins.plugin_sources()]
    assert any(label.endswith("helper_mod.py") for label in labels), labels
    before = plugins.sources_digest()
    (tmp_path / "helper_mod.py").write_text("SCALE = 2.0\n")
    assert plugins.sources_digest() != before
    for name in ("uses_helper", "helper_mod"):
        sys.modules.pop(name, None)


def test_rules_hash_the_code_they_run():
    closure = {p.name for p in I.source_closure("nngrid.study.tables")}
    assert {"tables.py", "integrity.py", "io.py"} <= closure
    claims = {p.name for p in I.source_closure("nngrid.study.claims")}
    assert {"core.py", "optimizers.py", "architectures.py"} <= claims  # the section modules too
    assert "architectures.py" in {
        p.name for p in I.source_closure("nngrid.study.experiments.architectures")
    }
    figures = {str(p) for p in I.source_closure("nngrid.study.figures.make")}
    assert any("/study/report/" in p for p in figures)
    smk = {
        f: (ROOT / "workflow" / "rules" / f).read_text()
        for f in ("collect.smk", "architectures.smk")
    }
    assert 'source_closure("nngrid.study.tables")' in smk["collect.smk"]
    assert 'source_closure("nngrid.study.experiments.architectures")' in smk["architectures.smk"]


# ------------------------------------------------------------------------------------------
# Input bounds at the edge (fast)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["--epochs", "99999999999999999999999"], "--epochs"),
        (["--target-accuracy", "0"], "(0, 1]"),
        (["--target-accuracy", "1.5"], "(0, 1]"),
    ],
)
def test_cli_numbers_have_the_schemas_bounds(args, words):
    proc = run_module(*TRAIN[:-1], *args)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_init_from_with_a_nan_weight_is_refused(tmp_path):
    weights = tmp_path / "w.npz"
    proc = run_module(*TRAIN, "--hidden", "4", "--save-weights", str(weights))
    assert proc.returncode == 0, proc.stderr
    arrays = dict(np.load(weights))
    first = sorted(arrays)[0]
    arrays[first] = arrays[first].copy()
    arrays[first].flat[0] = np.nan
    np.savez(weights, **arrays)
    proc = run_module(*TRAIN, "--hidden", "4", "--init-from", str(weights))
    assert proc.returncode == 2 and str(weights) in proc.stderr and first in proc.stderr
    assert "NaN or infinite" in proc.stderr


def test_float16_features_train_without_a_warning(tmp_path):
    from nngrid.datasets import build

    splits = build("moons", seed=0, n_samples=80)
    path = tmp_path / "f16.npz"
    np.savez(path, **{k: v.astype(np.float16) if k[0] == "X" else v for k, v in splits.items()})
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-m", "nngrid", "train", "--data", str(path),
         "--epochs", "2", "--quiet"],
        capture_output=True, text=True, env=local_env(), timeout=TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout)["epochs"] == 2


def test_nngrid_data_refuses_params_that_make_the_data_non_finite(tmp_path):
    out = tmp_path / "d.npz"
    proc = run_module("nngrid", "data", "--dataset", "moons", "--dataset-params",
                      "noise=1e308,n_samples=50", "--output", str(out))  # fmt: skip
    assert proc.returncode == 2 and not out.exists()
    assert "noise" in proc.stderr and "NaN or infinite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------
# A training job stopped by SIGTERM or SIGHUP writes nothing (fast)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_training_job_stops_on_sigterm_and_sighup_without_a_result(tmp_path, sig):
    data, spec_data = _dataset(tmp_path, "moons", n_samples=400)
    spec = {
        "activations": ["relu"],
        "regularizers": [{"label": "none", "kind": "none", "params": {}}],
        "optimizers": [{"name": "sgd", "lr_grid": [0.1], "default_lr": 0.1, "params": {}}],
        "seeds": [0],
        "training": {"hidden": [8], "epochs": 100000, "batch_size": 8},
        "data": spec_data,
    }
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nngrid.study.protocol", "--data", str(data), "--spec",
         json.dumps(spec), "--output", str(out)],
        env=local_env(), stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    time.sleep(2.0)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


# ------------------------------------------------------------------------------------------
# The workflow: tampering probes on a shared tiny study (slow)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    wf = workflow_copy(tmp_path_factory.mktemp("integrity") / "small", SMALL)
    proc = snakemake(wf, TABLES_TARGET)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return wf


@pytest.fixture(scope="module")
def small_tables(small):
    return read_tables(small)


@pytest.fixture
def copy(small, tmp_path) -> Path:
    dest = tmp_path / "wf"
    shutil.copytree(small, dest, symlinks=True)
    return dest


def rel(path: Path, wf: Path) -> str:
    return str(path.relative_to(wf))


@pytest.mark.slow
def test_a_copied_or_symlinked_result_is_removed_and_remade(copy, small_tables):
    runs = copy / "results" / "runs" / "small"
    shutil.copy(runs / "moons" / "adam.json", runs / "circles" / "adam.json")
    (runs / "circles" / "sgd.json").unlink()
    (runs / "circles" / "sgd.json").symlink_to(runs / "moons" / "sgd.json")
    proc = snakemake(copy, TABLES_TARGET)
    assert proc.returncode == 0, proc.stdout[-4000:]
    lines = "\n".join(fix_lines(proc.stdout))
    assert "results/runs/small/circles/adam.json is not its job's result" in lines
    assert "results/runs/small/circles/sgd.json is not its job's result: a symbolic link" in lines
    assert_same_tables(copy, small_tables)  # circles x adam is back, 2 runs per seed again
    # the collection is the backstop: given the copy by hand it refuses it by name
    shutil.copy(runs / "moons" / "adam.json", runs / "circles" / "adam.json")
    spec = json.loads((copy / "results/specs/small/circles/adam.json").read_text())
    given = "results/runs/small/circles/adam.json"
    proc = run_module(
        "nngrid.study.tables", "--runs", given, "--expect-specs", I.spec_digest(spec),
        "--out-dir", "x", cwd=copy,
    )  # fmt: skip
    assert proc.returncode == 2 and "circles/adam.json was made from another spec" in proc.stderr


@pytest.mark.slow
def test_an_edited_or_truncated_spec_file_is_regenerated_and_never_trains(copy, small_tables):
    spec = copy / "results" / "specs" / "small" / "moons" / "adam.json"
    doc = json.loads(spec.read_text())
    doc["training"]["epochs"] = 3
    spec.write_text(json.dumps(doc))
    other = copy / "results" / "specs" / "small" / "circles" / "sgd.json"
    other.write_text(other.read_text()[:20])
    proc = snakemake(copy, TABLES_TARGET, "--forcerun", "train")  # every job retrains
    assert proc.returncode == 0, proc.stdout[-4000:]
    lines = "\n".join(fix_lines(proc.stdout))
    assert f"{rel(spec, copy)} differed from the spec the config gives" in lines
    assert f"{rel(other, copy)} differed" in lines
    assert json.loads(spec.read_text())["training"]["epochs"] == 5
    runs = read_tables(copy)["runs"]
    assert (runs["max_epochs"] == 5).all()
    assert_same_tables(copy, small_tables)


@pytest.mark.slow
def test_a_swapped_dataset_is_refused_by_the_training_job(copy):
    data = copy / "results" / "data"
    shutil.copy(data / "circles.npz", data / "moons.npz")
    proc = snakemake(copy, TABLES_TARGET, "--forcerun", "results/runs/small/moons/adam.json")
    assert proc.returncode != 0
    errors = [ln for ln in proc.stdout.splitlines() if "nngrid: error:" in ln]
    assert errors and "results/data/moons.npz does not match the sha256" in errors[0]
    assert "rerun snakemake" in errors[0]


@pytest.mark.slow
def test_an_orphan_of_an_earlier_config_renamed_over_a_result_is_remade(copy, small_tables):
    """An earlier run (another epochs) left a job running; its result lands on a newer one's
    path after the newer run: the next run removes it by its spec digest and remakes it."""
    other = json.loads(json.dumps(SMALL))
    other["training"]["epochs"] = 7
    orphan_wf = workflow_copy(copy.parent / "orphan", other)
    proc = snakemake(orphan_wf, "results/runs/small/moons/adam.json")
    assert proc.returncode == 0, proc.stdout[-3000:]
    target = copy / "results/runs/small/moons/adam.json"
    os.replace(orphan_wf / "results/runs/small/moons/adam.json", target)  # the orphan's rename
    proc = snakemake(copy, TABLES_TARGET)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "results/runs/small/moons/adam.json is not its job's result" in proc.stdout
    assert_same_tables(copy, small_tables)  # no 7-epoch rows among the 5-epoch ones


@pytest.mark.slow
def test_without_snakemake_metadata_a_config_change_still_reruns(copy):
    shutil.rmtree(copy / ".snakemake")
    cfg = yaml.safe_load((copy / "config" / "config.yaml").read_text())
    cfg["training"]["epochs"] = 4
    (copy / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(copy, TABLES_TARGET)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Nothing to be done" not in proc.stdout
    assert (read_tables(copy)["runs"]["max_epochs"] == 4).all()


@pytest.mark.slow
def test_a_changed_statistic_reruns_the_tables_and_nothing_before(copy):
    src = copy / "src"
    shutil.copytree(ROOT / "src", src)
    env = local_env(PYTHONPATH=str(src))

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2", TABLES_TARGET, *args],
            cwd=copy, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
        )  # fmt: skip

    # this copy of the code hashes like the original only if nothing differs: settle it first
    assert run().returncode == 0
    tables = src / "nngrid" / "study" / "tables.py"
    tables.write_text(tables.read_text() + "\n# a changed statistic\n")
    proc = run("--dry-run")
    assert "rule tables:" in proc.stdout and "rule train:" not in proc.stdout, proc.stdout[-3000:]


# ------------------------------------------------------------------------------------------
# SIGHUP and SIGTERM stop the whole run; a rerun resumes (slow)
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_sighup_and_sigterm_stop_the_run_and_its_jobs(tmp_path, small_tables, sig):
    cfg = json.loads(json.dumps(SMALL))
    cfg["training"]["epochs"] = 5
    wf = workflow_copy(tmp_path / "wf", cfg)
    proc = start_snakemake(wf, TABLES_TARGET)
    try:
        wait_for(lambda: training_processes(proc), "a training job", proc)
        os.kill(proc.pid, sig)
        status = proc.wait(timeout=TIMEOUT)
        # the signal reached the jobs too: nothing of the run's session is left
        wait_for(lambda: session_gone(proc.pid), "the run's jobs to end", timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert status != 0
    assert not (wf / ".snakemake" / "locks").exists() or not list(
        (wf / ".snakemake" / "locks").iterdir()
    )  # the lock is released: no --unlock needed
    assert not no_temporary_files(wf)
    rerun = snakemake(wf, TABLES_TARGET)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert_same_tables(wf, small_tables)


def test_a_not_applicable_verdict_passes_only_without_an_interval_and_with_its_reason():
    import pandas as pd

    row = {
        "claim_id": "adam_well",
        "verdict": "not applicable",
        "value": float("nan"),
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "threshold": -0.02,
        "direction": ">",
        "evidence": "Not applicable: every dataset of the grid is a regression.",
    }
    I.verify_claims(pd.DataFrame([row]))  # what nngrid.study.claims writes for such a grid
    for forged in ({"ci_low": 0.1, "ci_high": 0.2, "value": 0.15}, {"evidence": "made up."}):
        with pytest.raises(NngridError, match="says 'not applicable'"):
            I.verify_claims(pd.DataFrame([{**row, **forged}]))
