"""The record of processing activities (Art. 30(1) GDPR), generated from configuration.

The register is built from the same agency configs that drive pseudonymisation and validation,
from the `meta.kiim` blocks of the dbt manifest and from the run log, so it cannot describe a
processing that differs from the one the code performs. It never reads data: no value of any
extract reaches it, only column names, labels, roles, counts and dates.

Outputs (German, for auditors): `verzeichnis.html` (self-contained, printable), `verzeichnis.md`,
`verzeichnis.json` (machine readable, with fideslang privacy-declaration vocabulary where it
fits), `aenderungen.md` (what changed since the previous version, kept as
`verzeichnis.vorher.json`).

Siblings: `register_vocab` (German wording, fideslang mapping, shared activities),
`register_lineage` (indicator lineage from the dbt manifest), `register_diff` (version diff).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jinja2
from pydantic import BaseModel

from kiim.config import Agency, Column, Organisation, Person
from kiim.keylog import BridgeEvent, KeyPeriod
from kiim.register_diff import diff_registers
from kiim.register_lineage import Lineage, load_lineage
from kiim.register_vocab import (
    FIDES_CATEGORY_BY_FIELD,
    FIDES_CATEGORY_BY_ROLE,
    FIDES_LEGAL_BASIS,
    LOCAL_TZ,
    ROLE_DE,
    RUN_STATUS_DE,
    SHARED_ACTIVITIES,
    ZONE_DE,
    format_date_de,
    format_number_de,
)
from kiim.runlog import RunRecord

if TYPE_CHECKING:
    from kiim.workspace import Workspace

__all__ = [
    "Activity",
    "Register",
    "RegisterPaths",
    "build_register",
    "diff_registers",
    "format_date_de",
    "format_number_de",
    "load_lineage",
    "write_register",
    "write_workspace_register",
]

log = logging.getLogger(__name__)

SCHEMA = "kiim-register/1"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def _parse_date(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"register_created: expected YYYY-MM-DD or TT.MM.JJJJ, got '{text}'")


# ------------------------------------------------------------------------------- the model


class Contact(BaseModel):
    name: str
    unit: str = ""
    address: str = ""
    email: str = ""
    phone: str = ""


class ColumnEntry(BaseModel):
    source: str
    field: str
    label_de: str
    type: str
    role: str
    role_de: str
    fate_de: str
    data_categories: list[str]


class Activity(BaseModel):
    """One processing activity (one entry of the Art. 30 record)."""

    key: str
    kind: Literal["transfer", "shared"]
    agency: str | None = None
    agency_name_de: str | None = None
    name_de: str
    system_de: str = ""
    purposes_de: list[str]
    legal_basis_de: str
    data_subjects_de: list[str]
    data_categories_de: list[str]
    special_categories_de: str
    recipients_de: list[str]
    third_country_transfers_de: str
    retention_de: list[str]
    dpia_required: bool
    dpia_reference_de: str
    responsible_unit_de: str
    columns: list[ColumnEntry] = []
    created: date
    changed: date
    fideslang: dict[str, Any]

    def content_hash(self) -> str:
        return _hash(self.model_dump(mode="json", exclude={"created", "changed"}))


class RunSummary(BaseModel):
    run_id: str
    period: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    status_de: str
    key_id: str | None
    files: int
    files_rejected: int
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    persons: int | None = None
    marts: int = 0
    suppressed_cells: int | None = None
    seconds: float | None = None
    rejected_de: list[str] = []


class KeyUse(BaseModel):
    """A key's life: from the key history (activation, rotation) and from the runs using it."""

    key_id: str
    first_run: datetime | None = None
    last_run: datetime | None = None
    runs: int = 0
    activated_at: datetime | None = None
    retired_at: datetime | None = None
    predecessor: str | None = None
    successor: str | None = None
    bridge_periods: list[str] = []
    keep_sealed_until: date | None = None


