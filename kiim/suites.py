"""Great Expectations suites generated from the agency configs, reviewed in git as JSON.

One suite per agency, `expectations/<agency>.json`, in the GX 1.x ExpectationSuite format. The
suite checks the *pseudonymised* frame (the contract of `kiim.schema`; the delivered row number
`_source_row` is the frame's index while GX runs, see `kiim.validate`), so a
check on the delivered record number is a check on `record_key`, and a check on the birth date is
a check on `birth_year`. Direct identifiers other than the record number never reach this frame;
their completeness is the ingest side's business, and so is free text (Presidio scan).

Why JSON in git and not just generation at run time: the data officer's rules are reviewed like
code, and a hand refinement (a stricter threshold, an extra check) must survive regeneration. An
expectation whose `meta.origin` is `"hand"` is kept by `write_suites`; if it carries the
`check_id` of a generated expectation it replaces that one. `check_suites_current` compares a
file with what `write_suites` would write, so a config change without regenerated suites fails
the drift test.

Period-dependent bounds are GX suite parameters (`{"$PARAMETER": ...}`), not baked in, so the
JSON does not change every month. `kiim.validate.suite_parameters` supplies them per run:

- `period_year`: year of the reporting period (upper bound of birth years),
- `period_end`: last day of the reporting period (upper bound of dates),
- `row_count_min` / `row_count_max`: at least one row, and within
  `validation.max_row_change` of the previous month's row count when that is known.

Every expectation carries `meta` with `severity` (critical rejects the extract, from
`agency.validation.critical`), `kind`, `check_id`, `description_de`, `fix_de` and, where the
check concerns a delivered column, `source_column` (its header in the delivered file).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kiim.catalogues import CATALOGUE_FILES, catalogue_codes
from kiim.config import Agency, Column, ConfigError, Role
from kiim.schema import CLK_COLUMN, pseudonymised_schema

SOURCE_ROW = "_source_row"

# Expectation kinds; `agency.validation.critical` lists the kinds that reject an extract.
KIND_REQUIRED_COLUMNS = "required_columns"
KIND_TYPES = "types"
KIND_CODES = "codes"
KIND_UNIQUE = "unique"
KIND_NOT_NULL = "not_null"
KIND_RANGES = "ranges"
KIND_DATES = "dates"
KIND_DATE_ORDER = "date_order"
KIND_NULL_RATE = "null_rate"
KIND_ROW_COUNT = "row_count"
KINDS = (
    KIND_REQUIRED_COLUMNS,
    KIND_TYPES,
    KIND_CODES,
    KIND_UNIQUE,
    KIND_NOT_NULL,
    KIND_RANGES,
    KIND_DATES,
    KIND_DATE_ORDER,
    KIND_NULL_RATE,
    KIND_ROW_COUNT,
)

HAND_ORIGIN = "hand"
MIN_BIRTH_YEAR = 1900
# Required-but-nullable columns (single gaps allowed) warn when fewer rows than this are filled.
REQUIRED_MIN_FILLED = 0.5

CATALOGUE_DE = {
    "ags": "Gemeinden des Landkreises (Amtlicher Gemeindeschlüssel)",
    "nationality": "Staatsangehörigkeiten (ISO 3166 Alpha-3)",
}
CONTRACT_LABEL_DE = {
    "period": "Berichtsmonat",
    "record_key": "Datensatzschlüssel (Pseudonym der Satznummer)",
    "lk_name_dob": "Verknüpfungsschlüssel Name und Geburtsdatum",
    "lk_phonetic": "Verknüpfungsschlüssel phonetisch",
    "lk_phonetic_swapped": "Verknüpfungsschlüssel phonetisch (Namen vertauscht)",
    "lk_azr": "Verknüpfungsschlüssel AZR-Nummer",
    CLK_COLUMN: "Bloom-Filter-Kodierung",
}
PIPELINE_FIX_DE = (
    "Kein Fehler der Lieferung, sondern der Verarbeitung: Konfiguration und Pseudonymisierung "
    "prüfen lassen (Betrieb/Entwicklung informieren)."
)


# ----------------------------------------------------------------------------- column mapping


def frame_columns(col: Column) -> list[str]:
    """Columns of the pseudonymised frame that carry a delivered column (empty if dropped)."""
    if col.role is Role.direct_identifier:
        return ["record_key"] if col.field == "record_id" else []
    if col.role is Role.quasi_identifier and col.generalise == "year_month":
        prefix = col.field.removesuffix("_date")
        return [f"{prefix}_year", f"{prefix}_month"]
    if col.role in (Role.quasi_identifier, Role.attribute, Role.free_text):
        return [col.field]
    return []


def _catalogue(col: Column) -> str | None:
    if col.catalogue:
        return col.catalogue
    for code in col.codes or []:
        if code.startswith("catalogue:"):
            return code.removeprefix("catalogue:")
    return None


# ------------------------------------------------------------------------------- generation


class _SuiteBuilder:
    """Collects expectations for one agency; severity follows the agency's critical kinds."""

    def __init__(self, agency: Agency) -> None:
        unknown = sorted(set(agency.validation.critical) - set(KINDS))
        if unknown:
            raise ConfigError(
                f"{agency.agency}: validation.critical lists unknown kinds {unknown}; "
                f"known kinds: {list(KINDS)}"
            )
        self.agency = agency
        self.expectations: list[dict[str, Any]] = []

    def add(
        self,
        kind: str,
        key: str,
        type_: str,
        kwargs: dict[str, Any],
        *,
        description_de: str,
        fix_de: str,
        source_column: str | None = None,
    ) -> None:
        severity = "critical" if kind in self.agency.validation.critical else "warning"
        meta: dict[str, Any] = {
            "check_id": f"{kind}:{key}",
            "kind": kind,
            "severity": severity,
            "description_de": description_de,
            "fix_de": fix_de,
        }
        if source_column is not None:
            meta["source_column"] = source_column
        self.expectations.append(
            {"type": type_, "kwargs": kwargs, "meta": meta, "severity": severity}
        )


