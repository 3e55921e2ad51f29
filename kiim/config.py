"""Declarative configuration: one file per agency, one for the organisation.

The agency file is the single source of truth for how an extract is read, what each column
becomes in pseudonymisation, what is validated, and what the Art. 30 register says. Keeping
all four in one validated model is what stops them drifting apart.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A configuration file is missing, malformed or inconsistent."""


class Role(StrEnum):
    direct_identifier = "direct_identifier"
    quasi_identifier = "quasi_identifier"
    attribute = "attribute"
    free_text = "free_text"
    drop = "drop"


# Canonical identifier fields the pseudonymiser knows how to turn into keys and encodings.
IDENTIFIER_FIELDS = {
    "record_id": "agency record number -> keyed record pseudonym",
    "family_name": "family name -> linkage encodings",
    "given_names": "given names -> linkage encodings",
    "birth_name": "birth (maiden) name -> linkage encodings",
    "azr_number": "AZR number -> keyed AZR link key",
    "birth_place": "birth place -> dropped",
    "address": "street address -> dropped",
    "street": "street name (may include the house number) -> address linkage encodings",
    "house_number": "house number -> address linkage encodings",
    "address_extra": "address supplement (c/o, building, accommodation) -> address encodings",
    "postcode": "postcode -> address linkage encodings",
    "locality": "town or district name -> address linkage encodings",
    "phone": "phone number -> dropped",
}


# Address parts that link like names do (docs/linkage.md, "Address"): an office that
# delivers them gets a keyed address Bloom filter and keyed address keys; the clear values
# are dropped like every other direct identifier.
ADDRESS_FIELDS = ("street", "house_number", "address_extra", "postcode", "locality")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(Strict):
    """One column of an extract as delivered by the agency."""

    source: str = Field(description="column header exactly as in the extract")
    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="canonical field name")
    role: Role
    type: Literal["string", "date", "integer", "decimal", "boolean"] = "string"
    label_de: str
    required: bool = False
    nullable: bool = True
    codes: list[str] | None = Field(
        default=None, description="allowed codes; a named catalogue is given as 'catalogue:<name>'"
    )
    catalogue: str | None = None
    generalise: Literal["year_month", "none"] | None = None
    unique: bool = False

    @model_validator(mode="after")
    def _role_rules(self) -> Column:
        if self.role is Role.quasi_identifier and self.generalise is None:
            raise ValueError(
                f"column '{self.source}': quasi_identifier needs 'generalise' (year_month or none)"
            )
        if self.generalise == "year_month" and self.type != "date":
            raise ValueError(f"column '{self.source}': generalise year_month needs type date")
        if self.role is Role.direct_identifier and self.field not in IDENTIFIER_FIELDS:
            raise ValueError(
                f"column '{self.source}': direct_identifier field must be one of "
                f"{sorted(IDENTIFIER_FIELDS)}, got '{self.field}'"
            )
        if self.role is Role.free_text and self.type != "string":
            raise ValueError(f"column '{self.source}': free_text must be type string")
        return self

    @property
    def fate_de(self) -> str:
        """What becomes of the column, in the register's words."""
        if self.role is Role.direct_identifier:
            if self.field == "record_id":
                return "verschlüsselter Schlüssel (HMAC-SHA256), Klarwert gelöscht"
            if self.field in {"family_name", "given_names", "birth_name", "azr_number"}:
                return (
                    "nur für Verknüpfungsschlüssel genutzt (schlüsselabhängige Hashwerte "
                    "HMAC-SHA256 bzw. SipHash-2-4, gehärteter Bloom-Filter), Klarwert gelöscht"
                )
            if self.field in ADDRESS_FIELDS:
                return (
                    "nur für Verknüpfungsschlüssel der Anschrift genutzt (schlüsselabhängige "
                    "Hashwerte SipHash-2-4, gehärteter Bloom-Filter), Klarwert gelöscht"
                )
            return "gelöscht"
        if self.role is Role.quasi_identifier:
            if self.generalise == "year_month":
                return "vergröbert auf Geburtsjahr und -monat"
            return "unverändert übernommen (bereits grob)"
        if self.role is Role.attribute:
            return "unverändert übernommen"
        if self.role is Role.free_text:
            return "Freitext: personenbezogene Angaben entfernt (Presidio)"
        return "gelöscht"


class Extract(Strict):
    file_pattern: str = Field(
        description="glob relative to the inbox period folder; {period} is substituted"
    )
    format: Literal["csv", "xlsx"]
    encoding: str = "utf-8"
    delimiter: str = ";"
    date_format: str = "%d.%m.%Y"
    decimal: str = ","
    true_values: list[str] = ["J", "j", "ja", "1", "true"]
    false_values: list[str] = ["N", "n", "nein", "0", "false"]
    sheet: str | None = None


class Register(Strict):
    """Facts for the Art. 30 register that only the agency transfer knows."""

    purpose_de: str
    legal_basis_de: str
    data_subjects_de: list[str]
    data_categories_de: list[str]
    recipients_de: list[str] = ["Monitoringstelle im Integrationsbüro (nur pseudonymisiert)"]
    special_categories_de: str = "keine"


class Validation(Strict):
    critical: list[str] = Field(
        default_factory=lambda: ["required_columns", "types", "codes", "unique", "not_null"],
        description="expectation kinds that reject the extract; all others only warn",
    )
    max_row_change: float = 0.5


