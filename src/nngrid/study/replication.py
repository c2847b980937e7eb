"""Replication: do two runs of a study with independently drawn seeds reach the same verdicts?

:func:`compare` joins two claims tables (``claims.csv`` of each run) by claim and says, per
claim, whether the verdicts agree, and whether they *flip* (one run supported, the other
contradicted: the failure a replication must never show). :func:`summary` counts them. The
workflow's rule ``replication`` (config/replicate.yaml: every seed key redrawn, and
``claims.replicate_of`` naming the first run's claims.csv) writes the comparison to
``results/tables/replication.csv`` with its stamp ``replication.stamp.json`` beside it
(nngrid.study.integrity's :func:`~nngrid.study.integrity.write_replication_stamp`: its sha256 and
the two claims tables'); the report's landing page shows it only as :func:`read_replication`
returns it: verified against its stamp and this run's claims.csv.

Command line::

    python -m nngrid.study.replication A/claims.csv B/claims.csv --out replication.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from nngrid.errors import NngridError, report_error

__all__ = ["COLUMNS", "agreement", "compare", "main", "read_replication", "summary", "verify"]

#: The columns of replication.csv.
COLUMNS = [
    "claim_id",
    "verdict_a",
    "verdict_b",
    "value_a",
    "ci_low_a",
    "ci_high_a",
    "value_b",
    "ci_low_b",
    "ci_high_b",
    "agreement",
    "protocol",
]
_NEEDED = ("claim_id", "verdict", "value", "ci_low", "ci_high")
#: A row's key: the claim and the tuning protocol it was decided under (claims.csv's
#: ``protocol``; a table written before protocols has the registry's, ``lr`` for the grid's).
KEY = ["claim_id", "protocol"]


def _with_protocol(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its ``protocol`` column as text ("" for none); a table without the column
    gets each claim's protocol from the registry (``lr`` for a claim decided per protocol)."""
    from nngrid.study.claims import CLAIMS
    from nngrid.study.claims.core import EACH_PROTOCOL

    df = df.copy()
    if "protocol" not in df:
        own = {c.claim_id: "lr" if c.protocol == EACH_PROTOCOL else c.protocol for c in CLAIMS}
        df["protocol"] = df["claim_id"].map(own)
    df["protocol"] = df["protocol"].fillna("").astype(str)
    return df


