"""The recurrent layers on this checkout against an earlier commit's, side by side.

For each of four recurrent nets on MNIST-1D (mnist1d's GRU; a GRU, an LSTM and a relu Elman RNN
reading their last state), one replica alone and a stack of 10, Adam lr 1e-2, batch 100, float32,
one thread, with the per-epoch evaluation ``train_replicas`` always does. The earlier commit's
``src`` is taken from git (``git archive``) into a temporary folder; every round runs one worker
process per checkout, the checkouts alternating, each with its own ``src`` first on PYTHONPATH.
Reported: the median over rounds of the CPU time per epoch (``time.process_time`` of the whole
``train_replicas`` call / epochs) and the ratio of the two checkouts.

    python bench/bench_recurrent.py [--base 7bc910c] [--epochs 2] [--rounds 2] [--json FILE]
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The last commit before the replica-minor recurrent time loop.
BASE = "7bc910c"
NETS = {
    "gru_mnist1d": [{"gru": {"hidden": 6, "bidirectional": True, "sequences": True}}, "flatten"],
    "gru32_last": [{"gru": {"hidden": 32}}],
    "lstm16_last": [{"lstm": {"hidden": 16}}],
    "rnn32_last": [{"rnn": {"hidden": 32}}],
}
STACKS = (1, 10)


def worker(epochs: int) -> dict:
    """Per-epoch CPU seconds of every net alone and as a stack, on the nngrid first on the path."""
    sys.path.insert(0, str(HERE))
    import mnist1d_models as m

    from nngrid.core.train import TrainConfig, train_replicas

    data = m.make_data()
    out = {}
    for name, layers in NETS.items():
        for R in STACKS:
            kw = m.nngrid_kwargs("gru", epochs, list(range(R)))
            kw["layers"] = layers
            c0 = time.process_time()
            train_replicas(data, TrainConfig(**kw))
            out[f"{name} R={R}"] = (time.process_time() - c0) / epochs
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=BASE)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.epochs)))
        return 0
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="nngrid-base-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.base, "src"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        srcs = {args.base: Path(tmp) / "src", head: ROOT / "src"}
        runs: dict[str, list[dict]] = {k: [] for k in srcs}
        for r in range(args.rounds):
            for label, src in srcs.items():
                env = dict(os.environ, PYTHONPATH=str(src))
                proc = subprocess.run(
                    [sys.executable, __file__, "--worker", "--epochs", str(args.epochs)],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=True,
                )
                runs[label].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"round {r} {label} done", file=sys.stderr, flush=True)
    med = {
        label: {k: statistics.median(run[k] for run in rs) for k in rs[0]}
        for label, rs in runs.items()
    }
    base, new = med[args.base], med[head]
    print(f"load {load0} -> {os.getloadavg()}; {args.epochs} epochs x {args.rounds} rounds")
    print(f"{'net':24s} {args.base:>10s} {head:>10s}  ratio  (ms per epoch, CPU)")
    for k in base:
        print(f"{k:24s} {1e3 * base[k]:10.1f} {1e3 * new[k]:10.1f}  {new[k] / base[k]:.2f}x")
    for label, m in med.items():
        for name in NETS:
            speedup = 10 * m[f"{name} R=1"] / m[f"{name} R=10"]
            print(f"  {label}: {name} stack of 10 vs 10 alone {speedup:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"median": med, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
