"""Every claim function can come out supported, contradicted and inconclusive.

Each builder below makes synthetic inputs in the layout the experiments and tables write, with
one knob ``effect`` that moves the claim's statistic and one ``noise`` that widens its interval.
For every claim, three settings drive it to the three verdicts: the effect well beyond the
threshold in the lesson's direction (small noise), well beyond it the other way, and on the
threshold with noise (the interval straddles it).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from nngrid.study import claims
from nngrid.study.claims import CLAIMS, COLUMNS, claims_table, decide, evaluate
from nngrid.study.claims.optimizers import _win_score, grid_cells
from nngrid.study.claims.overfitting import _CURES
from nngrid.study.tables import EARLY_LOSS_COLUMNS

SEEDS = range(6)


def _rng(tag: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, tag)))


def _alternating(noise: float):
    """+noise, -noise, +noise, ...: spread whose mean is exactly 0 over pairs of calls, so an
    effect on the threshold gives an interval centred on it."""
    signs = iter(np.tile([1.0, -1.0], 10_000))
    return lambda: noise * next(signs)


# --------------------------------------------------------------------------- builders


def nonlinearity(effect: float, noise: float, rival: str) -> dict:
    rng = _rng("nonlinearity" + rival)
    alt = _alternating(noise)
    records = []
    for ds in ("moons", "xor"):
        for seed in SEEDS:
            base = 0.9 + rng.normal(0, 0.005)
            for act, acc in (
                ("relu", base),
                ("tanh", base - 0.02),
                (rival, base - effect + alt()),
                ("identity" if rival == "step" else "step", 0.5),
            ):
                records.append(
                    {"dataset": ds, "activation": act, "seed": seed, "test_accuracy": acc}
                )
    return {"nonlinearity_boundaries": {"per_seed": records}}


def depth(effect: float, noise: float, which: str) -> dict:
    """Accuracy by depth; ``few``: the worst combo at depth 2 trails by ``effect``; ``many``:
    one combo drops by ``effect`` from depth 2 to 16."""
    rng = _rng("depth" + which)
    alt = _alternating(noise)
    acc = []
    for d in (2, 16):
        for act, init in (("relu", "he_normal"), ("sigmoid", "glorot_uniform")):
            for seed in SEEDS:
                a = 0.95 + rng.normal(0, 0.002)
                if act == "sigmoid" and (which == "few" and d == 2 or which == "many" and d == 16):
                    a -= effect + alt()
                acc.append(
                    {"depth": d, "activation": act, "init": init, "seed": seed, "test_accuracy": a}
                )
    return {"gradient_flow": {"accuracy": acc, "records": []}}


def gradients(effect: float, noise: float) -> dict:
    """First-layer gradient norm at init; one combo grows by 10^effect from depth 2 to 8."""
    rng = _rng("gradients")
    alt = _alternating(noise)
    records = []
    for act, init, e in (("relu", "he_normal", 0.0), ("odd", "x", effect)):
        for seed in SEEDS:
            g2 = 0.1 * math.exp(rng.normal(0, 0.01))
            g8 = g2 * 10 ** (e + alt())
            for d, g in ((2, g2), (8, g8)):
                for stage in ("init", "trained"):
                    records.append(
                        {
                            "depth": d,
                            "activation": act,
                            "init": init,
                            "stage": stage,
                            "layer": 1,
                            "seed": seed,
                            "grad_norm": g,
                        }  # fmt: skip
                    )
    return {"gradient_flow": {"records": records, "accuracy": []}}


def cures(effect: float, noise: float, label: str) -> dict:
    """``label``'s tuned test accuracy = none's + effect; none's train - test gap = effect."""
    rng = _rng("cures" + label)
    alt = _alternating(noise)
    records = []
    for ds in ("mnist1d", "noisy"):
        for seed in SEEDS:
            test = 0.6 + rng.normal(0, 0.005)
            train = test + (effect + alt() if label == "none" else 0.3)
            records.append(
                {
                    "dataset": ds,
                    "regularizer": "none",
                    "arm": "tuned",
                    "seed": seed,
                    "train_accuracy": train,
                    "test_accuracy": test,
                    "strength_name": None,
                    "strength": math.nan,
                    "strength_on_edge": False,
                }  # fmt: skip
            )
            if label != "none":
                records.append(
                    {
                        "dataset": ds,
                        "regularizer": label,
                        "arm": "tuned",
                        "seed": seed,
                        "train_accuracy": 0.9,
                        "test_accuracy": test + effect + alt(),
                        "strength_name": "strength",
                        "strength": 1e-3,
                        "strength_on_edge": False,
                    }  # fmt: skip
                )
    return {"overfitting_cures": {"records": records}}


def data_size(effect: float, noise: float) -> dict:
    """Gap = -effect * log(n) + noise: effect > 0 shrinks the gap with more data."""
    alt = _alternating(noise)
    records = []
    for n in (20, 60, 200, 600, 2000):
        for data_seed in range(3):
            for seed in range(2):
                gap = 1.0 - effect * math.log(n) + alt()
                records.append(
                    {
                        "n_train": n,
                        "data_seed": data_seed,
                        "seed": seed,
                        "gap": gap,
                        "train_loss": 0.1,
                        "test_loss": 0.1 + gap,
                    }  # fmt: skip
                )
    return {"data_size_sweep": {"records": records}}


