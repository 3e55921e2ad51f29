"""Quality gate: Great Expectations on the pseudonymised frame of one extract.

Validation runs after pseudonymisation, so GX only ever sees keyed pseudonyms and generalised
values, never a name or a birth date. Even so, GX results normally list offending values
(`unexpected_list`, `partial_unexpected_counts`, value columns inside `unexpected_index_list`),
and those must not reach the run log or a report. Two layers keep them out: GX runs with
`_source_row` as the frame's named index and `exclude_unexpected_values`, so it collects row
numbers instead of values (also much faster on mass failures than per-row dicts), and
`sanitise_result` keeps only counts, column names and a sample of row numbers (a whitelist).

GX takes ~10 s to import and a context ~1 s to create, so `great_expectations` is imported only
when an `ExtractValidator` is created (importing this module stays cheap, e.g. for the Airflow
DAG parser), and one validator (one ephemeral context) is meant to be reused for all agencies of
a process. There is no module-level context.

The suite comes from `expectations/<agency>.json` (reviewed in git, see `kiim.suites`); the
period-dependent bounds are passed as GX suite parameters (`suite_parameters`).
"""

from __future__ import annotations

import logging
import math
import numbers
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kiim.config import Agency, ConfigError
from kiim.problems import Problem, Severity
from kiim.register_vocab import format_number_de
from kiim.schema import pseudonymised_schema
from kiim.suites import (
    CONTRACT_LABEL_DE,
    KIND_NULL_RATE,
    KIND_REQUIRED_COLUMNS,
    KIND_ROW_COUNT,
    KIND_TYPES,
    PIPELINE_FIX_DE,
    SOURCE_ROW,
    check_suites_current,
    frame_columns,
    load_suite_dict,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MAX_SAMPLE_ROWS = 20  # row numbers kept per problem (as in kiim.ingest)
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [SOURCE_ROW],
    "return_unexpected_index_query": False,
    "exclude_unexpected_values": True,
}
# Result keys that hold counts only; everything else GX returns is dropped or rebuilt.
SAFE_COUNT_KEYS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
    "missing_count",
    "missing_percent",
)
FAILURE_DE = {
    "required_columns": "Spalten entsprechen nicht dem Vertrag der pseudonymisierten Zone",
    "types": "Falscher Datentyp",
    "codes": "Unzulässiger Code",
    "unique": "Doppelte Datensätze",
    "not_null": "Pflichtangabe fehlt",
    "ranges": "Wert außerhalb des zulässigen Bereichs",
    "dates": "Datum nach dem Ende des Berichtsmonats",
    "date_order": "Daten in falscher Reihenfolge",
    "null_rate": "Auffällig viele leere Werte",
    "row_count": "Auffällige Zeilenzahl",
}
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


# ------------------------------------------------------------------------------ parameters


def period_bounds(period: str) -> tuple[int, date]:
    """(year, last day) of a reporting period `YYYY-MM`."""
    m = _PERIOD.match(period)
    if not m:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    year, month = int(m.group(1)), int(m.group(2))
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return year, first_next - timedelta(days=1)


def row_count_bounds(previous_rows: int | None, max_change: float) -> tuple[int, int | None]:
    """At least one row; within `max_change` (a share) of last month's count when known."""
    if not previous_rows:
        return 1, None
    low = max(1, math.ceil(round(previous_rows * (1 - max_change), 6)))
    high = math.floor(round(previous_rows * (1 + max_change), 6))
    return low, high


def suite_parameters(agency: Agency, period: str, previous_rows: int | None) -> dict[str, Any]:
    """Values of the `$PARAMETER`s used by the generated suites (see `kiim.suites`)."""
    year, end = period_bounds(period)
    low, high = row_count_bounds(previous_rows, agency.validation.max_row_change)
    return {"period_year": year, "period_end": end, "row_count_min": low, "row_count_max": high}


# -------------------------------------------------------------------------------- outcome


