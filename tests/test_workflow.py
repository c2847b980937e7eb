"""The workflow: lint, DAG, config checking at load time, and (slow) the quick study end to end."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_env import local_env

from nngrid.errors import NngridError
from nngrid.study import jobs
from nngrid.study.config import check_config, fill_enums

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


ENV = local_env()


def snakemake(*args, cwd=ROOT, timeout=600):
    return subprocess.run(
        ["snakemake", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV
    )


def load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


# -- lint and DAG ------------------------------------------------------------------------------


def test_lint_is_clean():
    res = snakemake("--lint")
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Lints for" not in out, out


def test_dry_run_of_the_default_study_builds_the_dag():
    res = snakemake("-n", "--quiet", "rules")
    assert res.returncode == 0, res.stderr
    from nngrid.study.seeds import expand_draws

    cfg = expand_draws(check_config(load("config.yaml"), SCHEMA))
    n_jobs = len(jobs.job_table(cfg))
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", res.stdout, flags=re.M))
    assert int(counts["train"]) == n_jobs
    assert int(counts["tables"]) == 1


@pytest.mark.parametrize("name", ["config.yaml", "quick.yaml", "full.yaml"])
def test_shipped_configs_are_valid_and_cover_their_promise(name):
    cfg = check_config(load(name), SCHEMA)
    cells = jobs.cell_table(cfg)
    assert len(cells) and not cells.duplicated().any()
    if name == "config.yaml":
        from nngrid.core.activations import ACTIVATIONS
        from nngrid.core.optim import OPTIMIZERS
        from nngrid.core.regularizers import REGULARIZERS

        def shipped(reg):  # nngrid's own components (a plugin's are not the study's promise)
            return {n for n in reg.names() if reg.get(n).__module__.startswith("nngrid.")}

        grid = cfg["studies"]["grid"]
        # every activation but the step function, which cannot learn (its derivative is 0) and
        # is judged beside its smooth relatives in the nonlinearity experiment instead
        assert set(grid["activations"]) == shipped(ACTIVATIONS) - {"step"}
        assert "step" in cfg["experiments"]["nonlinearity_boundaries"]["activations"]
        assert set(grid["optimizers"]) == shipped(OPTIMIZERS)
        kinds = {cfg["regularizers"][r].get("kind", r) for r in grid["regularizers"]}
        assert kinds == shipped(REGULARIZERS)
        # 2 datasets of 3 independent draws each, 2 seeds per cell and draw (the draw is the unit)
        assert len(grid["datasets"]) >= 2 and len(cfg["training"]["seeds"]) == 2
        assert all(len(cfg["datasets"][d]["data_seeds"]) >= 3 for d in grid["datasets"])
    if name in ("config.yaml", "full.yaml"):
        # issue 21: the optimizer claims decided under two protocols or more, the full protocol on
        # the lr grid's datasets and optimizers with as many trials as there are optimizers (the
        # Crowded Valley claim's equal budget), every optimizer with a search space
        grids = {k: s for k, s in cfg["studies"].items() if "architectures" not in s}
        protocols = {k: (s.get("tuning") or {}).get("protocol", "lr") for k, s in grids.items()}
        lr = next(s for k, s in grids.items() if protocols[k] == "lr" and len(s["activations"]) > 1)
        full = [s for k, s in grids.items() if protocols[k] == "full"]
        assert full and {"lr", "full"} <= set(protocols.values())
        for s in full:
            assert s["datasets"] == lr["datasets"] and s["optimizers"] == lr["optimizers"]
            assert {**cfg["tuning"], **s["tuning"]}["budget"] == len(lr["optimizers"])
            assert all(cfg["optimizers"][o].get("search") for o in s["optimizers"])
            assert cfg["optimizers"]["adam"]["search"]["eps"]["high"] >= 1e3  # Choi et al.
    if name == "full.yaml":
        assert set(protocols.values()) == {"lr", "full", "default"}
    if name == "quick.yaml":
        study = cfg["studies"]["quick"]  # the lr grid (quick_full: the full protocol beside it)
        grids = {k for k, s in cfg["studies"].items() if "architectures" not in s}
        assert grids == {"quick", "quick_full"}
        assert cfg["studies"]["quick_full"]["tuning"]["protocol"] == "full"
        assert cfg["tuning"]["budget"] == len(study["optimizers"])  # the Crowded Valley budget
        sizes = [len(study[k]) for k in ("datasets", "activations", "regularizers", "optimizers")]
        assert sizes == [2, 2, 2, 5] and len(cfg["training"]["seeds"]) == 2
        # every claim function has its input: every experiment it reads, and the grid
        from nngrid.study.claims import CLAIMS

        needs = {n for c in CLAIMS for n in c.needs} - {"grid"}
        arm = {"architectures"} if len(jobs.architecture_jobs(cfg)) else set()
        assert needs <= set(cfg["experiments"]) | arm and arm


def test_schema_enums_come_from_the_registries():
    from nngrid.core.activations import ACTIVATIONS
    from nngrid.datasets import DATASETS

    schema = yaml.safe_load(SCHEMA.read_text())
    fill_enums(schema, load("quick.yaml"))
    study = schema["properties"]["studies"]["additionalProperties"]["properties"]
    assert study["activations"]["items"]["enum"] == ACTIVATIONS.names()
    labels = ["moons", "circles", "mnist1d", "mnist1d_shuffled"]  # quick.yaml's, in order
    assert study["datasets"]["items"]["enum"] == labels  # the config's labels
    kind = schema["properties"]["datasets"]["additionalProperties"]["properties"]["kind"]
    assert kind["enum"] == DATASETS.names()


def test_wildcard_constraints_never_confuse_prefixes():
    pattern = jobs.alternatives(["relu", "leaky_relu", "l1", "l1_big"])
    assert re.fullmatch(pattern, "relu") and re.fullmatch(pattern, "leaky_relu")
    assert not re.fullmatch(pattern, "leaky_rel") and not re.fullmatch(pattern, "relu2")
    assert re.fullmatch(f"x/({pattern})", "x/l1_big")


def test_job_spec_carries_every_hyperparameter():
    cfg = check_config(load("quick.yaml"), SCHEMA)
    spec = jobs.job_spec(cfg, "quick", "moons", "sgd")
    assert spec["optimizers"] == [
        {
            "name": "sgd",
            "lr_grid": cfg["optimizers"]["sgd"]["lr_grid"],
            "default_lr": None,
            "params": {},
        }
    ]
    assert [r["label"] for r in spec["regularizers"]] == ["none", "l2"]
    assert spec["seeds"] == [0, 1] and spec["training"]["epochs"] == 15
    assert spec["tuning"] == {"seeds": 2, "extend": 1}
    json.dumps(spec)  # serialisable: it is passed to the job as JSON


def test_a_job_spec_holds_what_its_protocol_reads_and_nothing_else():
    """A changed lr grid reruns no full-protocol job, a changed search seed no lr job."""
    cfg = check_config(load("quick.yaml"), SCHEMA)
    lr = jobs.job_spec(cfg, "quick", "moons", "adam")
    full = jobs.job_spec(cfg, "quick_full", "moons", "adam")
    assert lr["tuning"] == {"seeds": 2, "extend": 1}
    assert "search" not in lr["optimizers"][0]
    assert full["tuning"] == {"protocol": "full", "seeds": 2, "budget": 5, "search_seed": 0}
    assert "lr_grid" not in full["optimizers"][0]
    assert full["optimizers"][0]["search"] == cfg["optimizers"]["adam"]["search"]
    cfg["studies"]["quick_full"]["tuning"] = {"protocol": "default"}
    default = jobs.job_spec(cfg, "quick_full", "moons", "adam")
    assert default["tuning"] == {"protocol": "default"}
    assert not {"lr_grid", "search"} & set(default["optimizers"][0])
    changed = copy.deepcopy(cfg)
    changed["optimizers"]["adam"]["lr_grid"]["high"] = 0.3
    changed["tuning"]["search_seed"] = 9
    assert jobs.job_spec(changed, "quick", "moons", "adam") != lr
    assert jobs.job_spec(changed, "quick_full", "moons", "adam") == default
    changed["studies"]["quick_full"]["tuning"] = {"protocol": "full"}
    assert jobs.job_spec(changed, "quick_full", "moons", "adam")["tuning"]["search_seed"] == 9
    cfg["studies"]["quick_full"]["tuning"] = {"protocol": "full"}
    assert jobs.job_spec(changed, "quick", "moons", "sgd") == jobs.job_spec(
        cfg, "quick", "moons", "sgd"
    )


def test_source_hash_follows_file_contents(tmp_path, monkeypatch):
    import nngrid

    pkg = tmp_path / "nngrid"
    pkg.mkdir()
    a = pkg / "a.py"
    a.write_text("x = 1\n")
    monkeypatch.setattr(nngrid, "__file__", str(pkg / "__init__.py"))
    before = jobs.source_hash([a])
    a.write_text("x = 2\n")
    assert jobs.source_hash([a]) != before


# -- bad configs stop at load time, naming the key, the value and the valid choices ------------


def _set(cfg, path, value):
    node = cfg
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return cfg


DELETE = object()

BAD = [
    # (path, bad value, words the message must contain)
    (("studies", "quick", "activations", 0), "rleu", ["activations[0]", "'rleu'", "leaky_relu"]),
    (("optimizers", "sgd", "lr_grid", "low"), -0.1, ["lr_grid.low", "-0.1", "> 0"]),
    (("optimizers", "adam", "lr_grid", "high"), 0, ["lr_grid.high", "0", "> 0"]),
    (("studies", "quick", "regularizers"), [], ["studies.quick.regularizers", "[]", "at least 1"]),
    (("training", "epochs"), "ten", ["training.epochs", "'ten'", "integer"]),
    (("training", "epochs"), 0, ["training.epochs", ">= 1"]),
    (("training", "seeds"), [0, 0], ["training.seeds", "repeats"]),
    (("training", "hidden"), [16, "wide"], ["training.hidden[1]", "'wide'", "integer"]),
    (("training", "init"), "xavier", ["training.init", "'xavier'", "glorot_uniform"]),
    (("training", "schedule"), "linear", ["training.schedule", "'linear'", "cosine"]),
    (("training", "dtype"), "float16", ["training.dtype", "'float16'", "float32, float64"]),
    (("training", "batch_size"), -4, ["training.batch_size", "-4", ">= 1"]),
    (("training", "target_accuracy"), 1.5, ["training.target_accuracy", "1.5", "<= 1"]),
    (("training", "epoch"), 10, ["training", "'epoch'", "epochs"]),
    (("studies", "quick", "datasets", 1), "spiral", ["datasets[1]", "'spiral'", "moons"]),
    (("studies", "quick", "optimizers", 0), "adamm", ["optimizers[0]", "'adamm'", "momentum"]),
    (("regularizers", "l2", "params", "strength"), -1, ["strength", "-1", ">= 0"]),
    (("regularizers", "l2", "kind"), "l3", ["regularizers.l2.kind", "'l3'", "elastic_net"]),
    (("regularizers", "dropout", "params", "rate"), 1.5, ["regularizers.dropout", "1.5", "rate"]),
    (("regularizers", "l2", "params"), {"strenght": 1}, ["'strenght'", "strength"]),
    (("optimizers", "sgd", "params"), {"momentun": 0.9}, ["'momentun'", "momentum"]),
    (("optimizers", "sgd", "lr_grid", "points"), 1, ["lr_grid.points", "1", ">= 2"]),
    (("optimizers", "sgd", "lr_grid", "low"), 5.0, ["optimizers.sgd.lr_grid", "high", "low"]),
    (("optimizers", "sgd", "default_lr"), -1, ["default_lr", "-1", "> 0"]),
    (("optimizers", "sgd", "lr_grid"), DELETE, ["optimizers.sgd", "'lr_grid'"]),
    (("datasets", "moons", "params", "noize"), 0.1, ["'noize'", "noise"]),
    (("datasets", "moons", "kind"), "moon", ["datasets.moons.kind", "'moon'", "spirals"]),
    (("splits", "val_fraction"), 1.2, ["splits.val_fraction", "1.2", "< 1"]),
    (("studies",), {}, ["studies", "at least 1"]),
    (("studies", "Quick"), {}, ["'Quick'", "lower_snake_case"]),
    (("training",), DELETE, ["'training'"]),
]


@pytest.mark.parametrize(("path", "value", "words"), BAD, ids=lambda x: None)
def test_bad_config_is_rejected_with_key_value_and_choices(path, value, words):
    cfg = _set(load("quick.yaml"), path, value)
    with pytest.raises(NngridError) as info:
        check_config(cfg, SCHEMA)
    message = str(info.value)
    assert message.startswith("config error: ") and "\n" not in message
    for word in words:
        assert word in message, message


def test_optimizer_key_typo_lists_the_registry():
    cfg = load("quick.yaml")
    cfg["optimizers"]["adamm"] = cfg["optimizers"].pop("adam")
    cfg["studies"]["quick"]["optimizers"] = ["sgd"]
    with pytest.raises(NngridError, match=r"optimizers key 'adamm' is not valid.*adamw"):
        check_config(cfg, SCHEMA)


def test_snakemake_stops_at_load_time_with_the_message(tmp_path):
    cfg = load("quick.yaml")
    cfg["studies"]["quick"]["activations"][1] = "tanhh"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    res = snakemake("-n", "--configfile", str(bad))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "config error: studies.quick.activations[1] = 'tanhh' is not valid" in out
    assert "valid choices: identity, relu" in out
    assert "Building DAG" not in out and "rule train" not in out


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-2, 2), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


QUICK_PATHS = [p for p in _paths(yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())) if p]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(QUICK_PATHS), value=JUNK)
def test_fuzzed_config_values_pass_or_fail_cleanly(path, value):
    cfg = _set(copy.deepcopy(load("quick.yaml")), path, value)
    try:
        check_config(cfg, SCHEMA)
    except NngridError as exc:
        assert str(exc).startswith("config error: ") and "\n" not in str(exc)


# -- end to end (slow) -------------------------------------------------------------------------


def _copy_workflow(dest):
    shutil.copy(ROOT / "Snakefile", dest / "Snakefile")
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(ROOT / folder, dest / folder)


def _train_jobs(dry_run_output):
    """(study, dataset, optimizer) of every `train` job a dry run lists."""
    found = []
    for block in dry_run_output.split("\nrule ")[1:] + dry_run_output.split("\nlocalrule ")[1:]:
        if block.startswith("train:"):
            wc = re.search(r"wildcards: (.*)", block).group(1)
            found.append(tuple(v.split("=")[1] for v in wc.split(", ")))
    return sorted(found)


@pytest.mark.slow
def test_quick_study_end_to_end(tmp_path):
    _copy_workflow(tmp_path)
    res = snakemake("--cores", "2", "--configfile", "config/quick.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]

    from nngrid.study.seeds import expand_draws

    cfg = expand_draws(check_config(load("quick.yaml"), SCHEMA))  # as the Snakefile does
    cells = jobs.cell_table(cfg)
    runs = pd.read_parquet(tmp_path / "results" / "tables" / "runs.parquet")
    seeds = len(cfg["training"]["seeds"])
    tune_seeds = min(seeds, cfg["tuning"]["seeds"])
    by_cell = ["study", "optimizer", "dataset", "activation", "regularizer"]
    for (study, opt, *_), cell in runs.groupby(by_cell):
        assert (cell["arm"] != "tune").sum() == 2 * seeds
        assert set(cell["protocol"]) == {"full" if study == "quick_full" else "lr"}
        tune = cell[cell["arm"] == "tune"]
        if study == "quick_full":  # the budget's trials, each on the tuning seeds, one chosen
            assert tune["trial"].nunique() == cfg["tuning"]["budget"]
            assert len(tune) == cfg["tuning"]["budget"] * tune_seeds
            assert tune.loc[tune["selected"], "trial"].nunique() == 1
            continue
        n_lr = tune["lr"].nunique()
        points = cfg["optimizers"][opt]["lr_grid"]["points"]
        assert points <= n_lr <= points + 2 * cfg["tuning"]["extend"]
        assert len(tune) == n_lr * tune_seeds
    keys = ["study", "dataset", "activation", "regularizer", "optimizer"]
    got = runs[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    want = cells[keys].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    for col in ("train_accuracy", "val_accuracy", "test_accuracy", "best_val_accuracy"):
        assert runs[col].between(0, 1).all(), col
    assert (runs["diverged"] == runs["diverged_epoch"].notna()).all()
    assert set(runs["arm"]) == {"tune", "tuned", "untuned"}
    summary = pd.read_csv(tmp_path / "results" / "tables" / "summary.csv")
    assert len(summary) == 2 * len(cells)
    hist = pd.read_parquet(tmp_path / "results" / "tables" / "histories.parquet")
    assert hist["run_id"].nunique() == len(runs)

    again = snakemake("-n", "--configfile", "config/quick.yaml", cwd=tmp_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # a changed sgd grid reruns exactly the sgd jobs
    changed = load("quick.yaml")
    changed["optimizers"]["sgd"]["lr_grid"]["high"] = 2.0
    (tmp_path / "config" / "changed.yaml").write_text(yaml.safe_dump(changed))
    dry = snakemake("-n", "--configfile", "config/changed.yaml", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    rerun = _train_jobs(dry.stdout + dry.stderr)
    drawn = expand_draws(check_config(changed, SCHEMA))  # each data draw is its own job
    expected = sorted(("quick", d, "sgd") for d in drawn["studies"]["quick"]["datasets"])
    assert rerun == expected
