"""Link records of one period to persons and keep each person's key stable across months.

Version 1 links on exact keyed keys (normalised name + birth date, AZR number). Records are
nodes, shared keys are edges, connected components are persons. A person key, once given,
is kept: a component that contains a record seen in an earlier month inherits that record's
person key, so trajectories survive from month to month.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pyarrow as pa

from kiim.config import Agency

log = logging.getLogger(__name__)

EXACT_KEYS = ("lk_name_dob", "lk_azr")


@dataclass
class LinkStats:
    records: int
    persons: int
    new_persons: int
    known_persons: int
    merged_keys: int
    multi_agency_persons: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def connected_components(n: int, edges_a: np.ndarray, edges_b: np.ndarray) -> np.ndarray:
    """Component label (smallest member index) per node, by vectorised min-label propagation."""
    labels = np.arange(n, dtype=np.int64)
    if len(edges_a) == 0:
        return labels
    while True:
        before = labels.copy()
        m = np.minimum(labels[edges_a], labels[edges_b])
        np.minimum.at(labels, edges_a, m)
        np.minimum.at(labels, edges_b, m)
        labels = labels[labels]  # pointer jumping shortens long chains
        if np.array_equal(labels, before):
            return labels


def _edges_from_keys(records: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Star edges: every record to the first record with the same key value."""
    a_parts, b_parts = [], []
    idx = np.arange(records.num_rows)
    for key in EXACT_KEYS:
        values = records.column(key).to_numpy(zero_copy_only=False)
        valid = (
            np.array([v is not None for v in values])
            if values.dtype == object
            else ~np.isnan(values)
        )
        if not valid.any():
            continue
        vals = values[valid].astype(str)
        rows = idx[valid]
        order = np.argsort(vals, kind="stable")
        vals, rows = vals[order], rows[order]
        starts = np.r_[True, vals[1:] != vals[:-1]]
        head = rows[np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))]
        keep = head != rows
        a_parts.append(head[keep])
        b_parts.append(rows[keep])
    if not a_parts:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    return np.concatenate(a_parts), np.concatenate(b_parts)


def link_period(con: duckdb.DuckDBPyConnection, period: str, agencies: list[Agency]) -> LinkStats:
    """Assign a person key to every record of `period` in `pseudo.*`; idempotent per period."""
    con.execute(
        "create table if not exists linkage.record_registry "
        "(agency varchar, record_key varchar, person_key varchar, first_period varchar, "
        "primary key (agency, record_key))"
    )
    con.execute(
        "create table if not exists linkage.record_person "
        "(period varchar, agency varchar, record_key varchar, person_key varchar)"
    )
    con.execute(
        "create table if not exists linkage.key_events "
        "(period varchar, event varchar, person_key varchar, other_person_key varchar)"
    )
    selects = [
        f"select '{a.agency}' as agency, record_key, {', '.join(EXACT_KEYS)} "
        f"from pseudo.{a.agency} where period = $period"
        for a in agencies
    ]
    records = con.execute(" union all ".join(selects), {"period": period}).to_arrow_table()
    n = records.num_rows
    ea, eb = _edges_from_keys(records)
    labels = connected_components(n, ea, eb)
    con.register("_records", records.append_column("component", pa.array(labels)))
    # a component's person key: the oldest known key among its records, else a new one derived
    # from its smallest record key (deterministic, so re-running a month gives the same keys)
    con.execute(
        """
        create or replace temp table _assign as
        with r as (
            select r.agency, r.record_key, r.component, g.person_key as known_key, g.first_period
            from _records r
            left join linkage.record_registry g using (agency, record_key)
        ),
        comp as (
            select component,
                   arg_min(known_key, first_period || known_key) as known_key,
                   count(distinct known_key) as n_known,
                   'P' || substr(min(record_key), 1, 20) as new_key
            from r group by component
        )
        select r.agency, r.record_key, r.component, r.known_key as previous_key,
               coalesce(comp.known_key, comp.new_key) as person_key,
               comp.known_key is null as is_new, comp.n_known
        from r join comp using (component)
        """
    )
    con.unregister("_records")
    con.execute("delete from linkage.record_person where period = ?", [period])
    con.execute(
        "insert into linkage.record_person select ?, agency, record_key, person_key from _assign",
        [period],
    )
    con.execute("delete from linkage.key_events where period = ?", [period])
    con.execute(
        """
        insert into linkage.key_events
        select distinct ?, 'merge', person_key, previous_key from _assign
        where previous_key is not null and previous_key <> person_key
        """,
        [period],
    )
    con.execute(
        """
        insert or replace into linkage.record_registry
        select a.agency, a.record_key, a.person_key, coalesce(g.first_period, ?)
        from _assign a left join linkage.record_registry g using (agency, record_key)
        """,
        [period],
    )
    row = con.execute(
        """
        select count(*), count(distinct person_key),
               count(distinct person_key) filter (where is_new),
               count(distinct person_key) filter (where not is_new),
               (select count(*) from linkage.key_events where period = $period),
               (select count(*) from (select person_key from _assign group by person_key
                                      having count(distinct agency) > 1))
        from _assign
        """,
        {"period": period},
    ).fetchone()
    assert row is not None
    stats = LinkStats(*[int(v) for v in row])
    log.info(
        "[kiim] Verknüpfung %s: %d Datensätze -> %d Personen (%d neu, %d stellenübergreifend)",
        period,
        stats.records,
        stats.persons,
        stats.new_persons,
        stats.multi_agency_persons,
    )
    return stats
