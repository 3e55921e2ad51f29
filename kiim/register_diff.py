"""Differences between two versions of the register, as German sentences for auditors.

Works on the JSON form so that a version written by an older kiim can still be compared.
"""

from __future__ import annotations

from typing import Any


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _list_change(label: str, old: list[str], new: list[str]) -> list[str]:
    lines = [f"{label}: neu „{x}“" for x in new if x not in old]
    lines += [f"{label}: entfallen „{x}“" for x in old if x not in new]
    return lines


_ACTIVITY_FIELDS = {
    "name_de": "Bezeichnung",
    "legal_basis_de": "Rechtsgrundlage",
    "special_categories_de": "Besondere Kategorien",
    "third_country_transfers_de": "Drittlandübermittlung",
    "dpia_reference_de": "DSFA-Referenz",
    "responsible_unit_de": "Zuständige Stelle",
    "system_de": "Verfahren",
}
_ACTIVITY_LISTS = {
    "purposes_de": "Zweck",
    "data_subjects_de": "Betroffene",
    "data_categories_de": "Datenkategorie",
    "recipients_de": "Empfänger",
    "retention_de": "Löschfrist",
}
_COLUMN_FIELDS = {"role_de": "Rolle", "fate_de": "Verbleib", "label_de": "Bezeichnung"}


def _activity_title(activity: dict[str, Any]) -> str:
    return str(activity.get("name_de") or activity.get("key"))


def _diff_columns(where: str, old: list[dict], new: list[dict]) -> list[str]:
    old_by = {c["source"]: c for c in old}
    new_by = {c["source"]: c for c in new}
    lines: list[str] = []
    for source, col in new_by.items():
        before = old_by.get(source)
        if before is None:
            lines.append(f"Spalte {source} der Stelle {where}: neu aufgenommen ({col['role_de']})")
            continue
        for key, label in _COLUMN_FIELDS.items():
            if before.get(key) != col.get(key):
                lines.append(
                    f"Spalte {source} der Stelle {where}: {label} geändert von "
                    f"„{before.get(key)}“ zu „{col.get(key)}“"
                )
    for source, col in old_by.items():
        if source not in new_by:
            lines.append(
                f"Spalte {source} der Stelle {where}: entfallen (zuvor {col.get('role_de')})"
            )
    return lines


def _diff_activity(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    title = _activity_title(new)
    lines: list[str] = []
    for key, label in _ACTIVITY_FIELDS.items():
        if old.get(key) != new.get(key):
            lines.append(f"{title}: {label} geändert von „{old.get(key)}“ zu „{new.get(key)}“")
    for key, label in _ACTIVITY_LISTS.items():
        lines += [
            f"{title}: {line}"
            for line in _list_change(label, old.get(key) or [], new.get(key) or [])
        ]
    where = str(new.get("agency_name_de") or new.get("agency") or title)
    lines += _diff_columns(where, old.get("columns") or [], new.get("columns") or [])
    return lines


def _indicator_columns(indicator: dict[str, Any]) -> list[str]:
    return [str(c.get("ref")) for c in indicator.get("source_columns") or []]


def _diff_lineage(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old_ind = {i["indicator"]: i for i in (old.get("indicators") or [])}
    new_ind = {i["indicator"]: i for i in (new.get("indicators") or [])}
    lines: list[str] = []
    if old.get("manifest_status") != new.get("manifest_status") and new_ind == {}:
        lines.append("Herkunft der Indikatoren: " + str(new.get("note_de") or "nicht verfügbar"))
    for key, ind in new_ind.items():
        label = ind.get("label_de") or key
        before = old_ind.get(key)
        if before is None:
            lines.append(f"Indikator {label}: neu veröffentlicht")
            continue
        for field, text in (("definition_de", "Definition"), ("unit", "Einheit")):
            if before.get(field) != ind.get(field):
                lines.append(
                    f"Indikator {label}: {text} geändert von „{before.get(field)}“ "
                    f"zu „{ind.get(field)}“"
                )
        lines += [
            f"Indikator {label}: {line}"
            for line in _list_change(
                "Quellspalte", _indicator_columns(before), _indicator_columns(ind)
            )
        ]
    for key, ind in old_ind.items():
        if key not in new_ind:
            lines.append(f"Indikator {ind.get('label_de') or key}: nicht mehr veröffentlicht")
    return lines


def diff_registers(old_json: dict, new_json: dict) -> list[str]:
    """German lines describing what changed between two register versions (JSON form).

    Run history and dates are not compared: they change with every run and are not a change of
    the processing itself.
    """
    lines: list[str] = []
    for key, label in (
        ("controller", "Verantwortlicher"),
        ("dpo", "Datenschutzbeauftragte/r"),
    ):
        if old_json.get(key) != new_json.get(key):
            lines.append(f"{label}: Kontaktangaben geändert")
    for key, label in (
        ("representative_de", "Vertreter"),
        ("responsible_unit_de", "Zuständige Stelle"),
        ("dpia_reference_de", "DSFA-Referenz"),
        ("third_country_transfers_de", "Drittlandübermittlung"),
    ):
        if old_json.get(key) != new_json.get(key):
            lines.append(f"{label} geändert von „{old_json.get(key)}“ zu „{new_json.get(key)}“")
    lines += _list_change(
        "Gemeinsam Verantwortliche",
        old_json.get("joint_controllers_de") or [],
        new_json.get("joint_controllers_de") or [],
    )
    lines += _list_change(
        "Technische und organisatorische Maßnahme",
        old_json.get("tom_de") or [],
        new_json.get("tom_de") or [],
    )
    old_ret, new_ret = old_json.get("retention_de") or {}, new_json.get("retention_de") or {}
    for zone in _unique([*new_ret, *old_ret]):
        if old_ret.get(zone) != new_ret.get(zone):
            lines.append(
                f"Löschfrist {zone} geändert von „{old_ret.get(zone, '–')}“ "
                f"zu „{new_ret.get(zone, '–')}“"
            )
    if old_json.get("disclosure_k") != new_json.get("disclosure_k"):
        lines.append(
            f"Mindestfallzahl der Geheimhaltung geändert von {old_json.get('disclosure_k')} "
            f"zu {new_json.get('disclosure_k')}"
        )
    if old_json.get("key_id") != new_json.get("key_id"):
        lines.append(
            f"Schlüssel-ID geändert von {old_json.get('key_id') or '–'} "
            f"zu {new_json.get('key_id') or '–'}"
        )
    old_act = {a["key"]: a for a in old_json.get("activities") or []}
    new_act = {a["key"]: a for a in new_json.get("activities") or []}
    for key, activity in new_act.items():
        if key not in old_act:
            lines.append(f"Verarbeitungstätigkeit neu aufgenommen: {_activity_title(activity)}")
        else:
            lines += _diff_activity(old_act[key], activity)
    for key, activity in old_act.items():
        if key not in new_act:
            lines.append(f"Verarbeitungstätigkeit entfallen: {_activity_title(activity)}")
    lines += _diff_lineage(old_json.get("lineage") or {}, new_json.get("lineage") or {})
    return lines