@dataclass(frozen=True)
class ValidationStatistics:
    """Checks run and passed (GX expectations plus kiim's type check); problems by severity.

    One failed check can yield several problems (the type check reports each column).
    """

    evaluated: int
    successful: int
    critical_failures: int  # critical problems
    warnings: int  # warning problems

    @property
    def unsuccessful(self) -> int:
        return self.evaluated - self.successful


@dataclass(frozen=True)
class ValidationOutcome:
    """What the gate decided about one extract; JSON-able via `to_dict` (e.g. for XCom)."""

    agency: str
    period: str
    file: str
    rows: int
    accepted: bool  # no critical expectation failed
    problems: list[Problem]
    statistics: ValidationStatistics
    result: dict[str, Any] = field(default_factory=dict)  # sanitised, see sanitise_result

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["problems"] = [p.to_dict() for p in self.problems]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ValidationOutcome:
        problems = [
            Problem(**{**p, "severity": Severity(p["severity"]), "rows": tuple(p["rows"])})
            for p in d["problems"]
        ]
        return cls(
            **{
                **d,
                "problems": problems,
                "statistics": ValidationStatistics(**d["statistics"]),
            }
        )


# ------------------------------------------------------------------------------ sanitising


def _raised(exception_info: dict[str, Any] | None) -> bool:
    """GX reports errors either flat or keyed by metric id; both shapes are handled."""
    if not exception_info:
        return False
    if "raised_exception" in exception_info:
        return bool(exception_info["raised_exception"])
    return any(isinstance(v, dict) and v.get("raised_exception") for v in exception_info.values())


def _source_rows(result: dict[str, Any]) -> list[int]:
    """Row numbers from `unexpected_index_list`, which holds only `_source_row` values here.

    With `_source_row` as the named index and `exclude_unexpected_values`, GX returns one dict
    `{"_source_row": [rows...]}`; the per-row shape `{"_source_row": n, <column>: value}` is
    read too (only the row number is taken from it).
    """
    rows: set[int] = set()
    for entry in result.get("unexpected_index_list") or []:
        if not isinstance(entry, dict):
            continue
        value = entry.get(SOURCE_ROW)
        if isinstance(value, list):
            rows.update(int(v) for v in value if v is not None)
        elif value is not None:
            rows.add(int(value))
    return sorted(rows)