def weights(effect: float, noise: float, which: str) -> dict:
    rng = _rng("weights" + which)
    alt = _alternating(noise)
    records = []
    for seed in SEEDS:
        nz = 0.05 + rng.normal(0, 0.001)
        ma = 0.3
        for reg in ("none", "l1", "l2"):
            near, mean_abs = nz, ma
            if which == "sparse" and reg == "l1":
                near = nz + effect + alt()
            if which == "small" and reg == "l2":
                mean_abs = ma * (effect + alt())
            records.append(
                {
                    "label": reg,
                    "regularizer": reg,
                    "seed": seed,
                    "near_zero": near,
                    "mean_abs_weight": mean_abs,
                }  # fmt: skip
            )
    return {"regularizer_boundaries": {"per_seed": records}}


def batches(effect: float, noise: float, which: str) -> dict:
    """History and final records of a full batch and a mini-batch of 10 (n = 100)."""
    rng = _rng("batches" + which)
    alt = _alternating(noise)
    hist, final = [], []
    for seed in SEEDS:
        for bs, full in ((10, False), (100, True)):
            for epoch in range(0, 4):
                loss = 1.0 / (1 + epoch)
                if which == "cheaper" and not full and epoch == 3:
                    loss = 0.25 - effect + alt()
                hist.append(
                    {
                        "batch_size": bs,
                        "full_batch": full,
                        "seed": seed,
                        "epoch": epoch,
                        "examples": 100 * epoch,
                        "steps": epoch * (1 if full else 10),
                        "train_loss": loss,
                    }  # fmt: skip
                )
            acc = 0.9 + rng.normal(0, 0.001)
            if which == "little" and not full:
                acc = 0.9 - effect + alt()
            final.append(
                {
                    "batch_size": bs,
                    "full_batch": full,
                    "seed": seed,
                    "steps": 30,
                    "lr": 0.1,
                    "test_accuracy": acc,
                }  # fmt: skip
            )
    return {"batch_size_curves": {"records": hist, "final": final}}


def grid(effect: float, noise: float, which: str, optimizer: str = "adam") -> dict:
    """Summary and tuning rows of 2 datasets x 3 draws x 12 cells x 5 optimizers. ``steps``:
    at its fastest rate ``optimizer`` is faster than the others in a random share
    ``(1 + effect) / 2`` of the cells, one cell fewer in draw 0 and one more in draw 2 (slower in
    the rest; every third cell nobody reaches the target, a tie); ``well``: Adam's accuracy =
    the best other's + effect, shifted by -noise / 0 / +noise in draws 0 / 1 / 2 (the draws, the
    claims' unit, must differ for an interval over them)."""
    alt = _alternating(noise)
    rng = _rng("grid" + which + optimizer)
    rows, tune, hist = [], [], []
    acts, regs = ("relu", "tanh", "sigmoid"), ("none", "l1", "l2", "dropout")
    cells = [(f"{ds}_draw{d}", a, r) for ds in ("moons", "spirals") for d in range(3)
             for a in acts for r in regs]  # fmt: skip
    share = (1 + effect) / 2
    per_draw = 12
    for i, (ds, act, reg) in enumerate(cells):
        draw = int(ds.rsplit("_draw", 1)[1])
        if i % per_draw == 0:  # round(share * 12) -1/0/+1 faster cells per draw, at random places
            k = min(per_draw, max(0, round(share * per_draw) + draw - 1))
            chosen = set(rng.permutation(per_draw)[:k])
        faster = i % per_draw in chosen
        for opt in ("sgd", "momentum", "adagrad", "rmsprop", "adam"):
            steps = 400.0 if i % 3 else math.inf  # every third cell: nobody reaches the target
            if opt == optimizer and which == "steps":
                steps = 100.0 if faster else (800.0 if i % 3 else math.inf)
            acc = 0.8 + (0.01 if opt == "rmsprop" else 0.0)
            if opt == "adam" and which == "well":
                acc = 0.81 + effect + alt() + (draw - 1) * noise
            key = {"study": "grid", "dataset": ds, "activation": act, "regularizer": reg,
                   "optimizer": opt}  # fmt: skip
            rows.append(
                {**key, "arm": "tuned", "steps_to_target_median": steps, "test_accuracy_mean": acc}
            )
            for lr, factor in ((0.01, 1.0), (0.1, 2.0)):  # the fastest rate and a slower one
                for seed in (0, 1):
                    tune.append({**key, "arm": "tune", "lr": lr, "seed": seed,
                                 "steps_to_target": steps * factor})  # fmt: skip
                    # its learning curve: the early loss follows the steps (a never: 5)
                    early = min(steps * factor / 1000, 5.0)
                    for epoch in (1, 2, 3):
                        hist.append({**key, "arm": "tune", "lr": lr, "seed": seed,
                                     "diverged": False, "epoch": epoch,
                                     "val_loss": early * (1 + 1 / epoch)})  # fmt: skip
    # a one-cell study with a free first place for sgd, which must never be pooled in
    one = {"study": "mnist1d", "dataset": "mnist1d", "activation": "relu", "regularizer": "none",
           "optimizer": "sgd"}  # fmt: skip
    rows.append({**one, "arm": "tuned", "steps_to_target_median": 1.0, "test_accuracy_mean": 1.0})
    tune.append({**one, "arm": "tune", "lr": 0.1, "seed": 0, "steps_to_target": 1.0})
    return {
        "grid": {
            "summary": pd.DataFrame(rows),
            "runs": pd.DataFrame(tune),
            "histories": pd.DataFrame(hist, columns=EARLY_LOSS_COLUMNS),
        }
    }


def wilson(effect: float, noise: float) -> dict:
    """Wilson et al.'s problem: sgd at 0.02 test error, momentum at 0.01 (a plain rival that
    must not count), the best adaptive method ``effect`` (+- noise) above sgd, another above it."""
    alt = _alternating(noise)
    records = []
    for seed in SEEDS:
        gap = effect + alt()
        for opt, adaptive, error in (
            ("sgd", False, 0.02),
            ("momentum", False, 0.01),
            ("adagrad", True, 0.02 + gap + 0.05),
            ("adam", True, 0.02 + gap),
        ):
            records.append(
                {"data_seed": seed, "optimizer": opt, "adaptive": adaptive, "test_error": error,
                 "n_train": 60, "features": 303, "p": 0.55, "test_negative_share": 0.45}
            )  # fmt: skip
    return {"wilson_separable": {"records": records}}


