"""train_replicas: records, replica independence, determinism, divergence, early stopping."""

import dataclasses
import json
import math

import numpy as np
import pytest

from nngrid import datasets
from nngrid.core.optim import OPTIMIZERS
from nngrid.core.regularizers import REGULARIZERS
from nngrid.core.schedules import SCHEDULES
from nngrid.core.train import METRIC_KEYS, RECORD_KEYS, TIMING_KEYS, TrainConfig, train_replicas
from nngrid.errors import NngridError

CONTRACT_KEYS = {
    "train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss",
    "best_val_accuracy", "best_val_loss", "best_epoch", "epochs", "diverged", "diverged_epoch",
    "epochs_to_target", "seconds_to_target", "seconds", "seconds_per_epoch", "history", "seed",
    "lr", "replica", "config", "version",
}  # fmt: skip
HISTORY_KEYS = {"epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "seconds"}


@pytest.fixture(scope="module")
def moons():
    return datasets.build("moons", seed=0, n_samples=160)


@pytest.fixture(scope="module")
def regression():
    return datasets.build("regression1d", seed=0)


def untimed(record):
    """The record without replica index and timing fields (the reproducible part)."""
    r = {k: v for k, v in record.items() if k not in TIMING_KEYS and k != "replica"}
    r["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]
    return r


KW = dict(hidden=[8, 8], activation="tanh", batch_size=16, epochs=6)


def test_record_has_exactly_the_contract_keys_and_is_strict_json(moons):
    (rec,) = train_replicas(moons, TrainConfig(target_accuracy=0.6, **KW)).records
    assert set(rec) == CONTRACT_KEYS == set(RECORD_KEYS)
    assert all(set(h) == HISTORY_KEYS for h in rec["history"])
    json.dumps(rec, allow_nan=False)
    assert rec["epochs"] == len(rec["history"]) == 6
    assert [h["epoch"] for h in rec["history"]] == list(range(1, 7))
    assert 0 <= rec["test_accuracy"] <= 1 and rec["diverged"] is False
    assert rec["best_val_loss"] == min(h["val_loss"] for h in rec["history"])
    assert rec["best_val_accuracy"] == max(h["val_accuracy"] for h in rec["history"])
    cfg = rec["config"]
    for key in ("hidden", "activation", "init", "loss", "regularizer", "reg_params", "optimizer"):
        assert key in cfg
    assert cfg["init"] == "glorot_uniform" and cfg["loss"] == "softmax_cross_entropy"
    assert cfg["opt_params"] == {**OPTIMIZERS.parameters("adam"), "betas": [0.9, 0.999]}
    times = [h["seconds"] for h in rec["history"]]
    assert times == sorted(times) and rec["seconds"] >= times[-1] * 0.999


def test_final_metrics_are_those_of_the_last_epoch_without_early_stopping(moons):
    (rec,) = train_replicas(moons, TrainConfig(**KW)).records
    assert rec["val_loss"] == pytest.approx(rec["history"][-1]["val_loss"], rel=1e-12)
    assert rec["val_accuracy"] == rec["history"][-1]["val_accuracy"]


def test_regression_uses_mse_and_reports_no_accuracy(regression):
    (rec,) = train_replicas(
        regression, TrainConfig(hidden=[16], activation="tanh", epochs=5, batch_size=8)
    ).records
    assert rec["config"]["loss"] == "mse" and rec["config"]["task"] == "regression"
    assert rec["test_accuracy"] is None and rec["best_val_accuracy"] is None
    assert all(h["val_accuracy"] is None for h in rec["history"])
    assert rec["history"][-1]["train_loss"] < rec["history"][0]["train_loss"]


def test_training_lowers_the_loss_full_batch_and_minibatch(moons):
    for bs in (None, 16):
        (rec,) = train_replicas(
            moons,
            TrainConfig(
                hidden=[16], activation="relu", batch_size=bs, epochs=30, opt_params={"lr": 0.03}
            ),
        ).records
        assert rec["history"][-1]["train_loss"] < 0.8 * rec["history"][0]["train_loss"]
        assert rec["config"]["batch_size"] == ("full" if bs is None else bs)


@pytest.mark.parametrize(
    "regularizer, values",
    [
        ("l2", {"strength": [1e-3, 1e-2, 0.0, 1e-1]}),
        ("elastic_net", {"strength": [1e-3, 1e-2, 3e-2, 1e-1], "l1_ratio": [0.1, 0.5, 0.9, 0.3]}),
        ("dropout", {"rate": [0.0, 0.2, 0.5, 0.1]}),
        ("early_stopping", {"patience": [1, 2, 3, 50]}),
        ("max_norm", {"max_norm": [0.5, 1.0, 2.0, 3.0]}),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_replica_in_a_stack_equals_replica_alone(moons, regularizer, values, dtype):
    """Bitwise: the stack's record for replica r == the record of r trained alone (==)."""
    lrs = [0.1, 0.3, 0.05, 0.2]
    kw = dict(KW, epochs=8, regularizer=regularizer, optimizer="sgd", dtype=dtype)
    stack = train_replicas(
        moons, TrainConfig(seeds=[0, 1, 2, 3], opt_params={"lr": lrs}, reg_params=values, **kw)
    ).records
    for r in range(4):
        alone = train_replicas(
            moons,
            TrainConfig(
                seeds=[r],
                opt_params={"lr": lrs[r]},
                reg_params={k: v[r] for k, v in values.items()},
                **kw,
            ),
        ).records[0]
        assert untimed(stack[r]) == untimed(alone)  # exact equality of every float
        assert stack[r]["replica"] == r and alone["replica"] == 0


@pytest.mark.parametrize(
    "optimizer, values",
    [
        ("momentum", {"momentum": [0.5, 0.9, 0.99, 0.8], "weight_decay": [0.0, 1e-3, 1e-2, 0.0]}),
        ("nesterov", {"momentum": [0.5, 0.9, 0.99, 0.8]}),
        ("adagrad", {"eps": [1e-10, 1e-3, 0.1, 1.0], "weight_decay": [0.0, 1e-3, 0.0, 1e-2]}),
        ("rmsprop", {"alpha": [0.9, 0.99, 0.5, 0.99], "eps": [1e-8, 1e-3, 1e-8, 0.1]}),
        (
            "adam",
            {
                "betas": [[0.9, 0.999], [0.8, 0.99], [0.95, 0.9], [0.9, 0.999]],
                "eps": [1e-8, 1e-8, 1e-3, 1.0],
            },
        ),
        ("adamw", {"betas": [[0.9, 0.999], [0.5, 0.999]], "weight_decay": [1e-2, 0.0]}),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_per_replica_optimizer_settings_equal_replicas_alone(moons, optimizer, values, dtype):
    """Bitwise: replica r of a stack of trials (lr and other hyperparameters per replica) ==
    replica r trained alone with its scalar settings; the record carries each one's own."""
    R = len(next(iter(values.values())))
    lrs = [0.01, 0.03, 0.003, 0.02][:R]
    kw = dict(KW, epochs=5, activation="relu", optimizer=optimizer, dtype=dtype)
    stack = train_replicas(
        moons, TrainConfig(seeds=list(range(R)), opt_params={"lr": lrs, **values}, **kw)
    ).records
    for r in range(R):
        mine = {k: v[r] for k, v in values.items()}
        alone = train_replicas(
            moons, TrainConfig(seeds=[r], opt_params={"lr": lrs[r], **mine}, **kw)
        ).records[0]
        assert untimed(stack[r]) == untimed(alone)
        for k, v in mine.items():
            assert stack[r]["config"]["opt_params"][k] == (list(v) if k == "betas" else v)
    assert stack[0]["history"] != stack[1]["history"]


def test_early_stopping_stops_replicas_separately_and_restores_the_best(moons):
    recs = train_replicas(
        moons,
        TrainConfig(
            seeds=[0, 0],
            regularizer="early_stopping",
            reg_params={"patience": [1, 100], "monitor": "loss"},
            opt_params={"lr": 0.3},
            optimizer="sgd",
            **dict(KW, epochs=40),
        ),
    ).records
    short, long = recs
    assert short["epochs"] < long["epochs"] == 40
    assert short["epochs"] == short["best_epoch"] + 1  # patience 1: one epoch without progress
    for rec in recs:  # the best-validation weights are back
        assert rec["val_loss"] == pytest.approx(rec["best_val_loss"], rel=1e-9)
        assert not rec["diverged"]
    assert short["history"] == long["history"][: short["epochs"]]


def test_early_stopping_monitors_validation_accuracy_by_default_and_a_tie_is_no_progress(moons):
    recs = train_replicas(
        moons,
        TrainConfig(
            seeds=[0],
            regularizer="early_stopping",
            reg_params={"patience": 3},
            opt_params={"lr": 0.3},
            optimizer="sgd",
            **dict(KW, epochs=60),
        ),
    ).records
    (rec,) = recs
    accs = [h["val_accuracy"] for h in rec["history"]]
    best = max(accs)
    first_best = accs.index(best)
    # stopped exactly `patience` epochs after the first epoch reaching the highest accuracy
    # (later epochs that only tie it do not reset the wait), with that epoch's weights back
    assert rec["epochs"] == first_best + 1 + 3 or rec["epochs"] == 60
    assert rec["val_accuracy"] == pytest.approx(best)
    with pytest.raises(NngridError, match="monitor"):
        train_replicas(
            moons,
            TrainConfig(
                seeds=[0], regularizer="early_stopping", reg_params={"monitor": "speed"}, **KW
            ),
        )


def test_same_seed_same_record_and_other_seeds_differ(moons):
    kw = dict(KW, regularizer="dropout", reg_params={"rate": 0.2})
    a = train_replicas(moons, TrainConfig(seeds=[3, 4], **kw)).records
    b = train_replicas(moons, TrainConfig(seeds=[3, 4], **kw)).records
    assert [untimed(r) for r in a] == [untimed(r) for r in b]
    assert untimed(a[0])["history"] != untimed(a[1])["history"]
    c = train_replicas(moons, TrainConfig(seeds=[5], **kw)).records[0]
    assert c["history"][0]["train_loss"] != a[0]["history"][0]["train_loss"]


def test_divergence_is_flagged_and_leaves_the_other_replicas_alone(regression):
    kw = dict(KW, activation="relu", optimizer="sgd", epochs=6)
    lrs = [0.01, 10.0, 0.02]
    stack = train_replicas(
        regression, TrainConfig(seeds=[0, 1, 2], opt_params={"lr": lrs}, **kw)
    ).records
    bad = stack[1]
    assert bad["diverged"] is True and bad["diverged_epoch"] is not None
    assert bad["epochs"] == bad["diverged_epoch"] < 6
    assert bad["history"][-1]["train_loss"] is None or bad["history"][-1]["val_loss"] is None
    # the weights were restored to the last finite ones, so the final losses are numbers
    assert bad["train_loss"] is not None and math.isfinite(bad["train_loss"])
    json.dumps(stack, allow_nan=False)
    for r in (0, 2):
        assert not stack[r]["diverged"] and stack[r]["epochs"] == 6
        alone = train_replicas(
            regression, TrainConfig(seeds=[r], opt_params={"lr": lrs[r]}, **kw)
        ).records[0]
        assert untimed(stack[r]) == untimed(alone)


def test_all_replicas_frozen_ends_training_early(regression):
    recs = train_replicas(
        regression,
        TrainConfig(
            seeds=[0, 1],
            opt_params={"lr": 1e3},
            optimizer="sgd",
            **dict(KW, activation="relu", epochs=20),
        ),
    ).records
    assert all(r["diverged"] for r in recs)
    assert all(r["epochs"] < 20 for r in recs)


def test_time_to_target(moons):
    (rec,) = train_replicas(
        moons,
        TrainConfig(
            hidden=[16],
            activation="relu",
            epochs=30,
            batch_size=16,
            opt_params={"lr": 0.03},
            target_accuracy=0.8,
        ),
    ).records
    e = rec["epochs_to_target"]
    assert e is not None and rec["history"][e - 1]["val_accuracy"] >= 0.8
    assert all(h["val_accuracy"] < 0.8 for h in rec["history"][: e - 1])
    assert rec["seconds_to_target"] == rec["history"][e - 1]["seconds"]
    (never,) = train_replicas(moons, TrainConfig(target_accuracy=1.0, **dict(KW, epochs=2))).records
    assert never["epochs_to_target"] is None and never["seconds_to_target"] is None


@pytest.mark.parametrize("schedule", SCHEDULES.names())
def test_every_schedule_runs_and_a_decaying_one_changes_the_result(moons, schedule):
    params = {"step_size": 1, "gamma": 0.5} if schedule == "step" else {}
    (rec,) = train_replicas(
        moons, TrainConfig(schedule=schedule, schedule_params=params, **KW)
    ).records
    assert rec["config"]["schedule"] == schedule
    (const,) = train_replicas(moons, TrainConfig(**KW)).records
    if schedule != "constant":
        assert rec["history"][-1]["train_loss"] != const["history"][-1]["train_loss"]


@pytest.mark.parametrize("optimizer", OPTIMIZERS.names())
def test_every_optimizer_trains(moons, optimizer):
    (rec,) = train_replicas(
        moons, TrainConfig(optimizer=optimizer, opt_params={"lr": 0.05}, **KW)
    ).records
    assert not rec["diverged"] and rec["config"]["optimizer"] == optimizer


@pytest.mark.parametrize("regularizer", REGULARIZERS.names())
def test_every_regularizer_trains(moons, regularizer):
    (rec,) = train_replicas(moons, TrainConfig(regularizer=regularizer, **KW)).records
    assert rec["config"]["reg_params"] == REGULARIZERS.parameters(regularizer)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(opt_params={"lr": [0.1, 0.2, 0.3]}), "3 values but there are 2 replicas"),
        (dict(opt_params={"lr": -1.0}), "lr"),
        (dict(optimizer="sgd", opt_params={"dampening": [0.1, 0.9]}), "cannot differ"),
        (dict(optimizer="sgd", opt_params={"momentum": [0.1, 0.9, 0.5]}), "3 values"),
        (dict(optimizer="adam", opt_params={"betas": [[0.9, 0.99], [0.9, 1.0]]}), r"betas\[1\]"),
        (
            dict(optimizer="sgd", opt_params={"nesterov": True, "momentum": [0.9, 0.0]}),
            "nesterov",
        ),
        (dict(optimizer="sgd", opt_params={"betas": (0.9, 0.99)}), "betas"),
        (dict(regularizer="l2", reg_params={"rate": 0.5}), "strength"),
        (dict(regularizer="dropout", reg_params={"rate": [0.5, 1.0]}), r"\[0, 1\)"),
        (dict(regularizer="early_stopping", reg_params={"patience": 0}), "patience"),
        (dict(batch_size=0), "batch size"),
        (dict(batch_size="many"), "batch size"),
        (dict(loss="mse"), "regression"),
        (dict(activation="nope"), "valid choices"),
        (dict(optimizer="nope"), "valid choices"),
        (dict(dtype="float16"), "float32 or float64"),
        (dict(epochs=0), "epochs"),
        (dict(hidden="8,x"), "hidden"),
    ],
)
def test_bad_arguments_raise_user_errors(moons, kwargs, match):
    kw = dict(KW, seeds=[0, 1])
    kw.update(kwargs)
    with pytest.raises(NngridError, match=match):
        train_replicas(moons, TrainConfig(**kw))


def test_bad_data_raises_user_errors(moons):
    broken = dict(moons)
    del broken["y_val"]
    with pytest.raises(NngridError, match="missing y_val"):
        train_replicas(broken, TrainConfig(**KW))
    nan = dict(moons, X_train=moons["X_train"].copy())
    nan["X_train"][0, 0] = np.nan
    with pytest.raises(NngridError, match="NaN"):
        train_replicas(nan, TrainConfig(**KW))
    short = dict(moons, y_train=moons["y_train"][:-1])
    with pytest.raises(NngridError, match="entries"):
        train_replicas(short, TrainConfig(**KW))
    neg = dict(moons, y_test=moons["y_test"] - 1)
    with pytest.raises(NngridError, match="negative"):
        train_replicas(neg, TrainConfig(**KW))


def test_per_batch_gather_gives_the_same_records_as_the_per_epoch_gather(moons, monkeypatch):
    """Large data fall back to gathering each batch; the numbers must not change (==)."""
    import nngrid.core.train as train_module

    kw = dict(KW, seeds=[0, 1], opt_params={"lr": [0.01, 0.02]})
    epoch_gather = train_replicas(moons, TrainConfig(**kw)).records
    monkeypatch.setattr(train_module, "EPOCH_GATHER_BYTES", 0)
    batch_gather = train_replicas(moons, TrainConfig(**kw)).records
    assert [untimed(r) for r in epoch_gather] == [untimed(r) for r in batch_gather]


def test_batch_larger_than_the_data_is_full_batch(moons):
    (a,) = train_replicas(moons, TrainConfig(**dict(KW, batch_size=10_000))).records
    (b,) = train_replicas(moons, TrainConfig(**dict(KW, batch_size=None))).records
    assert untimed(a)["history"] == untimed(b)["history"]


# ------------------------------------------------------------------------- layered networks


@pytest.fixture(scope="module")
def sequences():
    """A small sequence task: 3 classes told apart by where a bump sits, (n, 12, 2) float."""
    rng = np.random.default_rng(0)

    def split(n):
        y = rng.permutation(np.arange(n) % 3)
        X = 0.3 * rng.standard_normal((n, 12, 2))
        for i, c in enumerate(y):
            X[i, 4 * c : 4 * c + 3, c % 2] += 1.5
        return X, y

    out = {}
    for part, n in (("train", 60), ("val", 30), ("test", 30)):
        out[f"X_{part}"], out[f"y_{part}"] = split(n)
    return out


LAYER_SPECS = {
    "conv_pools": [
        {"conv1d": {"channels": 3, "kernel": 3, "padding": 1, "dilation": 2}},
        {"max_pool1d": {"kernel": 2}},
        {"conv1d": {"channels": 3, "kernel": 2, "stride": 2}},
        {"avg_pool1d": {"kernel": 2, "stride": 1}},
        "flatten",
        {"dense": {"units": 5}},
    ],
    "gap": [{"conv1d": {"channels": 4, "kernel": 3}}, "global_avg_pool1d"],
    "rnn": [{"rnn": {"hidden": 4, "bidirectional": True, "sequences": True}}, "flatten"],
    "gru": [{"gru": {"hidden": 3, "bidirectional": True}}],
    "lstm": [{"lstm": {"hidden": 3, "sequences": True}}, "flatten"],
}


@pytest.mark.parametrize("name", LAYER_SPECS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layered_replica_in_a_stack_equals_replica_alone(sequences, name, dtype):
    """Bitwise, for every layer kind: stack records == records of each replica alone; the same
    call twice gives the same records; clipping and dropout are per replica too."""
    lrs = [0.01, 0.03, 0.02]
    kw = dict(
        layers=LAYER_SPECS[name], activation="tanh", batch_size=16, epochs=3, dtype=dtype,
        optimizer="adam", clip_norm=0.5, regularizer="dropout",
    )  # fmt: skip
    rates = [0.0, 0.2, 0.1]
    stack = train_replicas(
        sequences,
        TrainConfig(seeds=[0, 1, 2], opt_params={"lr": lrs}, reg_params={"rate": rates}, **kw),
    ).records
    again = train_replicas(
        sequences,
        TrainConfig(seeds=[0, 1, 2], opt_params={"lr": lrs}, reg_params={"rate": rates}, **kw),
    ).records
    assert [untimed(r) for r in stack] == [untimed(r) for r in again]
    for r in range(3):
        alone = train_replicas(
            sequences,
            TrainConfig(seeds=[r], opt_params={"lr": lrs[r]}, reg_params={"rate": rates[r]}, **kw),
        ).records[0]
        assert untimed(stack[r]) == untimed(alone)

    def kinds(spec):
        return [item if isinstance(item, str) else next(iter(item)) for item in spec]

    assert kinds(stack[0]["config"]["layers"]) == kinds(LAYER_SPECS[name])
    assert stack[0]["config"]["clip_norm"] == 0.5


def test_a_cnn_and_a_gru_learn_the_sequence_task(sequences):
    for spec in (LAYER_SPECS["conv_pools"], LAYER_SPECS["gru"]):
        rec = train_replicas(
            sequences,
            TrainConfig(
                layers=spec, activation="relu", batch_size=10, epochs=30, opt_params={"lr": 0.02}
            ),
        ).records[0]
        assert rec["test_accuracy"] >= 0.9, rec["test_accuracy"]
        assert rec["history"][-1]["train_loss"] < rec["history"][0]["train_loss"] / 3


def test_clip_gradients_scales_each_replica_to_the_global_norm():
    from nngrid.core.train import clip_gradients

    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 1, 5))]
    grads[0][1] *= 100  # replica 1 is far above the threshold, 0 and 2 below or near it
    before = [g.copy() for g in grads]
    norms = [np.sqrt(sum(np.sum(g[r] ** 2) for g in before)) for r in range(3)]
    limit = float(np.sort(norms)[1])  # the middle replica sits just at the limit
    clip_gradients(grads, limit)
    for r in range(3):
        coef = min(1.0, limit / (norms[r] + 1e-6))
        for g, b in zip(grads, before, strict=True):
            np.testing.assert_allclose(g[r], b[r] * coef, rtol=1e-12)
    after = [np.sqrt(sum(np.sum(g[r] ** 2) for g in grads)) for r in range(3)]
    assert after[1] == pytest.approx(limit, rel=1e-6) and after[1] < norms[1] / 10


def test_layer_and_architecture_arguments_are_user_errors(sequences, moons):
    with pytest.raises(NngridError, match="hidden .* or layers, not both"):
        train_replicas(
            moons, TrainConfig(hidden=[4], layers=["flatten"], activation="relu", epochs=1)
        )
    with pytest.raises(NngridError, match=r"hidden builds a dense network.*use layers"):
        train_replicas(sequences, TrainConfig(hidden=[4], activation="relu", epochs=1))
    with pytest.raises(NngridError, match="clip_norm must be a positive number"):
        train_replicas(moons, TrainConfig(hidden=[4], activation="relu", epochs=1, clip_norm=0))
    with pytest.raises(NngridError, match=r"layer 0 \(conv1d\): kernel 20"):
        train_replicas(
            sequences,
            TrainConfig(
                layers=[{"conv1d": {"channels": 2, "kernel": 20}}, "flatten"],
                activation="relu",
                epochs=1,
            ),
        )


# ------------------------------------------------------------------------- batch norm's statistics

# two batch norms; at Adam's lr 0.1 the validation loss turns up within a few epochs
BN_KW = dict(
    layers=[{"dense": {"units": 16}}, "batch_norm", {"dense": {"units": 16}}, "batch_norm"],
    activation="relu", batch_size=16, optimizer="adam",
)  # fmt: skip
FINAL_KEYS = METRIC_KEYS[:6]  # the final weights' accuracy and loss on each split


def replica_state(result, r):
    """Replica ``r``'s parameters and batch norm running statistics in a result's model."""
    model = result.model
    return [p[r] for p in model.params] + [a[r] for a in model.state_arrays().values()]


def assert_same_replica(a, ra, b, rb):
    for x, y in zip(replica_state(a, ra), replica_state(b, rb), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_early_stopping_restores_the_best_epochs_batch_norm_statistics_too(moons, dtype):
    """The final metrics after early stopping are those of the best epoch's weights with the
    best epoch's running statistics: bitwise a run that ends at the best epoch."""
    config = TrainConfig(
        seeds=[0], epochs=40, regularizer="early_stopping", opt_params={"lr": 0.1},
        reg_params={"patience": 3, "monitor": "loss"}, dtype=dtype, **BN_KW,
    )  # fmt: skip
    stopped = train_replicas(moons, config)
    (rec,) = stopped.records
    best = rec["best_epoch"]
    # not vacuous: it trained 3 epochs past its best one, and they moved the statistics
    assert rec["config"]["stopped_epoch"] == rec["epochs"] == best + 3
    to_best = dataclasses.replace(config, epochs=best, regularizer="none", reg_params=None)
    short = train_replicas(moons, to_best)
    assert {k: rec[k] for k in FINAL_KEYS} == {k: short.records[0][k] for k in FINAL_KEYS}
    assert rec["val_loss"] == rec["best_val_loss"]
    assert_same_replica(stopped, 0, short, 0)
    last = train_replicas(moons, dataclasses.replace(to_best, epochs=rec["epochs"]))
    assert not np.array_equal(
        last.model.layers[1].running_mean, stopped.model.layers[1].running_mean
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_early_stopping_with_batch_norm_replica_in_a_stack_equals_replica_alone(moons, dtype):
    """Bitwise: replicas that stop at different epochs (the stopped ones' statistics go on
    moving while the others train) end as each alone, records and model."""
    lrs, patience, seeds = [0.1, 0.1, 0.05], [3, 3, 100], [0, 1, 2]
    kw = dict(BN_KW, epochs=15, regularizer="early_stopping", dtype=dtype)
    stack = train_replicas(
        moons,
        TrainConfig(seeds=seeds, opt_params={"lr": lrs}, reg_params={"patience": patience}, **kw),
    )
    epochs = [rec["epochs"] for rec in stack.records]
    assert min(epochs) < max(epochs) == 15  # some stopped while another went on
    for r in range(3):
        alone = train_replicas(
            moons,
            TrainConfig(
                seeds=[seeds[r]], opt_params={"lr": lrs[r]},
                reg_params={"patience": patience[r]}, **kw,
            ),
        )  # fmt: skip
        assert untimed(stack.records[r]) == untimed(alone.records[0])
        assert_same_replica(stack, r, alone, 0)


def test_divergence_with_batch_norm_restores_the_last_finite_epochs_statistics(regression):
    """A diverged replica gets back the previous epoch's running statistics with its weights:
    finite final metrics, bitwise those of a run that ends there; in a stack as alone."""
    lrs, seeds = [0.6, 0.05, 0.6], [0, 1, 2]
    kw = dict(BN_KW, batch_size=8, epochs=8, optimizer="sgd")
    stack = train_replicas(regression, TrainConfig(seeds=seeds, opt_params={"lr": lrs}, **kw))
    for r in range(3):
        rec = stack.records[r]
        alone = train_replicas(
            regression, TrainConfig(seeds=[seeds[r]], opt_params={"lr": lrs[r]}, **kw)
        )
        assert untimed(rec) == untimed(alone.records[0])
        assert_same_replica(stack, r, alone, 0)
        if r == 1:
            assert not rec["diverged"]
            continue
        assert rec["diverged"] and rec["diverged_epoch"] >= 2  # a finite epoch to go back to
        ended = dict(kw, epochs=rec["diverged_epoch"] - 1)
        last_good = train_replicas(
            regression, TrainConfig(seeds=[seeds[r]], opt_params={"lr": lrs[r]}, **ended)
        )
        assert {k: rec[k] for k in FINAL_KEYS} == {k: last_good.records[0][k] for k in FINAL_KEYS}
        assert rec["train_loss"] is not None and math.isfinite(rec["test_loss"])
        assert_same_replica(stack, r, last_good, 0)


# ------------------------------------------------------------------------- the pre-layers loop


@pytest.mark.parametrize(
    "kw",
    [
        {"regularizer": "dropout", "reg_params": {"rate": [0.0, 0.3]}, "batch_size": 32},
        {"regularizer": "l2", "reg_params": {"strength": 1e-3}, "optimizer": "sgd"},
        {
            "regularizer": "early_stopping",
            "reg_params": {"patience": 2, "monitor": "loss"},
            "batch_size": 50,
        },
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hidden_gives_bitwise_the_records_of_the_pre_layers_core(moons, kw, dtype):
    """--hidden 16,8 through today's train_replicas == through the train.py and network.py of the
    last commit before layers (loaded from git), apart from timings."""
    import sys

    from test_network import PRE_LAYERS, _old_module

    old_network = _old_module("src/nngrid/network.py", "old_network")
    old_train = _old_module(
        "src/nngrid/train.py", "old_train", swap={"nngrid.network": old_network}
    )
    assert sys.modules["nngrid.core.network"].__name__ == "nngrid.core.network"
    args = dict(hidden=[16, 8], activation="relu", epochs=6, seeds=[0, 1], dtype=dtype, **kw)
    new = train_replicas(moons, TrainConfig(**args)).records
    old = old_train.train_replicas(moons, **args)  # the old keyword interface
    assert [untimed(r) for r in new] == [untimed(r) for r in old], PRE_LAYERS