class DeletionEntry(BaseModel):
    """Deletion evidence of one retention run and zone (names and counts only)."""

    deleted_at: datetime
    zone: str
    zone_de: str
    periods: str
    items: int
    files: int
    rows: int


class RetentionCheck(BaseModel):
    """One run of the retention job (also when nothing was due)."""

    deleted_at: datetime
    items: int
    files: int
    rows: int


class Register(BaseModel):
    """The whole record, as rendered to HTML/Markdown and serialised to JSON."""

    schema_: str = SCHEMA
    title_de: str
    district_de: str
    district_ags: str
    version: int = 1
    version_date: date
    created: date
    changed: date
    controller: Contact
    dpo: Contact
    joint_controllers_de: list[str]
    representative_de: str
    responsible_unit_de: str
    dpia_reference_de: str
    third_country_transfers_de: str
    retention_de: dict[str, str]
    tom_de: list[str]
    disclosure_k: int
    key_id: str | None
    key_history: list[KeyUse]
    rotations: list[BridgeEvent] = []
    deletions: list[DeletionEntry] = []
    retention_checks: list[RetentionCheck] = []
    activities: list[Activity]
    lineage: Lineage
    runs: list[RunSummary]
    fideslang: dict[str, Any]

    def content_hash(self) -> str:
        """Fingerprint of what the register says, without version, dates and run history:
        a new version is only counted when this changes."""
        data = self.model_dump(
            mode="json",
            exclude={
                "version",
                "version_date",
                "created",
                "changed",
                "runs",
                "key_history",
                "rotations",
                "deletions",
                "retention_checks",
            },
        )
        for activity in data["activities"]:
            activity.pop("created", None)
            activity.pop("changed", None)
        return _hash(data)

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True)
        data["schema"] = data.pop("schema_")
        data["content_hash"] = self.content_hash()
        for activity, model in zip(data["activities"], self.activities, strict=True):
            activity["content_hash"] = model.content_hash()
        return data


@dataclass(frozen=True)
class RegisterPaths:
    html: Path
    markdown: Path
    json: Path
    changes: Path
    previous_json: Path | None


def _hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _contact(person: Person) -> Contact:
    return Contact(**person.model_dump())


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _slug(text: str) -> str:
    """A fideslang-compatible key from German text (Ä -> ae, spaces -> _)."""
    folded = text.lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        folded = folded.replace(a, b)
    folded = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", folded).strip("_")


def _retention(org: Organisation, zones: Iterable[str]) -> list[str]:
    texts = org.retention_de()
    return [f"{ZONE_DE.get(z, z)}: {texts[z]}" for z in zones if z in texts]


def _fides_categories(column: Column) -> list[str]:
    return [FIDES_CATEGORY_BY_FIELD.get(column.field, FIDES_CATEGORY_BY_ROLE[column.role])]


def _declaration(
    name: str,
    data_use: str,
    categories: Iterable[str],
    subjects_de: Iterable[str],
    retention: list[str],
    special_de: str,
) -> dict[str, Any]:
    """A fideslang PrivacyDeclaration (field names as in fideslang.models)."""
    special = not special_de.strip().lower().startswith("keine")
    return {
        "name": name,
        "data_use": data_use,
        "data_categories": sorted(set(categories)),
        "data_subjects": _unique(_slug(s) for s in subjects_de),
        "legal_basis_for_processing": FIDES_LEGAL_BASIS,
        "flexible_legal_basis_for_processing": False,
        "retention_period": "; ".join(retention),
        "processes_special_category_data": special,
        "special_category_legal_basis": None,
        "data_shared_with_third_parties": False,
        "third_parties": None,
        "shared_categories": [],
        "features": [],
    }


