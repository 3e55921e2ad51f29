"""Link the records of one period to persons and keep each person's key stable across months.

Version 2 (docs/linkage.md): candidate pairs from keyed blocking keys, Fellegi–Sunter scores
on Bloom-filter similarity and generalised attributes (EM-estimated per month), clustering
that never puts two records of one agency into one person (`kiim.link_match`). Only
pseudonymised encodings are read.

The person-key registry: a person keeps its key from month to month. Each record remembers
the person key it had in the latest earlier month (`linkage.record_person`). A cluster of
this month inherits a known key of its records, the oldest one first; a key claimed by two
clusters stays with the one holding most of its records, the other gets its next-oldest
known key or a new one. What changed is logged in `linkage.key_events`:

* `merge` (person_key = kept key, other_person_key = retired key): records of two earlier
  persons are one person now;
* `split` (person_key = original key, other_person_key = key of the split-off records).

Determinism: records are processed in (agency, record_key) order, the EM starts from fixed
defaults, ties are broken by keys, and the previous state is read from months before the
period only, so re-running a month (also after later months) gives identical results.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kiim.config import Agency
from kiim.link_encode import SPACES, keyed_key
from kiim.link_match import LinkInput, LinkResult, connected_components, link_records
from kiim.schema import ADDRESS_CLK_COLUMN, CLK_COLUMN

log = logging.getLogger(__name__)

__all__ = ["LinkStats", "connected_components", "link_period", "load_link_input"]

CLK_WORDS = 16  # 1024 bits


@dataclass
class LinkStats:
    records: int
    persons: int
    new_persons: int
    known_persons: int
    merged_keys: int
    multi_agency_persons: int
    split_keys: int = 0
    candidate_pairs: int = 0
    accepted_pairs: int = 0
    refused_merges: int = 0
    skipped_blocks: int = 0
    em_iterations: int = 0
    match_share: float = 0.0

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


def _ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists linkage")
    con.execute(
        "create table if not exists linkage.record_person "
        "(period varchar, agency varchar, record_key varchar, person_key varchar)"
    )
    con.execute(
        "create table if not exists linkage.key_events "
        "(period varchar, event varchar, person_key varchar, other_person_key varchar)"
    )
    # each record's latest person key and its first month (key rotation and retention
    # rewrite and prune this table too: kiim/rotation.py, kiim/retention.py)
    con.execute(
        "create table if not exists linkage.record_registry "
        "(agency varchar, record_key varchar, person_key varchar, first_period varchar)"
    )
    con.execute(
        "create table if not exists linkage.score_model "
        "(period varchar, field varchar, level varchar, m double, u double, weight double, "
        "match_share double, iterations integer)"
    )


def _code(expr: str) -> str:
    """SQL for a 64-bit code of a value (DuckDB's hash), 0 for NULL."""
    return f"case when {expr} is null then 0 else greatest(hash({expr}), 1) end"


def _select_agency(con: duckdb.DuckDBPyConnection, agency: str, index: int) -> str:
    cols = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'pseudo' and table_name = ?",
            [agency],
        ).fetchall()
    }

    def col(name: str, cast: str = "varchar") -> str:
        return name if name in cols else f"null::{cast}"

    parts = [f"{index} as agency_index", f"'{agency}' as agency", "record_key"]
    for columns in SPACES.values():
        parts += [f"{_code(col(c))} as {c}" for c in columns]
    parts += [
        f"{col(CLK_COLUMN, 'blob')} as clk",
        f"{col(ADDRESS_CLK_COLUMN, 'blob')} as clk_address",
        f"{_code(col('sex'))} as sex",
        f"{_code(col('nationality'))} as nationality",
        f"{_code(col('ags'))} as ags",
        f"coalesce({col('birth_year', 'integer')}, 0) as birth_year",
        f"coalesce({col('birth_month', 'integer')}, 0) as birth_month",
    ]
    source = f"pseudo.{agency}" if cols else "(select null::varchar as record_key) as none"
    where = "period = $period" if cols else "false"
    return f"select {', '.join(parts)} from {source} where {where}"