# --------------------------------------------------------------------------- settings

#: claim id -> (builder(effect, noise), (supported, contradicted, inconclusive) as (effect, noise))
BUILDERS = {
    "nonlinearity_bends": (
        lambda e, n: nonlinearity(e, n, "identity"),
        [(0.4, 0.01), (-0.1, 0.01), (0.05, 0.1)],
    ),
    "step_cannot_learn": (
        lambda e, n: nonlinearity(e, n, "step"),
        [(0.4, 0.01), (-0.1, 0.01), (0.05, 0.1)],
    ),
    "few_layers_anything": (
        lambda e, n: depth(e, n, "few"),
        [(0.01, 0.002), (0.3, 0.01), (0.05, 0.1)],
    ),
    "many_layers_careless_fails": (
        lambda e, n: depth(e, n, "many"),
        [(0.4, 0.01), (0.02, 0.005), (0.1, 0.2)],
    ),
    "gradients_vanish": (gradients, [(-6.0, 0.1), (-0.5, 0.1), (-2.0, 2.0)]),
    "gradients_explode": (gradients, [(6.0, 0.1), (0.5, 0.1), (2.0, 2.0)]),
    "unregularised_overfits": (
        lambda e, n: cures(e, n, "none"),
        [(0.3, 0.01), (0.0, 0.01), (0.1, 0.2)],
    ),
    **{
        f"cure_{label}": (
            lambda e, n, label=label: cures(e, n, label),
            [(0.1, 0.01), (-0.1, 0.01), (0.0, 0.1)],
        )
        for label in _CURES
    },
    "more_data": (data_size, [(0.2, 0.01), (-0.2, 0.01), (0.0, 1.0)]),
    "l1_sparse": (lambda e, n: weights(e, n, "sparse"), [(0.5, 0.01), (-0.04, 0.005), (0, 0.2)]),
    "l2_small": (lambda e, n: weights(e, n, "small"), [(0.3, 0.01), (2.0, 0.01), (1.0, 0.5)]),
    "minibatch_cheaper": (
        lambda e, n: batches(e, n, "cheaper"),
        [(0.2, 0.01), (-0.2, 0.01), (0.0, 0.2)],
    ),
    "minibatch_little_loss": (
        lambda e, n: batches(e, n, "little"),  # full minus mini = e
        [(0.0, 0.002), (0.2, 0.01), (0.02, 0.1)],
    ),
    **{
        f"{opt}_faster": (
            lambda e, n, opt=opt: grid(e, n, "steps", opt),
            [(0.8, 0), (-0.8, 0), (0.0, 0)],
        )
        for opt in ("momentum", "adagrad", "rmsprop", "adam")
    },
    "adam_fast": (lambda e, n: grid(e, n, "steps", "adam"), [(0.8, 0), (-0.8, 0), (0.0, 0)]),
    "adam_well": (lambda e, n: grid(e, n, "well"), [(0.02, 0.002), (-0.1, 0.002), (-0.02, 0.05)]),
    "adaptive_generalise_worse": (wilson, [(0.4, 0.01), (0.0, 0.01), (0.1, 0.2)]),
}


def _verdict(claim_id: str, inputs: dict) -> claims.Verdict:
    (v,) = evaluate(inputs, only=[claim_id])
    return v


def test_every_claim_has_a_builder():
    assert set(BUILDERS) == {c.claim_id for c in CLAIMS}


@pytest.mark.parametrize("outcome", [0, 1, 2], ids=["supported", "contradicted", "inconclusive"])
@pytest.mark.parametrize("claim_id", [c.claim_id for c in CLAIMS])
def test_claim_reaches_every_outcome(claim_id, outcome):
    build, settings = BUILDERS[claim_id]
    effect, noise = settings[outcome]
    v = _verdict(claim_id, build(effect, noise))
    assert v.verdict == claims.VERDICTS[outcome], v
    if outcome < 2:
        assert math.isfinite(v.ci_low) and math.isfinite(v.ci_high)
        assert v.ci_low <= v.value <= v.ci_high
    assert v.evidence.endswith(".") and not v.evidence[0].islower()


def test_decide_follows_the_interval_and_the_direction():
    assert decide(0.1, 0.2, 0.0, ">") == "supported"
    assert decide(-0.2, -0.1, 0.0, ">") == "contradicted"
    assert decide(-0.1, 0.1, 0.0, ">") == "inconclusive"
    assert decide(-0.2, -0.1, 0.0, "<") == "supported"
    assert decide(0.1, 0.2, 0.0, "<") == "contradicted"
    assert decide(math.nan, 0.2, 0.0, ">") == "inconclusive"
    with pytest.raises(claims.NngridError, match="direction"):
        decide(0, 1, 0, ">=")


def test_a_single_cell_study_is_never_pooled_into_the_grid_claims():
    inputs = grid(0.0, 0.0, "steps", "adam")
    cells = grid_cells(inputs["grid"]["summary"])
    assert "mnist1d" not in set(cells.index.get_level_values("study"))


def test_missing_experiments_give_inconclusive_rows_in_lesson_order():
    table = claims_table({})
    assert list(table.columns) == COLUMNS
    assert list(table["claim_id"]) == [c.claim_id for c in CLAIMS]
    assert set(table["verdict"]) == {"inconclusive"}
    assert table["evidence"].str.startswith("Not measured").all()
    assert set(table["section"]) == {"activations", "overfitting", "optimizers"}
    assert set(table["direction"]) <= {">", "<"}
    assert table["claim_id"].is_unique


