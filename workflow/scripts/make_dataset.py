"""Adapter for rule `dataset`: build one dataset with nngrid.datasets and save it."""

import json
import sys

from nngrid import data_files  # noqa: F401 (registers the `file` kind)
from nngrid.datasets import describe, make, save_dataset
from nngrid.io import write_json
from nngrid.study.integrity import stop_on_signals

stop_on_signals()  # SIGTERM/SIGHUP: temporary files removed, no result written

with open(snakemake.log[0], "w") as log:  # noqa: F821 (injected by Snakemake)
    sys.stderr = log
    spec = json.loads(snakemake.params.spec)  # noqa: F821
    splits, meta = make(
        spec["kind"],
        seed=spec["seed"],
        val_fraction=spec["val_fraction"],
        test_fraction=spec["test_fraction"],
        **spec["params"],
    )
    save_dataset(snakemake.output.data, splits)  # noqa: F821
    info = {**describe(splits), "metadata": meta, "spec": spec}
    write_json(snakemake.output.info, info)  # noqa: F821