class Agency(Strict):
    agency: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_de: str
    short_de: str
    system_de: str = ""
    extract: Extract
    gdpr: Register
    validation: Validation = Validation()
    columns: list[Column]

    @model_validator(mode="after")
    def _consistent(self) -> Agency:
        fields = [c.field for c in self.columns]
        dup = {f for f in fields if fields.count(f) > 1}
        if dup:
            raise ValueError(f"fields used twice: {sorted(dup)}")
        sources = [c.source for c in self.columns]
        dups = {s for s in sources if sources.count(s) > 1}
        if dups:
            raise ValueError(f"source columns listed twice: {sorted(dups)}")
        if "record_id" not in fields:
            raise ValueError("every agency needs a record_id column (role direct_identifier)")
        return self

    def by_role(self, role: Role) -> list[Column]:
        return [c for c in self.columns if c.role is role]

    def column(self, field: str) -> Column | None:
        return next((c for c in self.columns if c.field == field), None)

    def has(self, field: str) -> bool:
        return self.column(field) is not None


class Person(Strict):
    name: str
    unit: str = ""
    address: str = ""
    email: str = ""
    phone: str = ""


class RetentionPolicy(Strict):
    """Storage limitation (Art. 5(1)(e) GDPR): how long each zone keeps a reporting month.

    Every period counts in whole months after the end of the reporting month, so a period is
    due on the first day of a month and every zone's deletion can be checked by date alone.
    `kiim.retention` enforces exactly these numbers and the register's erasure periods are
    worded from them, so what the register promises and what is deleted cannot drift apart.
    """

    inbox_months: int = Field(
        default=3,
        ge=0,
        description="raw extracts left in the inbox (never processed or not accepted); an "
        "accepted extract is deleted by its successful run at once",
    )
    quarantine_months: int = Field(default=3, ge=0, description="rejected raw extracts")
    pseudonymised_months: int = Field(default=60, ge=1, description="person-level Parquet")
    warehouse_months: int = Field(default=60, ge=1, description="person-level warehouse rows")
    docs_months: int = Field(default=24, ge=1, description="quality reports per period")
    run_logs_months: int = Field(default=120, ge=1, description="run log (append-only)")

    def months(self, zone: str) -> int:
        return int(getattr(self, f"{zone}_months"))

    def texts_de(self) -> dict[str, str]:
        """The erasure periods in the register's German words, per zone."""

        def span(months: int) -> str:
            years = f" ({months // 12} Jahre)" if months % 12 == 0 and months >= 24 else ""
            unit = "Monat" if months == 1 else "Monate"
            return f"{months} {unit}{years} nach Ende des Berichtsmonats"

        return {
            "inbox": "Rohdaten werden nach erfolgreichem Monatslauf gelöscht; nicht "
            f"übernommene Reste spätestens {span(self.inbox_months)}",
            "quarantine": f"abgewiesene Rohdaten: {span(self.quarantine_months)}",
            "pseudonymised": span(self.pseudonymised_months),
            "warehouse": span(self.warehouse_months),
            "docs": f"Qualitätsberichte: {span(self.docs_months)}; Verarbeitungsverzeichnis, "
            "Schlüssel- und Löschprotokoll ohne Befristung (keine personenbezogenen Daten)",
            "run_logs": f"{span(self.run_logs_months)}; das Laufprotokoll wird nie "
            "umgeschrieben, sondern nur als ganze Datei gelöscht (keine personenbezogenen Daten)",
        }


RETENTION_ZONES = ("inbox", "quarantine", "pseudonymised", "warehouse", "docs", "run_logs")


class Organisation(Strict):
    district_de: str
    district_ags: str = Field(pattern=r"^\d{8}$")
    controller: Person
    dpo: Person
    responsible_unit_de: str
    joint_controllers_de: list[str] = []
    representative_de: str = "entfällt (Verantwortlicher in der EU)"
    dpia_reference_de: str
    third_country_transfers_de: str = "keine Übermittlung in Drittländer"
    register_created: str
    retention: dict[str, str] = Field(
        default={},
        description="German erasure texts for zones without a typed period (e.g. published); "
        "the zones of `retention_policy` are worded from their numbers",
    )
    retention_policy: RetentionPolicy = RetentionPolicy()
    tom_de: list[str] = []
    disclosure_k: int = 5

    @model_validator(mode="after")
    def _one_source_for_retention(self) -> Organisation:
        twice = sorted(set(self.retention) & set(RETENTION_ZONES))
        if twice:
            raise ValueError(
                f"retention: {twice} are set in retention_policy (months); remove their texts, "
                "the register words them from the policy"
            )
        return self

    def retention_de(self) -> dict[str, str]:
        """Erasure period per zone: typed policy first, then free texts of the other zones."""
        return {**self.retention_policy.texts_de(), **self.retention}


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: file not found") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at top level")
    return data


def _explain(path: Path, err: ValidationError) -> ConfigError:
    lines = [f"{path}: invalid configuration"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        lines.append(f"  - {loc or '(top)'}: {e['msg']}")
    return ConfigError("\n".join(lines))


def load_agency(path: Path) -> Agency:
    try:
        agency = Agency.model_validate(_load_yaml(path))
    except ValidationError as e:
        raise _explain(path, e) from None
    if agency.agency != path.stem:
        raise ConfigError(
            f"{path}: 'agency: {agency.agency}' must match the file name '{path.stem}'"
        )
    return agency


def load_agencies(config_dir: Path) -> list[Agency]:
    files = sorted((config_dir / "agencies").glob("*.yaml"))
    if not files:
        raise ConfigError(f"{config_dir / 'agencies'}: no agency configs (*.yaml) found")
    return [load_agency(f) for f in files]


def load_organisation(config_dir: Path) -> Organisation:
    path = config_dir / "organisation.yaml"
    try:
        return Organisation.model_validate(_load_yaml(path))
    except ValidationError as e:
        raise _explain(path, e) from None