def _transfer_activity(agency: Agency, org: Organisation, created: date, changed: date) -> Activity:
    columns = [
        ColumnEntry(
            source=c.source,
            field=c.field,
            label_de=c.label_de,
            type=c.type,
            role=c.role.value,
            role_de=ROLE_DE[c.role],
            fate_de=c.fate_de,
            data_categories=_fides_categories(c),
        )
        for c in agency.columns
    ]
    retention = _retention(org, ["inbox", "quarantine", "pseudonymised", "warehouse"])
    compact = agency.name_de.replace(" ", "")
    shown = agency.short_de if agency.short_de.replace(" ", "") not in compact else ""
    name = f"Übermittlung {agency.name_de}" + (f" ({shown})" if shown else "")
    return Activity(
        key=f"uebermittlung_{agency.agency}",
        kind="transfer",
        agency=agency.agency,
        agency_name_de=agency.name_de,
        name_de=name,
        system_de=agency.system_de,
        purposes_de=[agency.gdpr.purpose_de],
        legal_basis_de=agency.gdpr.legal_basis_de,
        data_subjects_de=list(agency.gdpr.data_subjects_de),
        data_categories_de=list(agency.gdpr.data_categories_de),
        special_categories_de=agency.gdpr.special_categories_de,
        recipients_de=list(agency.gdpr.recipients_de),
        third_country_transfers_de=org.third_country_transfers_de,
        retention_de=retention,
        dpia_required=bool(org.dpia_reference_de),
        dpia_reference_de=org.dpia_reference_de,
        responsible_unit_de=org.responsible_unit_de,
        columns=columns,
        created=created,
        changed=changed,
        fideslang=_declaration(
            name,
            "analytics.reporting",
            (cat for col in columns for cat in col.data_categories),
            agency.gdpr.data_subjects_de,
            retention,
            agency.gdpr.special_categories_de,
        ),
    )


def _shared_activities(
    agencies: list[Agency], org: Organisation, created: date, changed: date
) -> list[Activity]:
    subjects = _unique(s for a in agencies for s in a.gdpr.data_subjects_de)
    categories = _unique(c for a in agencies for c in a.gdpr.data_categories_de)
    fides_categories = [cat for a in agencies for c in a.columns for cat in _fides_categories(c)]
    bases = _unique(a.gdpr.legal_basis_de for a in agencies)
    legal_basis = (
        "Art. 6 Abs. 1 lit. e DSGVO i. V. m. den Rechtsgrundlagen der einzelnen "
        "Übermittlungen: " + "; ".join(f"{a.short_de}: {a.gdpr.legal_basis_de}" for a in agencies)
        if len(bases) > 1
        else (bases[0] if bases else "Art. 6 Abs. 1 lit. e DSGVO")
    )
    out: list[Activity] = []
    for spec in SHARED_ACTIVITIES:
        retention = _retention(org, spec["zones"])
        publishes = spec["key"] == "veroeffentlichung"
        activity_categories = (
            [
                "keine personenbezogenen Daten: aggregierte Fallzahlen und Quoten, kleine "
                f"Fallzahlen (1 bis {org.disclosure_k - 1}) primär und sekundär gesperrt"
            ]
            if publishes
            else ["pseudonymisierte Daten der Kategorien: " + ", ".join(categories)]
        )
        declaration = _declaration(
            spec["name_de"],
            spec["fides_data_use"],
            [] if publishes else fides_categories,
            subjects,
            retention,
            "keine",
        )
        out.append(
            Activity(
                key=spec["key"],
                kind="shared",
                name_de=spec["name_de"],
                system_de="kiim (Pipeline der Monitoringstelle)",
                purposes_de=list(spec["purposes_de"]),
                legal_basis_de=legal_basis,
                data_subjects_de=subjects,
                data_categories_de=activity_categories,
                special_categories_de="keine",
                recipients_de=list(spec["recipients_de"]),
                third_country_transfers_de=org.third_country_transfers_de,
                retention_de=retention,
                dpia_required=bool(org.dpia_reference_de),
                dpia_reference_de=org.dpia_reference_de,
                responsible_unit_de=org.responsible_unit_de,
                created=created,
                changed=changed,
                fideslang=declaration,
            )
        )
    return out


# ------------------------------------------------------------------------------- runs