def _label(col: Column) -> str:
    if col.label_de == col.source:
        return f"Spalte „{col.source}“"
    return f"{col.label_de} (Spalte „{col.source}“)"


def build_suite_dict(agency: Agency) -> dict[str, Any]:
    """The generated GX ExpectationSuite of one agency as a JSON-able dict (no hand refinements).

    Order: table-level checks, then per delivered column (config order) not-null, unique,
    codes, ranges, dates, then date pairs and null rates. Column types are not in the suite:
    `kiim.validate` checks them against the Arrow contract (GX's per-value type check would
    cost as much as all other checks together and only approximates the contract).
    """
    b = _SuiteBuilder(agency)
    schema = pseudonymised_schema(agency)
    short = agency.short_de
    fix_ask = f"Bei {short} für die genannten Zeilen"

    b.add(
        KIND_REQUIRED_COLUMNS,
        "table",
        "expect_table_columns_to_match_set",
        {"column_set": list(schema.names), "exact_match": True},
        description_de=(
            f"Die pseudonymisierte Tabelle hat genau die {len(schema.names)} Spalten des "
            "Vertrags der pseudonymisierten Zone (keine fehlende, keine zusätzliche Spalte)."
        ),
        fix_de=PIPELINE_FIX_DE,
    )
    change = f"{agency.validation.max_row_change * 100:.0f}".replace(".", ",")
    b.add(
        KIND_ROW_COUNT,
        "table",
        "expect_table_row_count_to_be_between",
        {
            "min_value": {"$PARAMETER": "row_count_min"},
            "max_value": {"$PARAMETER": "row_count_max"},
        },
        description_de=(
            "Die Lieferung enthält Datensätze, und ihre Zeilenzahl weicht um höchstens "
            f"{change} % von der Lieferung des Vormonats ab."
        ),
        fix_de=(
            f"Bei {short} nachfragen, ob der Export vollständig ist (Filter, Stichtag, "
            "abgebrochener Export) und gegebenenfalls eine vollständige Lieferung anfordern."
        ),
    )

    by_frame_column = {fc: c for c in agency.columns for fc in frame_columns(c)}
    for field in schema:
        if not field.nullable:  # contract: period, record_key
            col = by_frame_column.get(field.name)
            b.add(
                KIND_NOT_NULL,
                field.name,
                "expect_column_values_to_not_be_null",
                {"column": field.name},
                description_de=(
                    f"{_label(col) if col else CONTRACT_LABEL_DE.get(field.name, field.name)} ist in jeder "
                    "Zeile gefüllt."
                ),
                fix_de=(
                    f"{fix_ask} die fehlende Angabe in Spalte „{col.source}“ nachliefern lassen."
                    if col
                    else PIPELINE_FIX_DE
                ),
                source_column=col.source if col else None,
            )

    for col in agency.columns:
        targets = frame_columns(col)
        if not targets or col.role is Role.free_text:
            continue
        main = targets[0]
        if not col.nullable and main not in {f.name for f in schema if not f.nullable}:
            b.add(
                KIND_NOT_NULL,
                main,
                "expect_column_values_to_not_be_null",
                {"column": main},
                description_de=f"{_label(col)} ist in jeder Zeile gefüllt.",
                fix_de=f"{fix_ask} die fehlende Angabe in Spalte „{col.source}“ nachliefern lassen.",
                source_column=col.source,
            )
        if col.unique:
            b.add(
                KIND_UNIQUE,
                main,
                "expect_column_values_to_be_unique",
                {"column": main},
                description_de=f"{_label(col)} kommt in jeder Zeile nur einmal vor.",
                fix_de=(
                    f"Bei {short} die doppelten Datensätze in Spalte „{col.source}“ klären lassen "
                    "und einen Export ohne Dubletten anfordern."
                ),
                source_column=col.source,
            )
        catalogue = _catalogue(col)
        if catalogue is not None:
            if catalogue not in CATALOGUE_FILES:
                raise ConfigError(
                    f"{agency.agency}: column '{col.source}' names unknown catalogue '{catalogue}'"
                )
            codes = sorted(catalogue_codes(catalogue))
            b.add(
                KIND_CODES,
                main,
                "expect_column_values_to_be_in_set",
                {"column": main, "value_set": codes},
                description_de=(
                    f"{_label(col)} enthält nur Codes aus dem Katalog "
                    f"{CATALOGUE_DE.get(catalogue, catalogue)} ({len(codes)} Einträge, "
                    f"dbt_project/seeds/{CATALOGUE_FILES[catalogue]})."
                ),
                fix_de=(
                    f"{fix_ask} den Code in Spalte „{col.source}“ prüfen und korrigieren lassen; "
                    "ist der Code richtig, den Katalog ergänzen."
                ),
                source_column=col.source,
            )
        elif col.codes:
            b.add(
                KIND_CODES,
                main,
                "expect_column_values_to_be_in_set",
                {"column": main, "value_set": list(col.codes)},
                description_de=(
                    f"{_label(col)} enthält nur die vereinbarten Codes {', '.join(col.codes)}."
                ),
                fix_de=(
                    f"{fix_ask} den Code in Spalte „{col.source}“ korrigieren lassen "
                    f"(zulässig: {', '.join(col.codes)})."
                ),
                source_column=col.source,
            )
        if col.role is Role.quasi_identifier and col.generalise == "year_month":
            year, month = targets
            b.add(
                KIND_RANGES,
                year,
                "expect_column_values_to_be_between",
                {
                    "column": year,
                    "min_value": MIN_BIRTH_YEAR,
                    "max_value": {"$PARAMETER": "period_year"},
                },
                description_de=(
                    f"Das Jahr aus {_label(col)} liegt zwischen {MIN_BIRTH_YEAR} und dem Jahr "
                    "des Berichtsmonats."
                ),
                fix_de=(
                    f"{fix_ask} das Datum in Spalte „{col.source}“ prüfen lassen "
                    "(Tippfehler, Platzhalterdatum)."
                ),
                source_column=col.source,
            )
            b.add(
                KIND_RANGES,
                month,
                "expect_column_values_to_be_between",
                {"column": month, "min_value": 1, "max_value": 12},
                description_de=f"Der Monat aus {_label(col)} liegt zwischen 1 und 12.",
                fix_de=PIPELINE_FIX_DE,
                source_column=col.source,
            )
        if col.role is Role.attribute and col.type == "date" and not _planned_end(col):
            b.add(
                KIND_DATES,
                main,
                "expect_column_values_to_be_between",
                {"column": main, "max_value": {"$PARAMETER": "period_end"}},
                description_de=f"{_label(col)} liegt nicht nach dem Ende des Berichtsmonats.",
                fix_de=(
                    f"{fix_ask} das Datum in Spalte „{col.source}“ prüfen lassen "
                    "(Tippfehler, vorerfasster Termin)."
                ),
                source_column=col.source,
            )

    for earlier, later in date_pairs(agency):
        b.add(
            KIND_DATE_ORDER,
            f"{later.field}>={earlier.field}",
            "expect_column_pair_values_a_to_be_greater_than_b",
            {
                "column_A": later.field,
                "column_B": earlier.field,
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
            },
            description_de=f"{_label(later)} liegt nicht vor {_label(earlier)}.",
            fix_de=(
                f"{fix_ask} die Daten in den Spalten „{earlier.source}“ und „{later.source}“ "
                "prüfen lassen (vertauscht oder Tippfehler)."
            ),
            source_column=later.source,
        )

    for col in agency.columns:
        targets = frame_columns(col)
        if not targets or not col.nullable or col.role in (Role.free_text, Role.direct_identifier):
            continue
        main = targets[0]
        if col.required:
            kwargs: dict[str, Any] = {"column": main, "min_value": REQUIRED_MIN_FILLED}
            rule = f"in mindestens {REQUIRED_MIN_FILLED * 100:.0f} % der Zeilen gefüllt"
        else:
            kwargs = {"column": main, "min_value": 0, "strict_min": True}
            rule = "nicht in allen Zeilen leer"
        b.add(
            KIND_NULL_RATE,
            main,
            "expect_column_proportion_of_non_null_values_to_be_between",
            kwargs,
            description_de=f"{_label(col)} ist {rule}.",
            fix_de=(
                f"Bei {short} nachfragen, ob die Spalte „{col.source}“ im Export fehlt oder "
                "im Fachverfahren nicht gepflegt wird."
            ),
            source_column=col.source,
        )

    return {
        "name": agency.agency,
        "expectations": b.expectations,
        "meta": {
            "kiim": {
                "agency": agency.agency,
                "generated_by": "kiim.suites.build_suite_dict",
                "frame": "pseudonymised zone contract (kiim.schema), _source_row as index",
                "parameters": {
                    "period_year": "Jahr des Berichtsmonats",
                    "period_end": "letzter Tag des Berichtsmonats",
                    "row_count_min": "mindestens 1 Zeile bzw. Vormonat minus max_row_change",
                    "row_count_max": "Vormonat plus max_row_change (ohne Vormonat: keine Grenze)",
                },
                "critical_kinds": sorted(agency.validation.critical),
            }
        },
        "notes": (
            "Generiert aus config/agencies/"
            f"{agency.agency}.yaml mit `python -m kiim.suites --write`. Handanpassungen: "
            'Erwartung mit meta.origin = "hand" versehen (gleiche check_id ersetzt die '
            "generierte)."
        ),
    }


