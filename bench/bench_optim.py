"""Optimizer steps on this checkout against an earlier commit's, side by side (issue 21).

Every registered in-tree optimizer steps one flat float32 buffer the size of the default grid's
stack of 14 replicas of a 2-32-32-2 MLP (1,250 parameters each: 17,500 values; ``--size`` for
others) with scalar hyperparameters (the case that must not get slower when hyperparameters may
be per-replica arrays), and, on this checkout only, the same with every per-replica
hyperparameter an array (one value per element, as the trainer gives a stack of trials). The
earlier commit's ``src`` is taken from git (``git archive``); every round runs one worker process
per checkout (and one for the array case), the checkouts' order alternating between rounds,
each with its own ``src`` first on PYTHONPATH. Reported: the median
over rounds of the microseconds per step (best of 5 repeats of ``--steps`` steps, CPU time) and
the ratio of the two checkouts.

    python bench/bench_optim.py [--base main] [--steps 2000] [--rounds 5] [--json FILE]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
#: Per-replica values of the array case (replica r of R takes values[r % 2]).
ARRAYS = {
    "momentum": (0.5, 0.9),
    "betas": ((0.8, 0.9), (0.99, 0.999)),
    "eps": (1e-8, 1e-6),
    "alpha": (0.9, 0.99),
    "weight_decay": (0.0, 1e-3),
}


def _time(opt, size: int, steps: int) -> float:
    rng = np.random.default_rng(0)
    p = rng.standard_normal(size).astype(np.float32) * 0.1
    g = rng.standard_normal(size).astype(np.float32) * 1e-3
    opt.step([p], [g])  # state made
    best = float("inf")
    for _ in range(5):
        c0 = time.process_time()
        for _ in range(steps):
            opt.step([p], [g])
        best = min(best, (time.process_time() - c0) / steps)
    return best


def worker(size: int, steps: int, arrays: bool) -> dict:
    from nngrid.core.optim import make_optimizer

    out = {}
    for name in NAMES:
        if not arrays:
            out[f"{name} scalar"] = _time(make_optimizer(name, lr=1e-3), size, steps)
            continue
        from nngrid.core.optim import OPTIMIZERS

        opt = make_optimizer(name, lr=1e-3)
        per = {h.name for h in OPTIMIZERS.hypers(name) if h.per_replica} - {"lr"}
        half = np.arange(size) % 2  # two "replicas" interleaved: every element its own value
        for key in per:
            a, b = ARRAYS[key]
            if key == "betas":
                value = tuple(np.where(half, a[i], b[i]).astype(np.float64) for i in range(2))
            else:
                value = np.where(half, a, b).astype(np.float64)
            setattr(opt, key, value)
        opt.lr = np.full(size, 1e-3)
        out[f"{name} arrays"] = _time(opt, size, steps)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="main")
    ap.add_argument("--size", type=int, default=14 * 1250)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--arrays", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.size, args.steps, args.arrays)))
        return 0
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="nngrid-base-") as tmp:
        archive = subprocess.run(
            [*git, "archive", args.base, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        srcs = {args.base: (Path(tmp) / "src", False), head: (ROOT / "src", False)}
        srcs["arrays"] = (ROOT / "src", True)
        runs: dict[str, list[dict]] = {k: [] for k in srcs}
        for r in range(args.rounds):
            order = list(srcs) if r % 2 == 0 else [head, args.base, "arrays"]  # alternate
            for label in order:
                src, arrays = srcs[label]
                cmd = [sys.executable, __file__, "--worker", "--size", str(args.size)]
                cmd += ["--steps", str(args.steps)] + (["--arrays"] if arrays else [])
                env = dict(os.environ, PYTHONPATH=str(src))
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                runs[label].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {r} done", file=sys.stderr, flush=True)
    med = {
        label: {k: statistics.median(run[k] for run in rs) for k in rs[0]}
        for label, rs in runs.items()
    }
    base, new = med[args.base], med[head]
    print(f"load {load0} -> {os.getloadavg()}; {args.size} values, {args.rounds} rounds")
    print(f"{'optimizer':10s} {args.base:>10s} {head:>10s}  ratio   arrays  (us per step, CPU)")
    for name in NAMES:
        b, n = base[f"{name} scalar"], new[f"{name} scalar"]
        arr = med["arrays"][f"{name} arrays"]
        print(f"{name:10s} {1e6 * b:10.1f} {1e6 * n:10.1f}  {n / b:.3f}  {1e6 * arr:7.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"median": med, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