def _run_summaries(runs: list[RunRecord]) -> list[RunSummary]:
    out = [
        RunSummary(
            run_id=r.run_id,
            period=r.period,
            trigger=r.trigger,
            started_at=r.started_at,
            finished_at=r.finished_at,
            status=r.status.value,
            status_de=RUN_STATUS_DE.get(r.status, r.status.value),
            key_id=r.key_id,
            files=len(r.files),
            files_rejected=r.files_rejected,
            rows_read=r.rows_read,
            rows_accepted=r.rows_accepted,
            rows_rejected=r.rows_rejected,
            persons=_int(r.linkage.get("persons")),
            marts=len(r.marts),
            suppressed_cells=sum(r.suppression.values()) if r.suppression else None,
            seconds=r.durations.get("total"),
            rejected_de=[
                f"{f.agency}: {f.reason or f.status}"
                for f in r.files
                if f.status in ("rejected", "missing")
            ],
        )
        for r in runs
    ]
    out.sort(key=lambda s: _sortable(s.started_at), reverse=True)
    return out


def _sortable(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _key_history(runs: list[RunRecord], periods: list[KeyPeriod] | None = None) -> list[KeyUse]:
    """Keys from the key history file (in its order) joined with their use by runs."""
    uses: dict[str, KeyUse] = {k.key_id: KeyUse(**k.model_dump()) for k in periods or []}
    for r in sorted(runs, key=lambda r: _sortable(r.started_at)):
        if not r.key_id:
            continue
        use = uses.setdefault(r.key_id, KeyUse(key_id=r.key_id))
        use.first_run = use.first_run or r.started_at
        use.last_run = r.started_at
        use.runs += 1
    return list(uses.values())


def _deletions(lines: list[dict[str, Any]]) -> tuple[list[DeletionEntry], list[RetentionCheck]]:
    """Deletion log lines summed per retention run and zone, newest first."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    checks: list[RetentionCheck] = []
    for line in lines:
        try:
            if line.get("event") == "retention_run":
                checks.append(RetentionCheck.model_validate(line))
                continue
            if line.get("event") != "deleted":
                continue
            key = (str(line["run_id"]), str(line["zone"]))
            g = groups.setdefault(
                key,
                {
                    "deleted_at": line["deleted_at"],
                    "zone": line["zone"],
                    "periods": set(),
                    "items": 0,
                    "files": 0,
                    "rows": 0,
                },
            )
            if line.get("period"):
                g["periods"].add(str(line["period"]))
            g["items"] += 1
            g["files"] += int(line.get("files") or 0)
            g["rows"] += int(line.get("rows") or 0)
        except (KeyError, TypeError, ValueError):
            log.warning("deletion log: an unreadable entry was skipped")
    out = []
    for g in groups.values():
        periods = sorted(g.pop("periods"))
        if not periods:
            span = "–"
        elif len(periods) == 1:
            span = periods[0]
        else:
            span = f"{periods[0]} bis {periods[-1]}"
        out.append(DeletionEntry(**g, zone_de=ZONE_DE.get(g["zone"], g["zone"]), periods=span))
    out.sort(key=lambda d: (_sortable(d.deleted_at), d.zone), reverse=True)
    checks.sort(key=lambda c: _sortable(c.deleted_at), reverse=True)
    return out, checks


# ------------------------------------------------------------------------------- build


def build_register(
    agencies: list[Agency],
    organisation: Organisation,
    manifest_path: Path | None,
    runs: list[RunRecord],
    key_id: str | None,
    version_date: date,
    *,
    key_periods: list[KeyPeriod] | None = None,
    rotations: list[BridgeEvent] | None = None,
    deletion_log: list[dict[str, Any]] | None = None,
) -> Register:
    """Assemble the register from configs, dbt manifest meta and run records.

    `key_id` is the fingerprint of the key in use; if None, the key id of the latest run is
    taken. `key_periods` and `rotations` come from the key history (`kiim.keylog`),
    `deletion_log` from the retention job's log (`kiim.retention`). Version numbers and change
    dates are carried over from the previous version by
    `write_register`, which knows it; here every date is the creation date or `version_date`.
    """
    created = _parse_date(organisation.register_created)
    agencies = sorted(agencies, key=lambda a: a.agency)
    activities = [_transfer_activity(a, organisation, created, version_date) for a in agencies]
    activities += _shared_activities(agencies, organisation, created, version_date)
    if key_id is None:
        latest = [r for r in sorted(runs, key=lambda r: _sortable(r.started_at)) if r.key_id]
        key_id = latest[-1].key_id if latest else None
    subjects = _unique(s for a in agencies for s in a.gdpr.data_subjects_de)
    fides = {
        "organization": {
            "name": organisation.district_de,
            "controller": _contact(organisation.controller).model_dump(),
            "data_protection_officer": _contact(organisation.dpo).model_dump(),
            "representative": {"name": organisation.representative_de},
        },
        "system": {
            "fides_key": "kiim",
            "name": "kiim – kommunales individuelles Integrationsmonitoring",
            "system_type": "Service",
            "administrating_department": organisation.responsible_unit_de,
            "responsibility": ["Controller"],
            "joint_controller_info": "; ".join(organisation.joint_controllers_de) or None,
            "does_international_transfers": False,
            "requires_data_protection_assessments": bool(organisation.dpia_reference_de),
            "dpa_location": organisation.dpia_reference_de,
            "data_security_practices": "; ".join(organisation.tom_de),
            "privacy_declarations": [a.fideslang for a in activities],
        },
        "data_subjects": [
            {"fides_key": _slug(s), "name": s, "is_default": False} for s in subjects
        ],
    }
    deletions, checks = _deletions(deletion_log or [])
    return Register(
        title_de=f"Verzeichnis von Verarbeitungstätigkeiten – {organisation.district_de}",
        district_de=organisation.district_de,
        district_ags=organisation.district_ags,
        version_date=version_date,
        created=created,
        changed=version_date,
        controller=_contact(organisation.controller),
        dpo=_contact(organisation.dpo),
        joint_controllers_de=list(organisation.joint_controllers_de),
        representative_de=organisation.representative_de,
        responsible_unit_de=organisation.responsible_unit_de,
        dpia_reference_de=organisation.dpia_reference_de,
        third_country_transfers_de=organisation.third_country_transfers_de,
        retention_de={ZONE_DE.get(k, k): v for k, v in organisation.retention_de().items()},
        tom_de=list(organisation.tom_de),
        disclosure_k=organisation.disclosure_k,
        key_id=key_id,
        key_history=_key_history(runs, key_periods),
        rotations=sorted(rotations or [], key=lambda b: _sortable(b.at), reverse=True),
        deletions=deletions,
        retention_checks=checks,
        activities=activities,
        lineage=load_lineage(manifest_path, agencies),
        runs=_run_summaries(runs),
        fideslang=fides,
    )


# ------------------------------------------------------------------------------- write


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["de_date"] = format_date_de
    env.filters["de_num"] = format_number_de
    env.filters["md"] = _md_cell
    return env


def _md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value if value is not None else "–").replace("|", "\\|").replace("\n", " ")


def _carry_over(register: Register, previous: dict[str, Any] | None) -> Register:
    """Version number and change dates from the previous version: they move only when the
    content (not the run history) changed."""
    if previous is None:
        return register
    try:
        old_version = int(previous.get("version", 0))
        old_created = date.fromisoformat(previous["created"])
        old_changed = date.fromisoformat(previous["changed"])
    except (KeyError, TypeError, ValueError):
        return register.model_copy(update={"version": 1})
    same = previous.get("content_hash") == register.content_hash()
    old_activities = {a.get("key"): a for a in previous.get("activities") or []}
    activities = []
    for activity in register.activities:
        before = old_activities.get(activity.key)
        update: dict[str, Any] = {}
        if before is None:
            update["created"] = register.version_date
        else:
            try:
                update["created"] = date.fromisoformat(before["created"])
                if before.get("content_hash") == activity.content_hash():
                    update["changed"] = date.fromisoformat(before["changed"])
            except (KeyError, TypeError, ValueError):
                pass
        activities.append(activity.model_copy(update=update))
    return register.model_copy(
        update={
            "version": old_version if same else old_version + 1,
            "created": old_created,
            "changed": old_changed if same else register.version_date,
            "activities": activities,
        }
    )


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_register(register: Register, out_dir: Path) -> RegisterPaths:
    """Write HTML, Markdown and JSON, keep the previous JSON and describe the changes.

    The previous `verzeichnis.json` is kept byte for byte as `verzeichnis.vorher.json`; the
    version number and change dates continue from it.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "verzeichnis.json"
    previous_path = out_dir / "verzeichnis.vorher.json"
    previous: dict[str, Any] | None = None
    previous_unreadable = False
    kept: Path | None = None
    if json_path.exists():
        old_bytes = json_path.read_bytes()
        _write_atomic(previous_path, old_bytes)
        kept = previous_path
        try:
            loaded = json.loads(old_bytes.decode("utf-8"))
            previous = loaded if isinstance(loaded, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            previous = None
        previous_unreadable = previous is None

    register = _carry_over(register, previous)
    data = register.to_json()
    if previous is not None:
        changes = diff_registers(previous, data)
        try:
            previous_date = format_date_de(previous.get("version_date"))
        except (TypeError, ValueError):
            previous_date = "unbekannt"
        changes_intro = (
            f"Vergleich mit der zuvor erzeugten Fassung {previous.get('version', '?')} "
            f"(Stand {previous_date})."
        )
    else:
        changes = []
        changes_intro = (
            "Die vorherige Fassung ist nicht lesbar; ein Vergleich ist nicht möglich."
            if previous_unreadable
            else "Erste Fassung des Verzeichnisses; es gibt keine vorherige Fassung."
        )

    env = _environment()
    context = {
        "r": register,
        "changes": changes,
        "changes_intro": changes_intro,
        "has_previous": previous is not None,
    }
    html = env.get_template("register.html.j2").render(**context)
    md = env.get_template("register.md.j2").render(**context)
    changes_md = env.get_template("register.changes.md.j2").render(**context)

    paths = RegisterPaths(
        html=out_dir / "verzeichnis.html",
        markdown=out_dir / "verzeichnis.md",
        json=json_path,
        changes=out_dir / "aenderungen.md",
        previous_json=kept,
    )
    _write_atomic(paths.html, html.encode("utf-8"))
    _write_atomic(paths.markdown, md.encode("utf-8"))
    _write_atomic(paths.changes, changes_md.encode("utf-8"))
    _write_atomic(
        paths.json, (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    )
    return paths


def write_workspace_register(
    ws: Workspace,
    *,
    key_id: str | None = None,
    manifest_path: Path | None = None,
    version_date: date | None = None,
) -> RegisterPaths:
    """Build and write the register from everything a workspace holds: configs, the dbt
    manifest of the last build, the run log, the key history and the deletion log.

    The one place that knows where these inputs live, so the pipeline, the retention job, the
    key rotation and `kiim register` render the same register.
    """
    from kiim.config import load_agencies, load_organisation
    from kiim.keylog import key_log_path, read_bridges, read_key_history
    from kiim.retention import deletion_log_path, read_deletions
    from kiim.runlog import read_runs

    manifest = manifest_path or ws.root / "dbt" / "target" / "manifest.json"
    keys = key_log_path(ws)
    register = build_register(
        load_agencies(ws.config_dir),
        load_organisation(ws.config_dir),
        manifest if manifest.exists() else None,
        read_runs(ws.run_log),
        key_id,
        version_date or datetime.now(LOCAL_TZ).date(),
        key_periods=read_key_history(keys),
        rotations=read_bridges(keys),
        deletion_log=read_deletions(deletion_log_path(ws)),
    )
    return write_register(register, ws.register_dir)
