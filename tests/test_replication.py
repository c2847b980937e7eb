"""Replication: every seed comes from the config, draws expand, two claims tables compare."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from nngrid.errors import NngridError
from nngrid.study import replication, seeds, verdict_pages

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


def test_expand_draws_makes_one_dataset_per_draw_in_every_study():
    cfg = {
        "data_seed": 0,
        "datasets": {"moons": {"params": {"noise": 0.2}, "data_seeds": [4, 7]}, "xor": {}},
        "studies": {"g": {"datasets": ["moons", "xor"]}, "h": {"datasets": ["xor"]}},
    }
    seeds.expand_draws(cfg)
    assert cfg["studies"]["g"]["datasets"] == ["moons_draw4", "moons_draw7", "xor"]
    assert cfg["studies"]["h"]["datasets"] == ["xor"]
    assert cfg["datasets"]["moons_draw7"] == {
        "kind": "moons",
        "params": {"noise": 0.2},
        "data_seed": 7,
    }
    assert "moons" not in cfg["datasets"]
    assert seeds.split_draw("moons_draw7") == ("moons", 7)
    assert seeds.split_draw("mnist1d") == ("mnist1d", None)
    with pytest.raises(NngridError, match="distinct"):
        seeds.expand_draws({"datasets": {"moons": {"data_seeds": [1, 1]}}})


def test_replicate_yaml_redraws_every_seed_key_of_the_default_config():
    from snakemake.utils import update_config

    base = _load("config.yaml")
    merged = copy.deepcopy(base)
    update_config(merged, _load("replicate.yaml"))
    before, after = dict(seeds.seed_values(base)), dict(seeds.seed_values(merged))
    assert {"datasets.mnist1d.params.generation_seed", "claims.bootstrap_seed"} <= set(before)
    assert set(before) == set(after)
    for key, old in before.items():
        new = after[key]
        old_set = set(old) if isinstance(old, list) else {old}
        new_set = set(new) if isinstance(new, list) else {new}
        assert not old_set & new_set, f"{key} is not redrawn by config/replicate.yaml"
        assert len(old_set) == len(new_set), f"{key}: replicate.yaml changes how many seeds"
    # nothing but seeds differs
    strip = {k for k, _ in seeds.seed_values(merged)}
    assert strip and merged["training"]["epochs"] == base["training"]["epochs"]


def test_the_search_seed_is_a_seed_and_the_tuning_seed_count_is_not():
    cfg = {
        "tuning": {"seeds": 3, "search_seed": 5},
        "studies": {"full": {"tuning": {"protocol": "full", "search_seed": 7, "seeds": 2}}},
    }
    assert dict(seeds.seed_values(cfg)) == {
        "tuning.search_seed": 5,
        "studies.full.tuning.search_seed": 7,
    }


def test_config_readme_lists_every_seed_key_in_one_place():
    text = (ROOT / "config" / "README.md").read_text()
    section = text.split("## Seeds", 1)[1].split("\n## ", 1)[0]
    for key, _ in seeds.seed_values(_load("config.yaml")):
        assert f"`{key}`" in section, f"config/README.md's Seeds section misses {key}"


def _claims(verdicts: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "claim_id": [f"c{i}" for i in range(len(verdicts))],
            "verdict": verdicts,
            "value": 0.1,
            "ci_low": 0.0,
            "ci_high": 0.2,
        }
    )


def test_compare_counts_agreements_flips_and_differences(tmp_path):
    a = _claims(["supported", "contradicted", "inconclusive", "supported"])
    b = _claims(["supported", "supported", "supported", "supported"]).iloc[:3]
    table = replication.compare(a, b)
    assert list(table.columns) == replication.COLUMNS
    assert table["agreement"].tolist() == ["agree", "flip", "differ", "missing"]
    assert replication.summary(table) == "1 of 4 verdicts agree, 1 flip"
    pa, pb, out = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "r.csv"
    a.to_csv(pa, index=False)
    b.to_csv(pb, index=False)
    assert replication.main([str(pa), str(pb), "--out", str(out)]) == 0
    assert pd.read_csv(out)["agreement"].tolist() == table["agreement"].tolist()
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    assert replication.main([str(pa), str(tmp_path / "bad.csv"), "--out", str(out)]) == 2


def _run(folder: Path, flip: str | None = None) -> Path:
    """A run's claims.csv with its stamp, as nngrid.study.claims writes them; ``flip``: that
    claim supported instead of inconclusive (an interval that clears its threshold)."""
    from nngrid.study.claims import claims_table
    from nngrid.study.integrity import write_claims_stamp

    folder.mkdir(parents=True, exist_ok=True)
    table = claims_table({})
    if flip is not None:
        at = table.index[table["claim_id"] == flip][0]
        thr, direction = table.loc[at, "threshold"], table.loc[at, "direction"]
        step = 1.0 if direction == ">" else -1.0
        table.loc[at, ["verdict", "value", "ci_low", "ci_high"]] = [
            "supported", thr + 2 * step, thr + min(step, 3 * step), thr + max(step, 3 * step)
        ]  # fmt: skip
    path = folder / "claims.csv"
    table.to_csv(path, index=False, float_format="%.6g")
    write_claims_stamp(path, [])
    return path


def _landing(tmp_path: Path, claims: Path, rep: Path) -> str:
    from synthetic_tables import landing_text

    return landing_text(tmp_path, claims, None, rep)


def test_replication_is_stamped_and_the_landing_page_refuses_an_edited_or_foreign_one(tmp_path):
    import json

    from nngrid.study import integrity

    first, ours = _run(tmp_path / "first", flip="cure_l2"), _run(tmp_path / "run")
    rep = tmp_path / "run" / "replication.csv"
    assert replication.main([str(first), str(ours), "--out", str(rep)]) == 0
    stamp = json.loads((tmp_path / "run" / "replication.stamp.json").read_text())
    assert stamp["replication_sha256"] == integrity.file_sha256(rep)
    assert stamp["second"]["sha256"] == integrity.file_sha256(ours)
    assert stamp["first"]["sha256"] == integrity.file_sha256(first)
    n = len(pd.read_csv(ours))
    assert f"{n - 1} of {n} verdicts agree, 0 flips" in _landing(tmp_path, ours, rep)
    # edited by hand
    untouched = rep.read_text()
    rep.write_text(untouched.replace(",differ,", ",agree,", 1))
    from synthetic_tables import landing_refused

    message = landing_refused(tmp_path, ours, None, rep)
    assert "replication.csv differs from what nngrid.study.replication wrote" in message
    assert "snakemake --forcerun replication" in message
    # another run's comparison (its own stamp intact) beside this run's claims.csv
    other = _run(tmp_path / "other", flip="cure_dropout")
    assert replication.main([str(first), str(other), "--out", str(rep)]) == 0
    with pytest.raises(NngridError, match="compared another claims table .*other/claims.csv"):
        _landing(tmp_path, ours, rep)
    # a forger who rewrites the stamp too: the rows must still be what the verdicts give
    rep.write_text(untouched.replace(",differ,", ",agree,", 1))
    integrity.write_replication_stamp(rep, first, ours)
    with pytest.raises(NngridError, match="says 'agree' but its verdicts 'supported' and"):
        _landing(tmp_path, ours, rep)
    forged = replication.compare(pd.read_csv(first), pd.read_csv(other))
    forged.to_csv(rep, index=False)  # the other run's verdicts under this run's name
    integrity.write_replication_stamp(rep, first, ours)
    with pytest.raises(NngridError, match="in the claims table shown"):
        _landing(tmp_path, ours, rep)
    # written without a stamp (an older nngrid)
    rep.write_text(untouched)
    (tmp_path / "run" / "replication.stamp.json").unlink()
    with pytest.raises(NngridError, match="has no stamp .*forcerun replication"):
        _landing(tmp_path, ours, rep)


def test_landing_sections_show_per_dataset_verdicts_and_replication_escaped():
    by = pd.DataFrame(
        {
            "claim_id": ["cure_l2", "cure_l2"],
            "dataset": ["mnist1d", "<b>moons</b>"],
            "verdict": ["supported", "contradicted"],
            "value": [0.05, -0.02],
            "ci_low": [0.01, -0.04],
            "ci_high": [0.09, float("nan")],
        }
    )
    text = verdict_pages.by_dataset_section(by)
    assert "Per dataset" in text and "&lt;b&gt;moons&lt;/b&gt;" in text and "<b>moons" not in text
    assert "no interval" in text
    rep = replication.compare(_claims(["supported"]), _claims(["contradicted"]))
    section = verdict_pages.replication_section(rep)
    assert "0 of 1 verdicts agree, 1 flip" in section and "flip" in section
    assert verdict_pages.by_dataset_section(None) == verdict_pages.replication_section(None) == ""


def test_compare_keys_rows_by_claim_and_protocol_and_reads_tables_without_the_column():
    a = pd.DataFrame(
        {
            "claim_id": ["adam_well", "adam_well", "cure_l2"],
            "protocol": ["lr", "full", float("nan")],  # "" reads back as NaN
            "verdict": ["supported", "contradicted", "supported"],
            "value": 0.1,
            "ci_low": 0.0,
            "ci_high": 0.2,
        }
    )
    b = a.assign(verdict=["supported", "supported", "supported"])
    table = replication.compare(a, b)
    assert table["agreement"].tolist() == ["agree", "flip", "agree"]
    assert table["protocol"].tolist() == ["lr", "full", ""]
    # a claims.csv written before protocols: the grid's claims are lr's, the rest have none
    old = a.iloc[[0, 2]].drop(columns="protocol").assign(claim_id=["adam_well", "cure_l2"])
    table = replication.compare(old, a)
    assert table["agreement"].tolist() == ["agree", "agree", "missing"]
    assert table["protocol"].tolist() == ["lr", "", "full"]


def test_landing_shows_the_optimizer_verdicts_side_by_side_per_protocol():
    claims = pd.DataFrame(
        {
            "claim_id": ["adam_well", "adam_well", "adam_includes_momentum", "cure_l2"],
            "protocol": ["lr", "full", "full", float("nan")],
            "verdict": ["supported", "inconclusive", "supported", "contradicted"],
            "value": [0.01, -0.01, 0.02, -0.1],
            "ci_low": [0.005, -0.03, 0.01, -0.2],
            "ci_high": [0.02, 0.01, 0.03, -0.05],
        }
    )
    text = verdict_pages.protocols_section(claims)
    assert text.startswith("Under each tuning protocol")
    assert (
        "lr (the lesson&#x27;s: the rate alone)" in text and "full (every hyperparameter)" in text
    )
    body = text.split("<tbody>")[1]
    assert body.count("<tr>") == 1 and "adam_well" in body  # claims decided once stay out
    assert "0.01 [0.005, 0.02]" in body and "-0.01 [-0.03, 0.01]" in body
    # one protocol (the default study): no section
    assert verdict_pages.protocols_section(claims.iloc[[0, 2, 3]]) == ""
    assert verdict_pages.protocols_section(None) == ""