def _planned_end(col: Column) -> bool:
    """An end date of a running measure (course end) is a planned date and may lie ahead."""
    return col.field.endswith("_end_date")


def date_pairs(agency: Agency) -> list[tuple[Column, Column]]:
    """(earlier, later) date attribute pairs present in the config: x_start/x_end, move in/out."""
    dates = {c.field: c for c in agency.columns if c.type == "date" and c.role is Role.attribute}
    pairs = [
        (dates[f], dates[f.removesuffix("_start_date") + "_end_date"])
        for f in dates
        if f.endswith("_start_date") and f.removesuffix("_start_date") + "_end_date" in dates
    ]
    if "move_in_date" in dates and "move_out_date" in dates:
        pairs.append((dates["move_in_date"], dates["move_out_date"]))
    return pairs


# ------------------------------------------------------------------------------ files in git


def suite_path(expectations_dir: Path, agency: str) -> Path:
    return expectations_dir / f"{agency}.json"


def render_suite(suite: dict[str, Any]) -> str:
    """Stable text of a suite: sorted keys, two-space indent, UTF-8, final newline."""
    return json.dumps(suite, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _is_hand(expectation: dict[str, Any]) -> bool:
    return (expectation.get("meta") or {}).get("origin") == HAND_ORIGIN


def merge_hand_refinements(
    generated: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any]:
    """The generated suite with the hand-made expectations of the existing file applied."""
    if existing is None:
        return generated
    hand = [e for e in existing.get("expectations", []) if _is_hand(e)]
    by_id = {e["meta"].get("check_id"): e for e in hand if e["meta"].get("check_id")}
    used: set[str] = set()
    merged: list[dict[str, Any]] = []
    for e in generated["expectations"]:
        cid = e["meta"]["check_id"]
        if cid in by_id:
            merged.append(by_id[cid])
            used.add(cid)
        else:
            merged.append(e)
    merged += [e for e in hand if e["meta"].get("check_id") not in used]
    return {**generated, "expectations": merged}


def load_suite_dict(expectations_dir: Path, agency: str) -> dict[str, Any]:
    """The suite as reviewed in git (hand refinements included)."""
    path = suite_path(expectations_dir, agency)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no expectation suite for '{agency}'; run `python -m kiim.suites --write`"
        ) from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise ConfigError(f"{path}: not an expectation suite (no 'expectations' list)")
    return data


