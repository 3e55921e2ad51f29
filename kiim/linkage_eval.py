"""How good is the linkage? Pairwise precision, recall and F1 against the generator's truth.

The ground truth (`groundtruth/<period>/records.parquet`, written by `kiim.generate`) knows
which person each (agency, record_id) belongs to and which spelling errors the office made.
The warehouse knows only record pseudonyms, so the truth is mapped with the same keyed hash
the pipeline uses (`record` purpose key over agency and record number); nothing identifying
leaves this function, only counts and rates.

Pairwise measures (the standard for linkage, Christen 2012): every two records of one true
person are a true pair, every two records with one person key a predicted pair.
Precision = correct predicted pairs / predicted pairs, recall = correct / true pairs.
Recall by error type counts, for every record that carries the error, the true pairs it
belongs to and how many of them were linked (a pair with the error on both sides counts
twice, which weighs it as harder, as it is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from kiim.synthetic.errors import ERROR_TYPES
from pseudonymization import combine, derive_key, keyed_hash

CLEAN = "ohne_fehler"
ERROR_TYPES_DE = {
    "birth_name": "Geburtsname statt Ehename",
    "transliteration": "andere Transkription",
    "hyphen": "Bindestrich/Namenszusatz",
    "umlaut": "Umlaut-Schreibweise",
    "second_given_dropped": "zweiter Vorname fehlt",
    "typo": "Tippfehler",
    "name_swap": "Vor- und Familienname vertauscht",
    "day_month_swap": "Tag und Monat vertauscht",
    "partial_date": "Geburtsdatum nur teilweise",
    CLEAN: "ohne Fehler",
}


def record_keys(agency: Any, record_id: Any, master_key: bytes) -> pa.StringArray:
    """The pipeline's record pseudonyms for (agency, record number) pairs."""
    return keyed_hash(combine(agency, record_id), derive_key(master_key, "record"))


def _pairs(sizes: pd.Series) -> int:
    s = sizes.to_numpy(dtype=np.int64)
    return int((s * (s - 1) // 2).sum())


def score_assignment(
    truth: pd.DataFrame, predicted: pd.Series, error_types: pd.Series | None = None
) -> dict[str, Any]:
    """Pairwise figures for records with a true `person_id` and a predicted key.

    Args:
        truth: one row per record with a `person_id` column.
        predicted: person key per record (same index as `truth`).
        error_types: optional list of error types per record, for recall by error type.
    """
    df = pd.DataFrame({"truth": truth["person_id"].to_numpy(), "pred": predicted.to_numpy()})
    true_pairs = _pairs(df.groupby("truth").size())
    pred_pairs = _pairs(df.groupby("pred").size())
    both = df.groupby(["truth", "pred"]).size()
    tp = _pairs(both)
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    keys_per_person = df.groupby("truth")["pred"].nunique()
    persons_per_key = df.groupby("pred")["truth"].nunique()
    out: dict[str, Any] = {
        "records": len(df),
        "true_persons": int(df["truth"].nunique()),
        "predicted_persons": int(df["pred"].nunique()),
        "true_pairs": true_pairs,
        "predicted_pairs": pred_pairs,
        "correct_pairs": tp,
        "false_merges": pred_pairs - tp,
        "missed_links": true_pairs - tp,
        "persons_split": int((keys_per_person > 1).sum()),
        "keys_merging_persons": int((persons_per_key > 1).sum()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
    if error_types is not None:
        size_truth = df.groupby("truth")["truth"].transform("size").to_numpy()
        size_cell = df.groupby(["truth", "pred"])["truth"].transform("size").to_numpy()
        errs = error_types.reset_index(drop=True)
        by_type: dict[str, dict[str, float | int]] = {}
        for kind in (*ERROR_TYPES, CLEAN):
            has = np.array(
                [(len(e) == 0) if kind == CLEAN else (kind in e) for e in errs], dtype=bool
            )
            t = int((size_truth[has] - 1).sum())
            c = int((size_cell[has] - 1).sum())
            by_type[kind] = {
                "records": int(has.sum()),
                "true_pairs": t,
                "linked_pairs": c,
                "recall": c / t if t else float("nan"),
            }
        out["recall_by_error_type"] = by_type
    return out


LOOKALIKES_DE = {"twin": "Zwillinge", "junior": "Vater und Sohn gleichen Namens"}


def lookalike_merges(
    records: pd.DataFrame, predicted: pd.Series, persons: pd.DataFrame
) -> dict[str, dict[str, int]]:
    """Look-alike pairs the linkage joined: per kind, pairs in the month and pairs merged.

    `records` holds `person_id` per record, `predicted` its person key; `persons` the
    generator's `lookalike_of` / `lookalike_kind`. A pair counts when both persons have a
    record in the month; it is merged when any record of one shares a key with one of the
    other. The pairwise figures count such a mistake too, but among 150 000 true pairs a
    handful of twins disappears; this names it.
    """
    out = {kind: {"pairs": 0, "merged": 0} for kind in LOOKALIKES_DE}
    if "lookalike_of" not in persons.columns:
        return out
    keys = (
        pd.DataFrame({"person_id": records["person_id"].to_numpy(), "key": predicted.to_numpy()})
        .groupby("person_id")["key"]
        .agg(frozenset)
    )
    looks = persons.loc[
        persons["lookalike_of"].notna(), ["person_id", "lookalike_of", "lookalike_kind"]
    ]
    for pid, other, kind in looks.itertuples(index=False):
        if pid in keys.index and other in keys.index:
            out[kind]["pairs"] += 1
            out[kind]["merged"] += int(bool(keys[pid] & keys[other]))
    return out


def evaluate_linkage(
    warehouse_db: Path | str, truth_dir: Path | str, period: str, key: bytes
) -> dict[str, Any]:
    """Precision, recall, F1, false merges, missed links and recall by error type of `period`.

    Args:
        warehouse_db: the warehouse DuckDB after `link_period` (read-only access).
        truth_dir: ground-truth root (`<truth_dir>/<period>/records.parquet`).
        period: YYYY-MM.
        key: the master pseudonymisation key of the run (to map record numbers).
    """
    truth = pd.read_parquet(Path(truth_dir) / period / "records.parquet")
    truth["record_key"] = record_keys(
        truth["agency"].astype(object), truth["record_id"].astype(object), key
    ).to_pylist()
    con = duckdb.connect(str(warehouse_db), read_only=True)
    try:
        linked = con.execute(
            "select agency, record_key, person_key from linkage.record_person where period = ?",
            [period],
        ).df()
    finally:
        con.close()
    merged = truth.merge(linked, on=["agency", "record_key"], how="inner")
    result = score_assignment(merged, merged["person_key"], merged["error_types"].map(list))
    persons = pd.read_parquet(Path(truth_dir) / period / "persons.parquet")
    result["lookalikes"] = lookalike_merges(merged, merged["person_key"], persons)
    result.update(
        period=period,
        truth_records=len(truth),
        unmatched_truth_records=len(truth) - len(merged),
        unmatched_linked_records=len(linked) - len(merged),
    )
    return result