def _read(path: str | Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise NngridError(f"cannot read claims table {path}: {exc}; give a claims.csv") from exc
    missing = [c for c in _NEEDED if c not in df]
    if missing:
        raise NngridError(f"{path} is not a claims table (no column {missing[0]!r})")
    df = _with_protocol(df)
    if df.duplicated(KEY).any():
        raise NngridError(f"{path} lists a claim twice; give one run's claims.csv")
    return df


def compare(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """One row per claim (and tuning protocol) of either table (:data:`COLUMNS`);
    ``agreement`` is ``agree``, ``flip`` (supported in one run, contradicted in the other),
    ``differ`` (one of them inconclusive) or ``missing`` (the claim is in one table only)."""
    a, b = _with_protocol(a), _with_protocol(b)
    keep = [*_NEEDED, "protocol"]
    m = a[keep].merge(b[keep], on=KEY, how="outer", suffixes=("_a", "_b"), sort=False)
    order: dict[tuple, int] = {}
    keys = [*a[KEY].itertuples(index=False), *b[KEY].itertuples(index=False)]
    for k in keys:  # the first table's order, then the second's
        order.setdefault(tuple(k), len(order))
    m["_order"] = [order[tuple(k)] for k in m[KEY].itertuples(index=False)]
    m = m.sort_values("_order", kind="stable")
    m["agreement"] = [agreement(a, b) for a, b in zip(m["verdict_a"], m["verdict_b"], strict=True)]
    return m[COLUMNS].reset_index(drop=True)


def agreement(first, second) -> str:
    """``missing`` (a verdict absent: NaN or None), ``agree``, ``flip`` (supported and
    contradicted) or ``differ``: what two runs' verdicts of one claim say together."""
    if pd.isna(first) or pd.isna(second):
        return "missing"
    if first == second:
        return "agree"
    if {first, second} == {"supported", "contradicted"}:
        return "flip"
    return "differ"


def verify(table: pd.DataFrame, ours: pd.DataFrame, source: str | Path = "replication.csv"):
    """Refuse a replication table (:data:`COLUMNS`) that its own verdicts and ``ours`` (the
    claims table of this run, the one it says it compared as its second) do not give: a row
    whose ``agreement`` is not what its two verdicts give, whose ``verdict_b`` is not ``ours``'s
    verdict of that claim and protocol, or a claim of ``ours`` it lacks. Return the table."""
    from nngrid.study.integrity import REPLICATION_FIX as fix

    missing = [c for c in COLUMNS if c not in table]
    if missing:
        raise NngridError(f"{source} lacks the column {missing[0]!r}; {fix}")
    mine = {
        (str(c), p): v
        for c, p, v in _with_protocol(ours)[[*KEY, "verdict"]].itertuples(index=False)
    }
    seen = set()
    for i, row in enumerate(_with_protocol(table).to_dict("records")):
        key = (str(row["claim_id"]), row["protocol"])
        va, vb = (None if pd.isna(v) else str(v) for v in (row["verdict_a"], row["verdict_b"]))
        want = agreement(va, vb)
        if row["agreement"] != want:
            raise NngridError(
                f"{source}: row {i + 1} ({key[0]}) says {row['agreement']!r} but its verdicts "
                f"{va!r} and {vb!r} give {want!r}; {fix}"
            )
        if mine.get(key) != vb:
            raise NngridError(
                f"{source}: claim {key[0]} is {vb!r} in this run's column but "
                f"{mine.get(key)!r} in the claims table shown (another run's comparison?); {fix}"
            )
        seen.add(key)
    if set(mine) - seen:
        first = sorted(set(mine) - seen)[0][0]
        raise NngridError(f"{source} lacks claim {first} of the claims table shown; {fix}")
    return table


def summary(table: pd.DataFrame) -> str:
    """``"31 of 32 verdicts agree, 0 flips"``: the replication's one-line status."""
    n = len(table)
    agree = int((table["agreement"] == "agree").sum())
    flips = int((table["agreement"] == "flip").sum())
    return f"{agree} of {n} verdicts agree, {flips} flip{'s' if flips != 1 else ''}"


def read_replication(
    path: str | Path, claims_csv: str | Path, claims: pd.DataFrame | None = None
) -> pd.DataFrame:
    """replication.csv, verified: against its stamp (unchanged since :func:`main` wrote it, and
    compared from ``claims_csv``, the claims.csv shown beside it:
    nngrid.study.integrity's ``verify_replication_stamp``), then each row against its own
    verdicts and ``claims`` (that claims table as read; read here when ``None``) by
    :func:`verify`."""
    from nngrid.study.integrity import verify_replication_stamp

    verify_replication_stamp(path, claims_csv)
    ours = pd.read_csv(claims_csv) if claims is None else claims
    return verify(pd.read_csv(path), ours, path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nngrid.study.replication A.csv B.csv --out replication.csv``."""
    parser = argparse.ArgumentParser(
        prog="python -m nngrid.study.replication", description=__doc__.split("\n")[0]
    )
    parser.add_argument("first", help="claims.csv of the first run")
    parser.add_argument("second", help="claims.csv of the replication")
    parser.add_argument(
        "--out",
        required=True,
        help="replication.csv to write (atomically), its stamp (.stamp.json) beside it",
    )
    args = parser.parse_args(argv)
    try:
        from nngrid.io import write_text
        from nngrid.study.integrity import write_replication_stamp

        table = compare(_read(args.first), _read(args.second))
        write_text(args.out, table.to_csv(index=False, float_format="%.6g"))
        # the stamp the landing page verifies it by (derived, never edited)
        write_replication_stamp(args.out, args.first, args.second)
        print(summary(table), file=sys.stderr)
    except NngridError as exc:
        return report_error(exc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