def test_bootstrap_interval_is_reproducible_and_covers_the_mean():
    x = np.random.default_rng(3).normal(1.0, 1.0, 40)
    a = claims.bootstrap_interval(x, np.mean)
    b = claims.bootstrap_interval(x, np.mean)
    assert a == b
    assert a[1] < x.mean() < a[2]
    claims.core.NOTES.clear()
    value, lo, hi = claims.bootstrap_interval(np.ones(20), np.mean)
    assert value == 1.0 and math.isnan(lo) and math.isnan(hi)  # no zero-width interval
    assert "every bootstrap resample" in claims.core.NOTES[-1]


def test_main_writes_the_table(tmp_path):
    out = tmp_path / "claims.csv"
    assert claims.main(["--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == COLUMNS and len(table) == len(CLAIMS)


def test_the_readmes_claims_table_is_the_registrys():
    """The README's table is generated from the registry (``readme_table``), not hand-kept."""
    from pathlib import Path

    from nngrid.study.claims.core import readme_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme_table()
    assert len(table.splitlines()) == len(CLAIMS) + 2
    assert table in readme, "README.md's claims table drifted: paste readme_table()'s output"


def test_a_claim_is_one_decorated_function_in_its_section():
    from nngrid.study.claims.core import claim

    for c in CLAIMS:
        module = c.function.__module__.rsplit(".", 1)[-1]
        assert module in claims.SECTION_MODULES, c
        assert c.section in claims.SECTIONS, c
    assert len({c.claim_id for c in CLAIMS}) == len(CLAIMS)
    with pytest.raises(claims.NngridError, match="registered twice"):
        claim(CLAIMS[0].claim_id, "activations", "f", 0.0, ">", "s", "t", needs=())
    with pytest.raises(claims.NngridError, match="section"):
        claim("new_claim", "no_such_section", "f", 0.0, ">", "s", "t", needs=())


def test_no_grid_verdict_moves_with_wall_clock_seconds():
    inputs = grid(0.5, 0.01, "steps", "adam")
    summary, runs = inputs["grid"]["summary"], inputs["grid"]["runs"]
    rng = np.random.default_rng(0)

    def timed(order):
        return {
            "grid": {
                "summary": summary.assign(
                    seconds_to_target_median=order(rng.uniform(0, 100, len(summary))),
                    seconds_mean=order(rng.uniform(0, 100, len(summary))),
                ),
                "runs": runs.assign(seconds_to_target=order(rng.uniform(0, 100, len(runs)))),
                "histories": inputs["grid"]["histories"].assign(
                    seconds=order(rng.uniform(0, 100, len(inputs["grid"]["histories"])))
                ),
            }
        }

    ids = [c.claim_id for c in CLAIMS if c.needs == ("grid",)]
    a = evaluate(timed(lambda x: x), only=ids)
    b = evaluate(timed(lambda x: x[::-1]), only=ids)
    assert a == b == evaluate(inputs, only=ids)
    speed = [v for v in a if v.claim_id in ("adam_faster", "adam_fast")]
    assert speed and all(math.isfinite(v.ci_low) for v in speed)  # equal, not NaN by accident


# --------------------------------------------------------------------------- architectures


def architectures(effect: float, noise: float, which: str) -> dict:
    """Synthetic records of the architectures arm; ``which`` picks the claim the effect drives:
    ``cnn`` (relu minus a rival's accuracy), ``fast`` (log2 of a rival's steps over relu's),
    ``rnn`` (best relu/tanh minus sigmoid), ``grad`` (sigmoid's log10 gradient through time),
    ``mlp`` (best minus worst MLP activation), ``shuffle`` (CNN/GRU drop minus the MLP's)."""
    rng = _rng("architectures" + which)
    alt = _alternating(noise)
    records, grad_time = [], []

    def rec(arch, fam, act, seed, acc, shuffled=False, steps=100.0, dataset=None):
        # a little seed-to-seed spread everywhere: no paired difference has zero spread
        acc += rng.normal(0, 0.001)
        steps *= 2 ** rng.normal(0, 0.01)
        records.append(
            {
                "dataset": dataset or ("mnist1d_shuffled" if shuffled else "mnist1d"),
                "architecture": arch,
                "family": fam,
                "activation": act,
                "regularizer": "none",
                "optimizer": "adam",
                "seed": seed,
                "shuffled": shuffled,
                "test_accuracy": acc,
                "diverged": False,
                "epochs": 10,
                "steps_per_epoch": 20,
                "steps_to_target": steps,
                "target": 0.9,
            }
        )

    for seed in SEEDS:
        base = 0.8 + rng.normal(0, 0.005)
        e = alt()
        # CNN: relu, tanh (2 points worse, twice as slow) and elu (the driven rival)
        cnn_elu = base - (effect + e if which == "cnn" else 0.05)
        fast = 2 ** ((effect + e) if which == "fast" else 1.0)
        rec("cnn", "cnn", "relu", seed, base)
        rec("cnn", "cnn", "tanh", seed, base - 0.02, steps=200.0)
        rec("cnn", "cnn", "elu", seed, cnn_elu, steps=100.0 * fast)
        # Elman RNN: relu, tanh and sigmoid (the driven rival); a GRU beside them
        sig = base - (effect + e if which == "rnn" else 0.1)
        rec("rnn", "rnn", "relu", seed, base)
        rec("rnn", "rnn", "tanh", seed, base - 0.01)
        rec("rnn", "rnn", "sigmoid", seed, sig)
        rec("gru", "gated", "gates", seed, base + 0.05)
        # MLP: relu, tanh, elu (driven), identity (left out of "any activation")
        rec("mlp", "mlp", "relu", seed, base)
        rec("mlp", "mlp", "tanh", seed, base - 0.01)
        rec("mlp", "mlp", "elu", seed, base - (effect + e if which == "mlp" else 0.01))
        rec("mlp", "mlp", "identity", seed, 0.3)
        for g in (1, 2):  # the MLP on two more MNIST-1D generations (draws): its gap moves a little
            gap = (effect + e + (g - 1.5) * noise) if which == "mlp" else 0.01
            for act, acc in (("relu", base), ("tanh", base - 0.01), ("elu", base - gap)):
                rec("mlp", "mlp", act, seed, acc, dataset=f"mnist1d_gens_draw{g}")
        # shuffled control: the MLP keeps its accuracy, CNN and GRU drop by the effect
        drop = effect + e if which == "shuffle" else 0.3
        rec("mlp", "mlp", "relu", seed, base, shuffled=True)
        rec("cnn", "cnn", "relu", seed, base - drop, shuffled=True)
        rec("gru", "gated", "gates", seed, base + 0.05 - drop, shuffled=True)
        # gradient through time at init: sigmoid shrinks by 10^effect, the others by 10^-0.5
        for act in ("relu", "tanh", "sigmoid"):
            decades = (effect + e if which == "grad" else -6.0) if act == "sigmoid" else -0.5
            decades += rng.normal(0, 0.01)
            for t in range(4):
                grad_time.append(
                    {
                        "architecture": "rnn",
                        "family": "rnn",
                        "activation": act,
                        "regularizer": "none",
                        "optimizer": "adam",
                        "shuffled": False,
                        "seed": seed,
                        "stage": "init",
                        "direction": 0,
                        "t": t,
                        "grad_norm": 10 ** (decades * (3 - t) / 3),
                    }
                )
    return {"architectures": {"records": records, "curves": [], "grad_time": grad_time}}


BUILDERS.update(
    {
        "cnn_relu": (
            lambda e, n: architectures(e, n, "cnn"),
            [(0.05, 0.002), (-0.1, 0.002), (-0.01, 0.05)],
        ),
        "cnn_relu_fast": (
            lambda e, n: architectures(e, n, "fast"),
            [(1.0, 0.05), (-1.0, 0.05), (0.0, 0.5)],
        ),
        "rnn_relu_or_tanh": (
            lambda e, n: architectures(e, n, "rnn"),
            [(0.1, 0.01), (-0.1, 0.01), (-0.01, 0.1)],
        ),
        "rnn_gradient_vanishes": (
            lambda e, n: architectures(e, n, "grad"),
            [(-6.0, 0.1), (0.5, 0.1), (-2.0, 2.0)],
        ),
        "mlp_anything": (
            lambda e, n: architectures(e, n, "mlp"),
            [(0.01, 0.002), (0.3, 0.01), (0.05, 0.1)],
        ),
        "shuffle_control": (
            lambda e, n: architectures(e, n, "shuffle"),
            [(0.3, 0.01), (0.0, 0.01), (0.05, 0.2)],
        ),
    }
)


def test_architecture_claims_leave_identity_out_and_censor_never_reached_runs():
    inputs = architectures(0.01, 0.002, "mlp")
    for r in inputs["architectures"]["records"]:  # identity far behind: still "anything works"
        if r["activation"] == "identity":
            r["test_accuracy"] = 0.1
    assert _verdict("mlp_anything", inputs).verdict == "supported"
    inputs = architectures(1.0, 0.05, "fast")
    for r in inputs["architectures"]["records"]:  # relu never gets there: counted past budget
        if r["family"] == "cnn" and r["activation"] == "relu":
            r["steps_to_target"] = None
    v = _verdict("cnn_relu_fast", inputs)
    assert v.verdict == "contradicted" and "never" in v.evidence
    inputs = architectures(0.0, 0.0, "shuffle")
    inputs["architectures"]["records"] = [
        r for r in inputs["architectures"]["records"] if not r["shuffled"]
    ]
    v = _verdict("shuffle_control", inputs)
    assert v.verdict == "inconclusive" and "not trained" in v.evidence


def test_mlp_anything_takes_the_generation_as_its_unit():
    """Three MNIST-1D generations whose gaps differ (0.01, 0.04, 0.09): over each one's seeds the
    gap is decisive, over the generations it is not; the other claims see no generation."""
    inputs = architectures(0.0, 0.0, "cnn")
    recs = [r for r in inputs["architectures"]["records"] if r["family"] != "mlp"]
    rng = np.random.default_rng(3)
    for ds, gap in (("mnist1d", 0.01), ("mnist1d_gens_draw1", 0.04), ("mnist1d_gens_draw2", 0.09)):
        for seed in range(6):
            base = 0.7 + rng.normal(0, 0.01)
            for act, acc in (("relu", base), ("sigmoid", base - gap + rng.normal(0, 0.002))):
                recs.append({"dataset": ds, "architecture": "mlp", "family": "mlp",
                             "activation": act, "regularizer": "none", "optimizer": "adam",
                             "seed": seed, "shuffled": False, "test_accuracy": acc})  # fmt: skip
    v = _verdict("mlp_anything", {"architectures": {**inputs["architectures"], "records": recs}})
    assert v.verdict == "inconclusive" and "3 data draws" in v.evidence
    assert v.value == pytest.approx(0.0467, abs=0.002)
    one = [r for r in recs if r["dataset"] in ("mnist1d", "mnist1d_shuffled")]
    v1 = _verdict("mlp_anything", {"architectures": {**inputs["architectures"], "records": one}})
    assert v1.verdict == "supported" and "6 seeds" in v1.evidence  # one generation: seeds
    # cnn_relu reads the data alone: the MLP's generations change nothing there
    a = _verdict("cnn_relu", {"architectures": {**inputs["architectures"], "records": recs}})
    b = _verdict("cnn_relu", {"architectures": {**inputs["architectures"], "records": one}})
    assert (a.value, a.ci_low, a.ci_high) == (b.value, b.ci_low, b.ci_high)


def test_two_optimizers_that_never_reach_the_target_tie():
    never = pd.Series([math.inf, math.inf, 5.0])
    other = pd.Series([math.inf, 3.0, math.inf])
    assert _win_score(never, other).tolist() == [0.0, -1.0, 1.0]


# --------------------------------------------------------------------------- the new statistics


def test_hierarchical_interval_resamples_draws_then_cells():
    from nngrid.study.claims.core import NOTES, hierarchical_interval

    rng = np.random.default_rng(0)
    # supported: every draw's cells well above 0; contradicted: well below; inconclusive: the
    # draws disagree (one draw far above, two below), which cell resampling alone would hide
    up = [rng.normal(0.5, 0.2, 30) for _ in range(4)]
    down = [rng.normal(-0.5, 0.2, 30) for _ in range(4)]
    split = [rng.normal(1.0, 0.2, 30), rng.normal(-0.4, 0.2, 30), rng.normal(-0.3, 0.2, 30)]
    v, lo, hi = hierarchical_interval(up)
    assert decide(lo, hi, 0.0, ">") == "supported" and lo < v < hi
    v, lo, hi = hierarchical_interval(down)
    assert decide(lo, hi, 0.0, ">") == "contradicted"
    v, lo, hi = hierarchical_interval(split)
    assert decide(lo, hi, 0.0, ">") == "inconclusive" and lo < 0 < hi
    flat = np.concatenate(split)  # the same cells as if one draw: a narrow, decisive interval
    _, flo, fhi = claims.bootstrap_interval(flat, np.mean)
    assert fhi - flo < (hi - lo) / 3
    NOTES.clear()  # too few draws, or too few cells in a draw: no interval, with the reason
    assert math.isnan(hierarchical_interval(up[:2])[1]) and "data draws" in NOTES[-1]
    many = [rng.normal(0.5, 0.2, 5) for _ in range(12)]  # 12 draws: the two-level bootstrap
    assert math.isnan(hierarchical_interval(many)[1]) and "cells" in NOTES[-1]
    v, lo, hi = hierarchical_interval([rng.normal(0.5, 0.2, 30) for _ in range(12)])
    assert lo < v < hi and decide(lo, hi, 0.0, ">") == "supported"


def test_hierarchical_interval_over_few_draws_is_the_t_interval_of_their_means():
    from scipy import stats

    from nngrid.study.claims.core import hierarchical_interval

    rng = np.random.default_rng(1)
    draws = [rng.normal(m, 0.3, 40) for m in (0.2, 0.5, 0.35)]
    means = np.array([d.mean() for d in draws])
    v, lo, hi = hierarchical_interval(draws)
    t_lo, t_hi = stats.t.interval(0.95, 2, loc=means.mean(), scale=stats.sem(means))
    assert v == pytest.approx(means.mean()) and (lo, hi) == pytest.approx((t_lo, t_hi))
    # the cells' own spread does not narrow it: 3 draws are 3 units, however many cells each has
    _, blo, bhi = claims.bootstrap_interval(np.concatenate(draws), np.mean)
    assert bhi - blo < (hi - lo) / 5


def test_no_interval_from_too_few_units_or_zero_spread_and_evidence_says_why():
    from nngrid.study.claims.core import NOTES, mean_interval

    NOTES.clear()
    assert math.isnan(mean_interval([0.3, 0.3, 0.3])[1]) and "zero spread" in NOTES[-1]
    assert math.isnan(mean_interval([0.3])[1]) and "1 unit" in NOTES[-1]
    assert math.isnan(claims.bootstrap_interval(np.arange(5.0), np.mean)[1])
    assert "a bootstrap needs 10" in NOTES[-1]
    # many_layers_careless_fails with every seed tied: inconclusive, the reason in the evidence
    inputs = depth(0.4, 0.0, "many")
    for r in inputs["gradient_flow"]["accuracy"]:
        r["test_accuracy"] = 0.5 if r["depth"] == 16 and r["activation"] == "sigmoid" else 0.95
    v = _verdict("many_layers_careless_fails", inputs)
    assert v.verdict == "inconclusive" and math.isnan(v.ci_low) and "zero spread" in v.evidence


def test_pooled_claims_are_decided_per_dataset_and_a_contradicting_one_is_never_averaged_away():
    from nngrid.study.claims.core import claims_tables

    inputs = cures(0.1, 0.01, "l2")
    records = inputs["overfitting_cures"]["records"]
    for r in records:  # l2 hurts on "noisy" by much less than it helps on mnist1d
        if r["dataset"] == "noisy" and r["regularizer"] == "l2":
            r["test_accuracy"] -= 0.15
    v = _verdict("cure_l2", inputs)
    assert v.value > 0  # the pooled mean still favours l2 ...
    assert v.verdict == "inconclusive"  # ... but a contradicting dataset keeps it from support
    assert "1 of 2 support the claim, 1 contradict it" in v.evidence
    _, by_dataset = claims_tables(inputs)
    rows = by_dataset[by_dataset["claim_id"] == "cure_l2"].set_index("dataset")["verdict"]
    assert rows.to_dict() == {"mnist1d": "supported", "noisy": "contradicted"}


def test_cures_take_the_data_draw_as_the_unit():
    inputs = cures(0.1, 0.01, "l2")
    rng = np.random.default_rng(1)
    for r in inputs["overfitting_cures"]["records"]:
        r["data_seed"] = r["seed"] % 3  # 3 draws of 2 seeds each
        r["test_accuracy"] += rng.normal(0, 0.002) if r["regularizer"] == "l2" else 0.0
    v = _verdict("cure_l2", inputs)
    assert "over 3 data draws" in v.evidence and v.verdict == "supported"


def test_adaptive_generalise_worse_takes_the_best_adaptive_method_against_sgd():
    inputs = wilson(0.3, 0.0)
    records = inputs["wilson_separable"]["records"]
    for r in records:  # the draws differ, so the interval has a width
        if r["optimizer"] == "adam":
            r["test_error"] += 0.01 * r["data_seed"]
    v = _verdict("adaptive_generalise_worse", inputs)
    # adam (the best adaptive) minus sgd, per draw: 0.3 + 0.01 seed; momentum's 0.01 not used
    assert v.value == pytest.approx(0.3 + 0.01 * np.mean(list(SEEDS)))
    assert v.verdict == "supported" and "sgd" in v.evidence
    no_sgd = {"wilson_separable": {"records": [r for r in records if r["optimizer"] != "sgd"]}}
    v = _verdict("adaptive_generalise_worse", no_sgd)
    assert v.verdict == "inconclusive" and "needs sgd and at least one adaptive" in v.evidence


def test_speed_claims_read_the_early_loss_at_each_optimizers_best_rate():
    inputs = grid(0.8, 0.0, "steps", "momentum")
    hist = inputs["grid"]["histories"]
    # raise the loss of every rate but momentum's best: the verdict does not move, because the
    # statistic reads only each optimizer's best rate
    slowed = hist.assign(val_loss=np.where(
        (hist["optimizer"] == "momentum") & (hist["lr"] == 0.1), 10 * hist["val_loss"],
        hist["val_loss"],
    ))  # fmt: skip
    a = _verdict("momentum_faster", inputs)
    b = _verdict("momentum_faster", {"grid": {**inputs["grid"], "histories": slowed}})
    assert a == b and a.verdict == "supported" and "best rate" in a.evidence
    # every rate of momentum diverging on one seed in the first epochs: a rate's median over
    # the two seeds is then never, so momentum loses the cells it won
    broken = hist.assign(val_loss=np.where(
        (hist["optimizer"] == "momentum") & (hist["seed"] == 0) & (hist["epoch"] == 2),
        np.nan, hist["val_loss"],
    ))  # fmt: skip
    c = _verdict("momentum_faster", {"grid": {**inputs["grid"], "histories": broken}})
    assert c.value < a.value
    none = _verdict("momentum_faster", {"grid": {**inputs["grid"], "histories": None}})
    assert none.verdict == "inconclusive" and "histories" in none.evidence


def test_speed_claims_take_the_exact_sign_interval_when_every_draw_agrees():
    """Momentum faster in every cell of every draw: the draws' scores have no spread, so there
    is no t interval; the exact sign interval over the cells decides (and says so)."""
    inputs = grid(1.0, 0.0, "steps", "momentum")
    inputs["grid"]["histories"] = inputs["grid"]["histories"].assign(
        val_loss=lambda h: np.where(h["optimizer"] == "momentum", 0.01, h["val_loss"])
    )
    (v,), rows = claims.core.evaluate_all(inputs, only=["momentum_faster"])
    assert v.verdict == "supported" and v.value == 1.0 and 0.8 < v.ci_low < 1.0
    assert rows and all("exact sign interval" in r["evidence"] for r in rows)
    lo_hi = claims.sign_interval([1.0] * 10 + [-1.0] * 10)  # a coin: straddles 0
    assert lo_hi[1] < 0 < lo_hi[2]
    assert math.isnan(claims.sign_interval([0.0] * 5)[1])  # all ties: no interval


def test_few_layers_anything_picks_best_and_worst_on_other_seeds_than_it_measures():
    """All combinations are equally good; per-seed noise only. Picking best and worst on the
    seeds that measure them would report the noise's range as a gap; cross-fitting does not."""
    rng = np.random.default_rng(5)
    acc = [
        {"depth": 2, "activation": a, "init": i, "seed": seed, "careless_init": False,
         "test_accuracy": 0.95 + rng.normal(0, 0.02)}
        for a in ("relu", "tanh", "sigmoid", "elu") for i in ("glorot_uniform", "he_normal")
        for seed in range(16)
    ]  # fmt: skip
    inputs = {"gradient_flow": {"accuracy": acc, "records": []}}
    means = pd.DataFrame(acc).groupby(["activation", "init"])["test_accuracy"].mean()
    in_sample = means.max() - means.min()
    v = _verdict("few_layers_anything", inputs)
    assert "picked on seeds [0, 1, 2, 3, 4, 5, 6, 7]" in v.evidence and "cross-fitted" in v.evidence
    assert v.value < in_sample  # the selection's luck is not all measured
    assert v.ci_low < 0 < v.ci_high  # no gap: the interval covers 0


# --------------------------------------------------------------------------- tuning protocols


def protocols(effect: float, noise: float, which: str, runs: tuple = ("lr", "full")) -> dict:
    """The grid under several tuning protocols: 2 datasets x 3 draws x 4 cells, optimizers sgd,
    momentum and adam, one study per protocol in ``runs``. ``choi``: under ``full`` Adam's tuned
    accuracy is Momentum's + effect, shifted by -noise / 0 / +noise in draws 0 / 1 / 2 (under
    ``lr`` Adam trails by 0.05, at the defaults by 0.01, with the same spread); ``valley``: at
    the defaults momentum is best (0.82, the others 0.80 and 0.81) and Adam tuned by ``full``
    (3 trials: as many as optimizers) is 0.82 - effect with the same shifts."""
    alt = _alternating(noise)
    rows, tune = [], []
    cells = [(f"{ds}_draw{d}", a, r) for ds in ("moons", "spirals") for d in range(3)
             for a in ("relu", "tanh") for r in ("none", "l2")]  # fmt: skip
    opts = ("sgd", "momentum", "adam")
    for ds, act, reg in cells:
        draw = int(ds.rsplit("_draw", 1)[1])
        shift = effect + alt() + (draw - 1) * noise
        for protocol in runs:
            for opt in opts:
                key = {"study": protocol, "protocol": protocol, "dataset": ds, "activation": act,
                       "regularizer": reg, "optimizer": opt}  # fmt: skip
                default = {"sgd": 0.80, "momentum": 0.82, "adam": 0.81}[opt]
                tuned = {"sgd": 0.84, "momentum": 0.85, "adam": 0.85}[opt]
                if which == "choi" and opt == "adam":  # lr: trails by 0.05, with the spread
                    tuned = 0.85 + (shift if protocol == "full" else shift - effect - 0.05)
                if which == "valley" and opt == "adam" and protocol == "full":
                    tuned = 0.82 - shift
                if protocol == "default":
                    tuned = default + (shift - effect if which == "choi" and opt == "adam" else 0)
                rows.append({**key, "arm": "tuned", "test_accuracy_mean": tuned,
                             "steps_to_target_median": 100.0})  # fmt: skip
                if protocol != "default":
                    rows.append({**key, "arm": "untuned", "test_accuracy_mean": default,
                                 "steps_to_target_median": 200.0})  # fmt: skip
                trials = range(3) if protocol == "full" else [None]
                for trial in trials:
                    params = {} if trial is None else {"lr": 0.01, "eps": 10.0 ** (3 * trial - 6)}
                    tune.append({**key, "arm": "tune", "lr": 0.01, "seed": 0, "trial": trial,
                                 "trial_params": json.dumps(params) if params else None,
                                 "steps_to_target": 100.0})  # fmt: skip
    return {"grid": {"summary": pd.DataFrame(rows), "runs": pd.DataFrame(tune)}}


BUILDERS.update(
    {
        "adam_includes_momentum": (
            lambda e, n: protocols(e, n, "choi"),
            [(0.02, 0.002), (-0.1, 0.002), (-0.01, 0.05)],
        ),
        "defaults_rival_tuning": (
            lambda e, n: protocols(e, n, "valley", ("default", "full")),
            [(0.0, 0.002), (-0.1, 0.002), (-0.02, 0.05)],
        ),
    }
)


def test_optimizer_claims_are_decided_once_per_protocol_and_lr_alone_is_unchanged():
    both = claims_table(protocols(0.02, 0.002, "choi", ("lr", "full", "default")))
    well = both[both["claim_id"] == "adam_well"]
    assert list(well["protocol"]) == ["lr", "full", "default"]
    # lr: adam trails momentum by 0.05; full: adam ahead; default: adam 0.01 behind momentum
    assert list(well["verdict"]) == ["contradicted", "supported", "supported"]
    speed = both[both["claim_id"] == "adam_fast"]  # default: the default rates' steps, all tied
    assert "each optimizer's one rate is its default" in speed["evidence"].iloc[2]
    assert set(both.loc[both["claim_id"] == "cure_l1", "protocol"].fillna("")) == {""}
    assert both.loc[both["claim_id"] == "adam_includes_momentum", "protocol"].item() == "full"
    # the lr rows of a grid that ran lr alone are those of a table without a protocol column
    lr = protocols(0.02, 0.002, "choi", ("lr",))
    bare = {"grid": {k: v.drop(columns="protocol") for k, v in lr["grid"].items()}}
    a, b = claims_table(lr), claims_table(bare)
    each = {c.claim_id for c in CLAIMS if c.protocol == claims.core.EACH_PROTOCOL}
    assert set(a.loc[a["claim_id"].isin(each), "protocol"]) == {"lr"} and len(a) == len(CLAIMS)
    pd.testing.assert_frame_equal(a.drop(columns="protocol"), b.drop(columns="protocol"))


def test_a_protocol_that_did_not_run_leaves_its_claims_inconclusive_and_says_so():
    lr_only = protocols(0.02, 0.002, "choi", ("lr",))
    choi = _verdict("adam_includes_momentum", lr_only)
    assert choi.verdict == "inconclusive" and "full protocol" in choi.evidence
    assert "under the lr protocol" in choi.evidence and choi.protocol == "full"
    valley = _verdict("defaults_rival_tuning", lr_only)
    assert valley.verdict == "inconclusive" and valley.evidence.startswith("Not measured")


def test_choi_states_the_eps_searched_and_the_lr_protocols_difference():
    v = _verdict("adam_includes_momentum", protocols(0.02, 0.002, "choi"))
    assert v.verdict == "supported"
    assert "searched eps from 1e-06 to 1;" in v.evidence
    assert "under the lr protocol (learning rate alone) the same difference is -0.05" in v.evidence


def test_crowded_valley_needs_equal_budgets_and_falls_back_to_an_untuned_arm():
    inputs = protocols(0.0, 0.002, "valley", ("lr", "full"))  # defaults: the lr untuned arm
    v = _verdict("defaults_rival_tuning", inputs)
    assert v.verdict == "supported" and "the lr protocol's untuned arm" in v.evidence
    runs = inputs["grid"]["runs"]
    inputs["grid"]["runs"] = runs[runs["trial"].isna() | (runs["trial"] < 2)]  # 2 trials, 3 opts
    v = _verdict("defaults_rival_tuning", inputs)
    assert v.verdict == "inconclusive" and "set tuning.budget to 3" in v.evidence
