"""Column-level lineage of published indicators, read from the dbt manifest.

Each published mart carries `config.meta.kiim` (indicator, German label and definition,
`source_columns` like "ewo.nationality"); here those references are resolved against the agency
configs so the register can name the delivered column, its label and its role.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from kiim.config import Agency, Column
from kiim.register_vocab import ROLE_DE

log = logging.getLogger(__name__)


class LineageColumn(BaseModel):
    ref: str  # as written in the manifest, e.g. "ewo.nationality"
    agency: str
    agency_name_de: str
    field: str
    source: str | None = None
    label_de: str | None = None
    role_de: str | None = None
    fate_de: str | None = None
    resolved: bool


class Indicator(BaseModel):
    indicator: str
    model: str
    label_de: str
    field_of_action_de: str = ""
    definition_de: str = ""
    numerator_de: str = ""
    denominator_de: str = ""
    unit: str = ""
    sources: list[str] = []
    sources_de: list[str] = []
    source_columns: list[LineageColumn] = []


class Lineage(BaseModel):
    manifest_status: Literal["present", "missing", "unreadable"]
    note_de: str = ""
    indicators: list[Indicator] = []


def _resolve_column(ref: str, agencies: dict[str, Agency]) -> LineageColumn:
    agency_key, _, field = ref.partition(".")
    agency = agencies.get(agency_key)
    name_de = agency.name_de if agency else "unbekannte Stelle"
    column = _find_column(agency, field) if agency else None
    if column is None:
        return LineageColumn(
            ref=ref, agency=agency_key, agency_name_de=name_de, field=field, resolved=False
        )
    return LineageColumn(
        ref=ref,
        agency=agency_key,
        agency_name_de=name_de,
        field=field,
        source=column.source,
        label_de=column.label_de,
        role_de=ROLE_DE[column.role],
        fate_de=column.fate_de,
        resolved=True,
    )


def _find_column(agency: Agency, field: str) -> Column | None:
    """The source column a model column derives from: the field itself, the date a
    `<x>_year`/`<x>_month` was generalised from, or the record number behind `record_key`."""
    column = agency.column(field)
    if column is not None:
        return column
    if field == "record_key":
        return agency.column("record_id")
    for suffix in ("_year", "_month"):
        if field.endswith(suffix):
            column = agency.column(field.removesuffix(suffix) + "_date")
            if column is not None and column.generalise == "year_month":
                return column
    return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def load_lineage(manifest_path: Path | None, agencies: list[Agency]) -> Lineage:
    """Published indicators and their source columns from the dbt manifest's `meta.kiim`.

    A missing or unreadable manifest is stated in the register, not raised: the register must
    be producible before the first dbt run.
    """
    if manifest_path is None or not manifest_path.exists():
        return Lineage(
            manifest_status="missing",
            note_de=(
                "Es liegt noch kein dbt-Manifest vor (noch kein dbt-Lauf). Die Herkunft der "
                "veröffentlichten Indikatoren wird nach dem ersten Lauf hier ausgewiesen."
            ),
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        nodes = manifest.get("nodes", {})
        if not isinstance(nodes, dict):
            raise ValueError("nodes is not a mapping")
    except (OSError, ValueError) as e:
        log.warning("dbt manifest %s unreadable: %s", manifest_path, type(e).__name__)
        return Lineage(
            manifest_status="unreadable",
            note_de=(
                f"Das dbt-Manifest ({manifest_path.name}) ist nicht lesbar. Die Herkunft der "
                "Indikatoren kann erst nach einem erfolgreichen dbt-Lauf ausgewiesen werden."
            ),
        )
    by_key = {a.agency: a for a in agencies}
    indicators: list[Indicator] = []
    for node_id, node in sorted(nodes.items()):
        if not isinstance(node, dict):
            continue
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        kiim = meta.get("kiim") if isinstance(meta, dict) else None
        if not isinstance(kiim, dict) or kiim.get("published") is not True:
            continue
        refs = _as_list(kiim.get("source_columns"))
        indicators.append(
            Indicator(
                indicator=str(kiim.get("indicator") or node.get("name") or node_id),
                model=str(node.get("name") or node_id),
                label_de=str(kiim.get("label_de") or kiim.get("indicator") or node_id),
                field_of_action_de=str(kiim.get("field_of_action_de") or ""),
                definition_de=str(kiim.get("definition_de") or ""),
                numerator_de=str(kiim.get("numerator_de") or ""),
                denominator_de=str(kiim.get("denominator_de") or ""),
                unit=str(kiim.get("unit") or ""),
                sources=_as_list(kiim.get("sources")),
                sources_de=[
                    by_key[s].name_de if s in by_key else s for s in _as_list(kiim.get("sources"))
                ],
                source_columns=[_resolve_column(r, by_key) for r in refs],
            )
        )
    indicators.sort(key=lambda i: (i.field_of_action_de, i.label_de, i.indicator))
    note = "" if indicators else "Das dbt-Manifest enthält noch keine veröffentlichten Indikatoren."
    return Lineage(manifest_status="present", note_de=note, indicators=indicators)