def _clk_matrix(values: pa.ChunkedArray | pa.Array, n: int) -> np.ndarray:
    """(n, 16) uint64 from a binary column; null or malformed values become all zeros."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    out = np.zeros((n, CLK_WORDS), dtype=np.uint64)
    if n == 0:
        return out
    width = CLK_WORDS * 8
    arr = arr.cast(pa.binary())
    lengths = pc.binary_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
    ok = lengths == width
    if ok.all() and arr.offset == 0:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1)
        if offsets[0] == 0 and offsets[-1] == n * width:
            data = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=n * width)
            return data.reshape(n, width).view("<u8").astype(np.uint64).copy()
    rows = np.flatnonzero(ok)
    if len(rows):
        chosen = arr.take(pa.array(rows))
        packed = b"".join(chosen.to_pylist())
        out[rows] = np.frombuffer(packed, dtype="<u8").reshape(len(rows), CLK_WORDS)
    return out


def load_link_input(
    con: duckdb.DuckDBPyConnection, period: str, agencies: list[Agency] | list[str]
) -> tuple[pa.Table, LinkInput]:
    """Records of `period` from `pseudo.*` (sorted by agency, record_key) and their arrays.

    The first element holds agency, record_key and prior_key (the person key of the record
    in its latest earlier month, NULL for a new record).
    """
    names = [a if isinstance(a, str) else a.agency for a in agencies]
    present = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'pseudo'"
        ).fetchall()
    }
    selects = [_select_agency(con, name, i) for i, name in enumerate(names) if name in present]
    if not selects:  # nothing delivered yet: an empty selection of the right shape
        selects = [_select_agency(con, "_none_", 0)]
    query = f"""
        with r as ({" union all ".join(selects)}),
        prior as (
            select agency, record_key, arg_max(person_key, period) as prior_key
            from linkage.record_person where period < $period group by agency, record_key
        )
        select r.*, prior.prior_key, {_code("prior.prior_key")} as prior_code
        from r left join prior using (agency, record_key)
        order by r.agency, r.record_key
    """
    relation = con.sql(query, params={"period": period})
    assert relation is not None
    table = relation.to_arrow_table()
    n = table.num_rows

    def ints(name: str) -> np.ndarray:
        return table.column(name).to_numpy().astype(np.uint64).view(np.int64)

    keys = {
        space: np.stack([ints(c) for c in columns], axis=1)
        if n
        else np.zeros((0, len(columns)), dtype=np.int64)
        for space, columns in SPACES.items()
    }
    data = LinkInput(
        agency=table.column("agency_index").to_numpy().astype(np.int64),
        keys=keys,
        clk=_clk_matrix(table.column("clk"), n),
        clk_address=_clk_matrix(table.column("clk_address"), n),
        sex=ints("sex"),
        nationality=ints("nationality"),
        ags=ints("ags"),
        birth_year=table.column("birth_year").to_numpy().astype(np.int64),
        birth_month=table.column("birth_month").to_numpy().astype(np.int64),
        prior=ints("prior_code"),
    )
    return table.select(["agency", "record_key", "prior_key"]), data


# -------------------------------------------------------------------------- key registry


_PERSON_KEY_SALT = b"kiim/person-key/"  # 16 bytes: a fixed SipHash key


def _new_keys(seeds: list[str], taken: set[str]) -> list[str]:
    """Fresh person keys derived from record pseudonyms (deterministic, never reused).

    The seed is already a keyed pseudonym, so a fixed hashing key adds no secret, it only
    makes the derivation a fixed function; a key already in use gets a counter appended.
    """
    if not seeds:
        return []
    hashed = keyed_key(seeds, _PERSON_KEY_SALT).to_pylist()
    out = []
    for seed, h in zip(seeds, hashed, strict=True):
        key, counter = "P" + h, 0
        while key in taken:
            counter += 1
            key = "P" + hashlib.sha256(f"{seed}|{counter}".encode()).hexdigest()[:16]
        taken.add(key)
        out.append(key)
    return out


@dataclass
class _Assignment:
    person_key: np.ndarray  # per record
    is_new: np.ndarray  # per record: its person's key was issued this period
    events: list[tuple[str, str, str]]


def assign_keys(
    records: pa.Table, labels: np.ndarray, key_first_period: dict[str, str], taken: set[str]
) -> _Assignment:
    """Give every cluster a person key: inherit a known one (oldest first), else a new one.

    `labels` holds, per record, the smallest row index of its cluster; rows are sorted by
    (agency, record_key), so that row is also the cluster's smallest record (a deterministic
    seed for a new key). A key claimed by several clusters goes to the one holding most of
    its records (then the smaller seed record).
    """
    n = len(labels)
    agency = np.asarray(records.column("agency").to_pylist(), dtype=object)
    record_key = np.asarray(records.column("record_key").to_pylist(), dtype=object)
    prior = pd.Series(records.column("prior_key").to_pylist(), dtype=object)
    prior_codes, prior_keys = pd.factorize(prior, sort=True)  # -1 = new record
    known = prior_codes >= 0
    support = (
        pd.DataFrame({"label": labels[known], "key": prior_codes[known]})
        .groupby(["label", "key"], sort=False)
        .size()
        .rename("support")
        .reset_index()
    )
    key_names = np.asarray(prior_keys, dtype=object)
    ages = np.array([key_first_period.get(k, "9999-99") for k in key_names], dtype=object)
    support["age"] = ages[support["key"].to_numpy()] if len(support) else []
    support["name"] = key_names[support["key"].to_numpy()] if len(support) else []
    # oldest key first; a key to the cluster with most of its records, then the smaller seed
    support = support.sort_values(
        ["age", "name", "support", "label"], ascending=[True, True, False, True]
    )
    cluster_key: dict[int, str] = {}
    key_cluster: dict[str, int] = {}
    for label, name in zip(support["label"].tolist(), support["name"].tolist(), strict=True):
        if label in cluster_key or name in key_cluster:
            continue
        cluster_key[label] = name
        key_cluster[name] = label
    inherited = np.zeros(n, dtype=bool)
    if cluster_key:
        inherited[np.fromiter(cluster_key, dtype=np.int64)] = True
    fresh = [label for label in np.unique(labels).tolist() if label not in cluster_key]
    seeds = [f"{agency[label]}|{record_key[label]}" for label in fresh]
    cluster_key.update(zip(fresh, _new_keys(seeds, taken), strict=True))
    events: set[tuple[str, str, str]] = set()
    for label, name in zip(support["label"].tolist(), support["name"].tolist(), strict=True):
        mine = cluster_key[label]
        if name == mine:
            continue
        if name in key_cluster:  # the key lives on in another cluster: these records split off
            events.add(("split", name, mine))
        else:  # the key is not continued: its records joined this cluster's person
            events.add(("merge", mine, name))
    by_label = np.empty(n, dtype=object)
    for label, key in cluster_key.items():
        by_label[label] = key
    return _Assignment(by_label[labels], ~inherited[labels], sorted(events))


def _history(
    con: duckdb.DuckDBPyConnection, period: str, keys: list[str]
) -> tuple[dict[str, str], set[str]]:
    """First period of each known key, and every key used before `period`."""
    taken = {
        r[0]
        for r in con.execute(
            "select distinct person_key from linkage.record_person where period < ?", [period]
        ).fetchall()
    }
    if not keys:
        return {}, taken
    con.register("_known_keys", pa.table({"person_key": pa.array(sorted(set(keys)))}))
    try:
        rows = con.execute(
            "select person_key, min(period) from linkage.record_person "
            "join _known_keys using (person_key) where period < ? group by person_key",
            [period],
        ).fetchall()
    finally:
        con.unregister("_known_keys")
    return {k: p for k, p in rows}, taken


def _store(
    con: duckdb.DuckDBPyConnection,
    period: str,
    records: pa.Table,
    assignment: _Assignment,
    result: LinkResult,
) -> None:
    out = pa.table(
        {
            "agency": records.column("agency"),
            "record_key": records.column("record_key"),
            "person_key": pa.array(assignment.person_key.tolist(), pa.string()),
        }
    )
    con.register("_assigned", out)
    try:
        con.execute("delete from linkage.record_person where period = ?", [period])
        con.execute(
            "insert into linkage.record_person "
            "select ?, agency, record_key, person_key from _assigned",
            [period],
        )
        # registry rows of this month's records: the latest assignment (a later month's, if
        # an earlier month is re-run) and the first month the record was seen
        con.execute(
            """
            create or replace temp table _registry as
            select a.agency, a.record_key,
                   coalesce(later.person_key, a.person_key) as person_key,
                   least(coalesce(g.first_period, $period), $period) as first_period
            from _assigned a
            left join linkage.record_registry g using (agency, record_key)
            left join (
                select agency, record_key, arg_max(person_key, period) as person_key
                from linkage.record_person where period > $period group by agency, record_key
            ) later using (agency, record_key)
            """,
            {"period": period},
        )
        con.execute(
            "delete from linkage.record_registry r using _assigned a "
            "where r.agency = a.agency and r.record_key = a.record_key"
        )
        con.execute("insert into linkage.record_registry select * from _registry")
        con.execute("drop table _registry")
    finally:
        con.unregister("_assigned")
    con.execute("delete from linkage.key_events where period = ?", [period])
    if assignment.events:
        con.executemany(
            "insert into linkage.key_events values (?, ?, ?, ?)",
            [[period, e, a, b] for e, a, b in assignment.events],
        )
    con.execute("delete from linkage.score_model where period = ?", [period])
    model = result.model
    con.executemany(
        "insert into linkage.score_model values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                period,
                r["field"],
                r["level"],
                r["m"],
                r["u"],
                r["weight"],
                model.match_share,
                model.iterations,
            ]
            for r in model.table()
        ],
    )


def link_period(con: duckdb.DuckDBPyConnection, period: str, agencies: list[Agency]) -> LinkStats:
    """Assign a person key to every record of `period` in `pseudo.*`; idempotent per period."""
    _ensure_tables(con)
    records, data = load_link_input(con, period, agencies)
    result = link_records(data)
    priors = [k for k in records.column("prior_key").to_pylist() if k is not None]
    first_period, taken = _history(con, period, priors)
    assignment = assign_keys(records, result.labels, first_period, taken)
    _store(con, period, records, assignment, result)

    n = len(result.labels)
    clusters, first = np.unique(result.labels, return_index=True)
    persons = len(clusters)
    new_persons = int(assignment.is_new[first].sum())
    agencies_per_person = np.bincount(
        np.unique(result.labels * (int(data.agency.max(initial=0)) + 1) + data.agency)
        // (int(data.agency.max(initial=0)) + 1),
        minlength=n,
    )
    events = [e for e, _, _ in assignment.events]
    stats = LinkStats(
        records=n,
        persons=persons,
        new_persons=new_persons,
        known_persons=int(persons - new_persons),
        merged_keys=events.count("merge"),
        multi_agency_persons=int((agencies_per_person > 1).sum()),
        split_keys=events.count("split"),
        candidate_pairs=len(result.pairs),
        accepted_pairs=int(result.accepted.sum()),
        refused_merges=result.clustering.refused,
        skipped_blocks=result.pairs.skipped_blocks,
        em_iterations=result.model.iterations,
        match_share=round(float(result.model.match_share), 6),
    )
    log.info(
        "[kiim] Verknüpfung %s: %d Datensätze -> %d Personen (%d neu, %d stellenübergreifend, "
        "%d zusammengeführt, %d getrennt)",
        period,
        stats.records,
        stats.persons,
        stats.new_persons,
        stats.multi_agency_persons,
        stats.merged_keys,
        stats.split_keys,
    )
    return stats
