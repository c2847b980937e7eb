"""Core speed: nngrid vs scikit-learn vs PyTorch vs the matrix-product floor, side by side.

Workload (issue 2, "Speed"): make_classification data, 10,000 x 40, 10 classes, 20 informative
features, 80/20 stratified split, standardised with the training statistics, float32 throughout.
Net 40-128-128-10 relu, softmax cross-entropy, Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-8),
batch 128, Glorot-uniform initialisation for nngrid and sklearn (torch keeps its default),
no L2 penalty (sklearn ``alpha=0``; its default would be 1e-4), shuffled every epoch.

Every contender runs in this one process with ONE BLAS thread: the thread variables are set
before NumPy is imported, ``threadpoolctl`` caps every BLAS/OpenMP pool it finds and torch is
told ``set_num_threads(1)``. The contenders are run interleaved (A B C D, A B C D, ...) so that
noise from other processes hits them alike; each round trains from a fresh initialisation with
seed = round, and the table reports the median per-epoch time over rounds.

Per-epoch time is the wall time of one whole training call divided by the number of epochs
(sklearn ``fit``, the torch loop including model construction, nngrid ``train_replicas``).
Every contender is timed by the wall clock and by the CPU time of the process
(``time.process_time``; every contender runs one thread, so CPU time is wall time minus the time
the process waited for a core). The ratios are given for both; the targets are judged on the CPU
ratio, which other processes on a shared machine disturb far less.

The floor is the time of the net's matrix products alone for one epoch: per batch three forward
products (X W1, H1 W2, H2 W3) and five backward products (H2^T dZ3, dZ3 W3^T, H1^T dZ2,
dZ2 W2^T, X^T dZ1) on preallocated float32 arrays with ``np.matmul(..., out=)``.

Run it in the benchmark's own environment (torch lives only there)::

    bash bench/setup.sh && bench/.venv/bin/python bench/bench_core.py
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
from workload import (  # noqa: E402
    BATCH,
    HIDDEN,
    LR,
    N_CLASSES,
    N_FEATURES,
    N_SAMPLES,
    make_data,
    nngrid_args,
    torch_mlp,
    with_val,
)


# --------------------------------------------------------------------------- contenders
def run_nngrid(data: dict, epochs: int, seed: int, n_val: int | None = None) -> dict:
    """nngrid's ``train_replicas``; the test split doubles as its validation split.

    nngrid's contract evaluates a validation split after every epoch (the other contenders do no
    such thing), so that pass is part of its measured time. ``n_val`` keeps only that many
    validation rows, to show the training loop's own cost (contender ``nngrid_val1``).
    """
    from nngrid.core.train import TrainConfig, train_replicas

    d = with_val(data, n_val)
    t0, c0 = time.perf_counter(), time.process_time()
    (rec,) = train_replicas(d, TrainConfig(epochs=epochs, seeds=(seed,), **nngrid_args())).records
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "epoch_s": wall / epochs,
        "cpu_epoch_s": cpu / epochs,
        "own_epoch_s": float(rec["seconds_per_epoch"]),
        "test_accuracy": float(rec["test_accuracy"]),
    }


def run_sklearn(data: dict, epochs: int, seed: int) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=HIDDEN,
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=BATCH,
        learning_rate_init=LR,
        max_iter=epochs,
        shuffle=True,
        random_state=seed,
        tol=0.0,
        n_iter_no_change=10 * epochs + 10,
        early_stopping=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0, c0 = time.perf_counter(), time.process_time()
        clf.fit(data["X_train"], data["y_train"])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if clf.coefs_[0].dtype != np.float32:
        raise SystemExit(f"sklearn trained in {clf.coefs_[0].dtype}, not float32")
    if clf.n_iter_ != epochs:
        raise SystemExit(f"sklearn ran {clf.n_iter_} epochs, not {epochs}")
    acc = float(np.mean(clf.predict(data["X_test"]) == data["y_test"]))
    return {"epoch_s": wall / epochs, "cpu_epoch_s": cpu / epochs, "test_accuracy": acc}


def _torch_model(torch, seed: int):
    torch.manual_seed(seed)
    return torch_mlp(torch)


def _torch_accuracy(torch, model, data: dict) -> float:
    with torch.no_grad():
        out = model(torch.from_numpy(data["X_test"]))
    return float((out.argmax(1).numpy() == data["y_test"]).mean())


def run_torch_slice(data: dict, epochs: int, seed: int) -> dict:
    """Idiomatic torch loop with manual index slicing of a permutation (no DataLoader)."""
    import torch

    X = torch.from_numpy(data["X_train"])
    y = torch.from_numpy(data["y_train"])
    n = X.shape[0]
    t0, c0 = time.perf_counter(), time.process_time()
    model = _torch_model(torch, seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "epoch_s": wall / epochs,
        "cpu_epoch_s": cpu / epochs,
        "test_accuracy": _torch_accuracy(torch, model, data),
    }


def run_torch_loader(data: dict, epochs: int, seed: int) -> dict:
    """Idiomatic torch loop with TensorDataset + DataLoader(shuffle=True)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    ds = TensorDataset(torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"]))
    t0, c0 = time.perf_counter(), time.process_time()
    model = _torch_model(torch, seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(
        ds, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "epoch_s": wall / epochs,
        "cpu_epoch_s": cpu / epochs,
        "test_accuracy": _torch_accuracy(torch, model, data),
    }


def run_floor(data: dict, epochs: int, seed: int) -> dict:
    """The matrix products of `epochs` epochs alone, 2-D float32, preallocated, ``out=``."""
    rng = np.random.default_rng(seed)
    n = data["X_train"].shape[0]
    sizes = (N_FEATURES, *HIDDEN, N_CLASSES)
    shapes = list(zip(sizes[:-1], sizes[1:], strict=True))
    W = [rng.standard_normal(shape, dtype=np.float32) * 0.1 for shape in shapes]
    dW = [np.empty_like(w) for w in W]
    X = data["X_train"]
    batches = [(i, min(i + BATCH, n)) for i in range(0, n, BATCH)]

    def buffers(b: int):
        H = [np.empty((b, s), np.float32) for s in sizes[1:]]
        D = [np.empty((b, s), np.float32) for s in sizes[1:]]
        for d in D:
            d[...] = rng.standard_normal(d.shape, dtype=np.float32)
        return H, D

    bufs = {b: buffers(b) for b in {hi - lo for lo, hi in batches}}
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        for lo, hi in batches:
            H, D = bufs[hi - lo]
            x = X[lo:hi]
            np.matmul(x, W[0], out=H[0])  # forward: 3 products
            np.matmul(H[0], W[1], out=H[1])
            np.matmul(H[1], W[2], out=H[2])
            np.matmul(H[1].T, D[2], out=dW[2])  # backward: 5 products
            np.matmul(D[2], W[2].T, out=D[1])
            np.matmul(H[0].T, D[1], out=dW[1])
            np.matmul(D[1], W[1].T, out=D[0])
            np.matmul(x.T, D[0], out=dW[0])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"epoch_s": wall / epochs, "cpu_epoch_s": cpu / epochs, "test_accuracy": float("nan")}


def run_nngrid_val1(data: dict, epochs: int, seed: int) -> dict:
    """nngrid with a one-row validation split: the training loop without the per-epoch eval."""
    return run_nngrid(data, epochs, seed, n_val=1)


def run_lean_ref(data: dict, epochs: int, seed: int) -> dict:
    """bench/lean_loop.py: a lean hand-written NumPy loop (same maths, validation each epoch)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lean_loop import train_lean

    d = with_val(data)
    t0, c0 = time.perf_counter(), time.process_time()
    res = train_lean(d, hidden=HIDDEN, lr=LR, batch=BATCH, epochs=epochs, seeds=(seed,))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "epoch_s": wall / epochs,
        "cpu_epoch_s": cpu / epochs,
        "test_accuracy": res["test_accuracy"][0],
    }


CONTENDERS = {
    "nngrid": run_nngrid,
    "nngrid_val1": run_nngrid_val1,
    "sklearn": run_sklearn,
    "torch": run_torch_slice,
    "torch_loader": run_torch_loader,
    "floor": run_floor,
    "lean_ref": run_lean_ref,
}


# --------------------------------------------------------------------------- main
def machine() -> dict:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "loadavg_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved repetitions")
    ap.add_argument(
        "--only", default=",".join(CONTENDERS), help="comma-separated subset of the contenders"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    names = [s for s in args.only.split(",") if s]
    for s in names:
        if s not in CONTENDERS:
            ap.error(f"unknown contender {s!r}; valid: {', '.join(CONTENDERS)}")

    info = machine()
    versions = {}
    if any(s.startswith("torch") for s in names):
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        versions["torch"] = torch.__version__
    import sklearn

    versions["sklearn"] = sklearn.__version__
    data = make_data()
    results: dict[str, list[dict]] = {s: [] for s in names}
    with threadpool_limits(limits=1):
        pools = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
        # one untimed warm-up epoch each (imports, allocator, BLAS init)
        for s in names:
            CONTENDERS[s](data, 1, 0)
        for r in range(args.rounds):
            for s in names:
                res = CONTENDERS[s](data, args.epochs, r)
                results[s].append(res)
                print(
                    f"round {r} {s:13s} {1e3 * res['epoch_s']:8.2f} ms/epoch wall"
                    f" {1e3 * res['cpu_epoch_s']:8.2f} CPU"
                    f"  acc {res['test_accuracy']:.4f}",
                    file=sys.stderr,
                    flush=True,
                )
    info["loadavg_end"] = os.getloadavg()

    med = {s: statistics.median(x["epoch_s"] for x in results[s]) for s in names}
    cpu = {s: statistics.median(x["cpu_epoch_s"] for x in results[s]) for s in names}
    acc = {s: statistics.mean(x["test_accuracy"] for x in results[s]) for s in names}
    print()
    print(f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs; python {info['python']}")
    print(
        "versions: numpy "
        + info["numpy"]
        + "".join(f", {k} {v}" for k, v in versions.items())
        + f"; BLAS/OpenMP pools: {pools}"
    )
    print(
        f"workload: {N_SAMPLES} x {N_FEATURES}, {N_CLASSES} classes, 80/20 split, "
        f"net {N_FEATURES}-{HIDDEN[0]}-{HIDDEN[1]}-{N_CLASSES} relu, Adam lr {LR}, batch {BATCH}, "
        f"float32, {args.epochs} epochs x {args.rounds} interleaved rounds, one thread"
    )
    print(f"load average start {info['loadavg_start']}, end {info['loadavg_end']}")
    print()
    print("ms per epoch, median over rounds: wall clock [min-max], and CPU time of the process")
    print(f"{'contender':14s} {'wall':>8s} {'[min - max]':>17s} {'CPU':>8s} {'test acc':>9s}")
    for s in names:
        ts = [1e3 * x["epoch_s"] for x in results[s]]
        a = "" if np.isnan(acc[s]) else f"{100 * acc[s]:8.2f}%"
        print(
            f"{s:14s} {1e3 * med[s]:8.2f} [{min(ts):7.2f} -{max(ts):7.2f}] {1e3 * cpu[s]:8.2f}"
            f" {a:>9s}"
        )
    for s in ("nngrid", "nngrid_val1"):
        if s in names:
            own = statistics.median(x["own_epoch_s"] for x in results[s])
            print(f"{s:14s} {1e3 * own:8.2f}  <- its own seconds_per_epoch record (median)")
    print()
    ratios: dict[str, dict[str, float]] = {"wall": {}, "cpu": {}}
    torch_best = None
    tn = [s for s in ("torch", "torch_loader") if s in names]
    if tn:
        torch_best = min(tn, key=lambda s: cpu[s])
        if len(tn) == 2:
            print(f"torch: the faster loop is {torch_best!r} (by CPU time; used for the ratios)")
    if "nngrid" in names:
        print(f"{'ratio':24s} {'wall':>6s} {'CPU':>6s} {'target':>8s}   (CPU, without val pass)")
        for ref, target in (("sklearn", 0.40), (torch_best, 0.40), ("floor", 1.5)):
            if ref is None or ref not in names:
                continue
            rw, rc = med["nngrid"] / med[ref], cpu["nngrid"] / cpu[ref]
            ratios["wall"][ref], ratios["cpu"][ref] = rw, rc
            ok = "meets" if rc <= target else "MISSES"
            extra = ""
            if "nngrid_val1" in names:
                r1 = cpu["nngrid_val1"] / cpu[ref]
                ratios["cpu"][f"{ref} (val1)"] = r1
                extra = f"   ({r1:.2f}x)"
            print(f"nngrid / {ref:15s} {rw:6.2f} {rc:6.2f} {'<= ' + str(target):>8s} {ok}{extra}")
        if "lean_ref" in names:
            r = cpu["lean_ref"] / cpu["floor"] if "floor" in names else float("nan")
            print(f"reference: lean_ref / floor (CPU) {r:.2f}x  (bench/lean_loop.py)")
        accs = {s: acc[s] for s in names if not np.isnan(acc[s]) and s != "nngrid_val1"}
        spread = 100 * (max(accs.values()) - min(accs.values()))
        verdict = "agree within 1 point" if spread <= 1.0 else "DO NOT agree within 1 point"
        print(f"test accuracies (mean over rounds) span {spread:.2f} points: {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "versions": versions,
                    "epochs": args.epochs,
                    "rounds": args.rounds,
                    "median_epoch_s": med,
                    "median_cpu_epoch_s": cpu,
                    "mean_test_accuracy": acc,
                    "ratios_nngrid_over": ratios,
                    "raw": results,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