def _existing(expectations_dir: Path, agency: str) -> dict[str, Any] | None:
    path = suite_path(expectations_dir, agency)
    return load_suite_dict(expectations_dir, agency) if path.exists() else None


def expected_suite_text(agency: Agency, expectations_dir: Path) -> str:
    """What `write_suites` would write for this agency, given the file's hand refinements."""
    merged = merge_hand_refinements(
        build_suite_dict(agency), _existing(expectations_dir, agency.agency)
    )
    return render_suite(merged)


def write_suites(agencies: Iterable[Agency], expectations_dir: Path) -> list[Path]:
    """(Re)generate `expectations/<agency>.json` for every agency; hand refinements survive."""
    expectations_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for agency in agencies:
        text = expected_suite_text(agency, expectations_dir)
        path = suite_path(expectations_dir, agency.agency)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        written.append(path)
    return written


def check_suites_current(agencies: Iterable[Agency], expectations_dir: Path) -> dict[str, str]:
    """Agencies whose suite file is missing or out of date with the config, with the reason.

    An empty dict means every suite is current. Hand refinements (`meta.origin = "hand"`) do
    not make a file stale; anything else that differs from a fresh generation does.
    """
    stale: dict[str, str] = {}
    for agency in agencies:
        path = suite_path(expectations_dir, agency.agency)
        if not path.exists():
            stale[agency.agency] = f"{path.name} fehlt"
            continue
        if path.read_text(encoding="utf-8") != expected_suite_text(agency, expectations_dir):
            stale[agency.agency] = f"{path.name} weicht von der Konfiguration ab"
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m kiim.suites --write` regenerates, `--check` fails (exit 1) on drift."""
    from kiim.config import load_agencies
    from kiim.workspace import Workspace

    parser = argparse.ArgumentParser(prog="python -m kiim.suites", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write expectations/<agency>.json")
    mode.add_argument("--check", action="store_true", help="exit 1 if a suite is out of date")
    args = parser.parse_args(argv)
    ws = Workspace.from_env()
    agencies = load_agencies(ws.config_dir)
    if args.write:
        for path in write_suites(agencies, ws.expectations_dir):
            print(path)
        return 0
    stale = check_suites_current(agencies, ws.expectations_dir)
    for name, reason in sorted(stale.items()):
        print(f"{name}: {reason}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