def _number(value: Any) -> int | float | None:
    """A plain int/float from Python or numpy numbers; None for anything else (or bool)."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def sanitise_result(gx_result: dict[str, Any]) -> dict[str, Any]:
    """One expectation result (GX JSON dict) reduced to what may be stored and rendered.

    Kept: the expectation (type, kwargs as configured, meta), success, counts, observed numbers,
    dtype names and column names, and `_source_row` numbers (a sample plus the total). Dropped:
    every value list and every exception message or traceback (they may quote values).
    """
    config = gx_result.get("expectation_config") or {}
    meta = dict(config.get("meta") or {})
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k != "batch_id"}
    res = gx_result.get("result") or {}
    raised = _raised(gx_result.get("exception_info"))
    out: dict[str, Any] = {
        "type": config.get("type"),
        "kwargs": kwargs,
        "meta": meta,
        "severity": meta.get("severity") or str(config.get("severity") or "critical"),
        "success": bool(gx_result.get("success")) and not raised,
        "raised_exception": raised,
    }
    for key in SAFE_COUNT_KEYS:
        number = _number(res.get(key))
        if number is not None:
            out[key] = number
    observed = res.get("observed_value")
    if _number(observed) is not None:
        out["observed_value"] = _number(observed)
    elif config.get("type") == "expect_column_values_to_be_in_type_list" and isinstance(
        observed, str
    ):
        out["observed_value"] = observed  # a dtype name
    mismatched = (res.get("details") or {}).get("mismatched")
    if config.get("type") == "expect_table_columns_to_match_set" and isinstance(mismatched, dict):
        out["mismatched"] = {
            k: [str(c) for c in mismatched.get(k) or []] for k in ("missing", "unexpected")
        }
    rows = _source_rows(res)
    if rows or "unexpected_count" in out:
        out["rows"] = rows[:MAX_SAMPLE_ROWS]
        out["row_count"] = int(res.get("unexpected_count") or len(rows))
    return out


# --------------------------------------------------------------------------- contract types


def contract_types_entry(df: pd.DataFrame, agency: Agency) -> dict[str, Any]:
    """Do the frame's columns convert to the Arrow types of the zone contract?

    The same conversion the Parquet writer performs, so it is the contract itself rather than
    GX's per-value type names (which cost as much as all other checks together). Conversion
    errors are not kept: their messages quote the offending value.
    """
    import pyarrow as pa

    schema = pseudonymised_schema(agency)
    wrong = []
    for f in schema:
        if f.name not in df.columns:
            continue  # reported by the column-set expectation
        try:
            pa.array(df[f.name], type=f.type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            wrong.append(f.name)
    severity = "critical" if KIND_TYPES in agency.validation.critical else "warning"
    return {
        "type": "kiim_contract_types",
        "kwargs": {"columns": [f.name for f in schema]},
        "meta": {
            "check_id": "types:table",
            "kind": KIND_TYPES,
            "severity": severity,
            "description_de": (
                "Jede Spalte hat den Datentyp des Vertrags der pseudonymisierten Zone "
                "(Prüfung durch kiim mit Arrow, nicht mit Great Expectations)."
            ),
            "fix_de": PIPELINE_FIX_DE,
        },
        "severity": severity,
        "success": not wrong,
        "raised_exception": False,
        "wrong_type": wrong,
    }


def _type_problems(entry: dict[str, Any], agency: Agency, file_name: str) -> list[Problem]:
    by_frame_column = {fc: c for c in agency.columns for fc in frame_columns(c)}
    schema = pseudonymised_schema(agency)
    problems = []
    for name in entry["wrong_type"]:
        col = by_frame_column.get(name)
        label = CONTRACT_LABEL_DE.get(name) or (col.label_de if col else name)
        problems.append(
            Problem(
                agency=agency.agency,
                file=file_name,
                check="contract_types",
                message_de=(
                    f"{FAILURE_DE[KIND_TYPES]}: {label} lässt sich nicht in den Typ "
                    f"{schema.field(name).type} des Vertrags umwandeln."
                ),
                fix_de=entry["meta"]["fix_de"],
                severity=Severity(entry["severity"]),
                column=col.source if col else name,
            )
        )
    return problems


# -------------------------------------------------------------------------------- problems


def _pct(value: float) -> str:
    return format_number_de(value, 1)


def _failure_message(entry: dict[str, Any], rows_total: int, previous_rows: int | None) -> str:
    meta = entry["meta"]
    kind = meta.get("kind", "")
    rule = meta.get("description_de") or entry.get("type", "")
    failure = FAILURE_DE.get(kind, "Prüfung nicht erfüllt")
    if entry["raised_exception"]:
        return (
            "Prüfung konnte nicht ausgeführt werden (meist ein unerwarteter Datentyp in der "
            f"Spalte). Regel: {rule}"
        )
    if kind == KIND_REQUIRED_COLUMNS and "mismatched" in entry:
        parts = []
        if entry["mismatched"]["missing"]:
            parts.append("fehlend: " + ", ".join(entry["mismatched"]["missing"]))
        if entry["mismatched"]["unexpected"]:
            parts.append("zusätzlich: " + ", ".join(entry["mismatched"]["unexpected"]))
        return f"{failure} ({'; '.join(parts)}). Regel: {rule}"
    if kind == KIND_ROW_COUNT:
        text = f"{failure}: {format_number_de(rows_total)} Datensätze"
        if previous_rows:
            change = (rows_total - previous_rows) / previous_rows * 100
            sign = "+" if change > 0 else "−" if change < 0 else "±"
            text += (
                f" (Vormonat: {format_number_de(previous_rows)}, "
                f"Veränderung {sign}{_pct(abs(change))} %)"
            )
        return f"{text}. Regel: {rule}"
    if kind == KIND_NULL_RATE and "observed_value" in entry:
        return f"{failure}: nur {_pct(entry['observed_value'] * 100)} % gefüllt. Regel: {rule}"
    if kind == KIND_TYPES and "observed_value" in entry and "row_count" not in entry:
        return f"{failure}: Spaltentyp {entry['observed_value']}. Regel: {rule}"
    if "row_count" in entry:
        n = entry["row_count"]
        base = entry.get("element_count", rows_total)
        share = f" ({_pct(n / base * 100)} %)" if base else ""
        return (
            f"{failure}: {format_number_de(n)} von {format_number_de(base)} Zeilen{share}. "
            f"Regel: {rule}"
        )
    return f"{failure}. Regel: {rule}"


def problem_from_result(
    entry: dict[str, Any],
    agency: str,
    file_name: str,
    rows_total: int,
    previous_rows: int | None,
) -> Problem:
    """A failed (sanitised) expectation as a Problem: where, what, what to ask for."""
    meta = entry["meta"]
    kwargs = entry["kwargs"]
    column = meta.get("source_column") or kwargs.get("column") or kwargs.get("column_A")
    return Problem(
        agency=agency,
        file=file_name,
        check=str(entry.get("type")),
        message_de=_failure_message(entry, rows_total, previous_rows),
        fix_de=meta.get("fix_de") or "Lieferung prüfen lassen.",
        severity=Severity(entry["severity"]),
        column=column,
        rows=tuple(entry.get("rows", ())),
        row_count=entry.get("row_count") if entry.get("rows") else None,
    )


# ------------------------------------------------------------------------------ validation


def _prepare(df: pd.DataFrame, agency: Agency) -> pd.DataFrame:
    """Date columns as Python dates (the representation `to_pandas()` gives for date32).

    A datetime64 column holds the same dates, but GX compares it with the `period_end`
    parameter (a date) only if both sides are dates. The caller's frame is not modified.
    """
    import pandas as pd

    out = df.set_index(SOURCE_ROW, drop=True).copy()  # one consolidated copy, GX copies often
    for col in agency.columns:
        if col.type == "date" and col.field in out.columns:
            s = out[col.field]
            if pd.api.types.is_datetime64_any_dtype(s):
                out[col.field] = s.dt.date.astype(object).where(s.notna(), None)
    return out


class ExtractValidator:
    """One ephemeral GX context, reused for every extract this process validates."""

    def __init__(self, expectations_dir: Path) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.expectations_dir = Path(expectations_dir)
        self._gx = gx
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._datasource = self._context.data_sources.add_pandas("kiim_pseudonymised")
        self._batch_definitions: dict[str, Any] = {}

    def _batch_definition(self, agency: str) -> Any:
        if agency not in self._batch_definitions:
            asset = self._datasource.add_dataframe_asset(agency)
            self._batch_definitions[agency] = asset.add_batch_definition_whole_dataframe(
                "whole_extract"
            )
        return self._batch_definitions[agency]

    def _suite(self, agency: Agency, name: str) -> Any:
        data = load_suite_dict(self.expectations_dir, agency.agency)
        stale = check_suites_current([agency], self.expectations_dir)
        if stale:
            log.warning(
                "[kiim] %s: Erwartungen veraltet (%s); `python -m kiim.suites --write` ausführen",
                agency.agency,
                stale[agency.agency],
            )
        suite = self._gx.ExpectationSuite(
            name=name, expectations=data["expectations"], meta=data.get("meta") or {}
        )
        if len(suite.expectations) != len(data["expectations"]):
            raise ConfigError(
                f"{agency.agency}.json: {len(data['expectations']) - len(suite.expectations)} "
                "expectation(s) are not valid GX 1.x configurations"
            )
        return suite

    def validate(
        self,
        df: pd.DataFrame,
        agency: Agency,
        period: str,
        *,
        file_name: str,
        previous_rows: int | None = None,
    ) -> ValidationOutcome:
        """Run the agency's suite on a pseudonymised frame (with `_source_row`)."""
        if SOURCE_ROW not in df.columns:
            raise ValueError(f"the frame needs a '{SOURCE_ROW}' column to point at file rows")
        params = suite_parameters(agency, period, previous_rows)
        name = f"{agency.agency}-{uuid.uuid4().hex[:12]}"
        suite = self._context.suites.add(self._suite(agency, name))
        order = {e.id: i for i, e in enumerate(suite.expectations)}
        definition = self._context.validation_definitions.add(
            self._gx.ValidationDefinition(
                name=name, data=self._batch_definition(agency.agency), suite=suite
            )
        )
        try:
            gx_result = definition.run(
                batch_parameters={"dataframe": _prepare(df, agency)},
                expectation_parameters=params,
                result_format=RESULT_FORMAT,
            )
        finally:
            self._context.validation_definitions.delete(name)
            self._context.suites.delete(name)
        raw = sorted(
            gx_result.results,
            key=lambda r: order.get(
                r.expectation_config.id if r.expectation_config else None, len(order)
            ),
        )
        # Built from the result objects rather than `to_json_dict()`, which would first convert
        # every row number of a mass failure to JSON only for us to keep a sample.
        entries = [
            sanitise_result(
                {
                    "expectation_config": (
                        r.expectation_config.to_json_dict() if r.expectation_config else {}
                    ),
                    "success": r.success,
                    "result": r.result,
                    "exception_info": r.exception_info,
                }
            )
            for r in raw
        ]
        entries.insert(1, contract_types_entry(df, agency))
        return _outcome(entries, agency, period, Path(file_name).name, len(df), previous_rows)


def _outcome(
    entries: list[dict[str, Any]],
    agency: Agency,
    period: str,
    file_name: str,
    rows: int,
    previous_rows: int | None,
) -> ValidationOutcome:
    failed = [e for e in entries if not e["success"]]
    problems: list[Problem] = []
    for e in failed:
        if e["type"] == "kiim_contract_types":
            problems += _type_problems(e, agency, file_name)
        else:
            problems.append(problem_from_result(e, agency.agency, file_name, rows, previous_rows))
    critical = sum(p.severity is Severity.critical for p in problems)
    stats = ValidationStatistics(
        evaluated=len(entries),
        successful=len(entries) - len(failed),
        critical_failures=critical,
        warnings=len(problems) - critical,
    )
    year, end = period_bounds(period)
    low, high = row_count_bounds(previous_rows, agency.validation.max_row_change)
    result = {
        "agency": agency.agency,
        "period": period,
        "file": file_name,
        "rows": rows,
        "previous_rows": previous_rows,
        "accepted": critical == 0,
        "parameters": {
            "period_year": year,
            "period_end": end.isoformat(),
            "row_count_min": low,
            "row_count_max": high,
        },
        "statistics": asdict(stats),
        "results": entries,
    }
    log.info(
        "[kiim] %s: %d Prüfungen, %d nicht erfüllt (%d kritisch)",
        agency.agency,
        stats.evaluated,
        stats.unsuccessful,
        critical,
    )
    return ValidationOutcome(
        agency=agency.agency,
        period=period,
        file=file_name,
        rows=rows,
        accepted=critical == 0,
        problems=problems,
        statistics=stats,
        result=result,
    )


def validate_extract(
    df: pd.DataFrame,
    agency: Agency,
    period: str,
    *,
    file_name: str,
    expectations_dir: Path,
    previous_rows: int | None = None,
    validator: ExtractValidator | None = None,
) -> ValidationOutcome:
    """Validate one extract; pass a `validator` to reuse its GX context across calls."""
    if validator is None:
        validator = ExtractValidator(expectations_dir)
    elif validator.expectations_dir != Path(expectations_dir):
        raise ValueError("validator was created for a different expectations_dir")
    return validator.validate(df, agency, period, file_name=file_name, previous_rows=previous_rows)
