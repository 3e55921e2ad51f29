"""German wording and fideslang vocabulary of the processing register.

Kept apart from the register builder so the words an auditor reads (role names, zone names,
the shared activities kiim performs) can be reviewed in one place.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from kiim.config import Role
from kiim.runlog import RunStatus

LOCAL_TZ = ZoneInfo("Europe/Berlin")

ROLE_DE: dict[Role, str] = {
    Role.direct_identifier: "direkter Identifikator",
    Role.quasi_identifier: "Quasi-Identifikator",
    Role.attribute: "Merkmal",
    Role.free_text: "Freitext",
    Role.drop: "verworfen",
}

RUN_STATUS_DE: dict[str, str] = {
    RunStatus.success: "erfolgreich",
    RunStatus.failed: "fehlgeschlagen",
    RunStatus.partial: "teilweise erfolgreich",
}

ZONE_DE: dict[str, str] = {
    "inbox": "Eingang (Rohdaten)",
    "quarantine": "Quarantäne (abgewiesene Rohdaten)",
    "pseudonymised": "Pseudonymisierte Zone",
    "warehouse": "Data Warehouse",
    "published": "Veröffentlichung (Analyse-Datenbank)",
    "docs": "Dokumentation (Berichte)",
    "run_logs": "Laufprotokolle",
}

# fideslang data categories (ethyca/fideslang default taxonomy) per canonical field; fields not
# listed fall back to a coarser parent by role. Coarse parents are valid fideslang keys.
FIDES_CATEGORY_BY_FIELD: dict[str, str] = {
    "record_id": "user.unique_id",
    "family_name": "user.name.last",
    "birth_name": "user.name.last",
    "given_names": "user.name.first",
    "azr_number": "user.government_id.immigration",
    "birth_place": "user.demographic",
    "address": "user.contact.address.street",
    "phone": "user.contact.phone_number",
    "birth_date": "user.demographic.date_of_birth",
    "sex": "user.demographic.gender",
    "nationality": "user.demographic.citizenship_or_immigration_status",
    "ags": "user.contact.address.city",
    "residence_status": "user.demographic.citizenship_or_immigration_status",
    "legal_ground": "user.demographic.citizenship_or_immigration_status",
    "entry_date": "user.demographic.citizenship_or_immigration_status",
    "naturalisation_date": "user.demographic.citizenship_or_immigration_status",
    "move_in_date": "user.location",
    "move_out_date": "user.location",
    "sgb2_benefit": "user.financial",
    "benefit_start_date": "user.financial",
    "household_id": "user.financial",
    "employable": "user.professional_information",
    "unemployed": "user.professional_information",
    "take_up_date": "user.professional_information",
    "take_up_kind": "user.professional_information",
    "dtz_result": "user.demographic.language",
    "daz_phase": "user.demographic.language",
    "language_support_need": "user.demographic.language",
    "religion": "user.demographic.religious_belief",
    "guardians": "user.name",
}
FIDES_CATEGORY_BY_ROLE: dict[Role, str] = {
    Role.direct_identifier: "user.unique_id",
    Role.quasi_identifier: "user.demographic",
    Role.attribute: "user",
    Role.free_text: "user.content.private",
    Role.drop: "user",
}
FIDES_LEGAL_BASIS = "Public interest"  # Art. 6(1)(e) GDPR in fideslang's enumeration

# Activities every installation performs, whatever its agencies: they describe kiim itself.
SHARED_ACTIVITIES: list[dict[str, Any]] = [
    {
        "key": "pseudonymisierung",
        "name_de": "Pseudonymisierung der Lieferungen",
        "purposes_de": [
            "Ersetzung direkter Identifikatoren durch schlüsselabhängige Pseudonyme und "
            "Verknüpfungscodes unmittelbar nach Eingang der Lieferung",
            "Vergröberung von Quasi-Identifikatoren und Entfernung personenbezogener "
            "Angaben aus Freitexten",
        ],
        "recipients_de": ["Monitoringstelle im Integrationsbüro (pseudonymisierte Zone)"],
        "zones": ["inbox", "pseudonymised"],
        "fides_data_use": "essential.service.security",
    },
    {
        "key": "verknuepfung",
        "name_de": "Personenbezogene Verknüpfung über die Stellen hinweg",
        "purposes_de": [
            "Zusammenführung der pseudonymisierten Datensätze derselben Person aus "
            "verschiedenen Stellen anhand schlüsselabhängiger Verknüpfungscodes",
            "Vergabe eines über die Monate stabilen Personenpseudonyms für Verlaufsanalysen",
        ],
        "recipients_de": ["Monitoringstelle im Integrationsbüro (Data Warehouse)"],
        "zones": ["pseudonymised", "warehouse"],
        "fides_data_use": "analytics.reporting",
    },
    {
        "key": "indikatorenerstellung",
        "name_de": "Erstellung der Integrationsindikatoren",
        "purposes_de": [
            "Berechnung der Integrationsindikatoren und Verläufe nach den Definitionen des "
            "Integrationsmonitorings der Länder aus dem pseudonymisierten Personen-Monats-Panel",
        ],
        "recipients_de": ["Monitoringstelle im Integrationsbüro (Data Warehouse)"],
        "zones": ["warehouse"],
        "fides_data_use": "analytics.reporting",
    },
    {
        "key": "veroeffentlichung",
        "name_de": "Veröffentlichung aggregierter Tabellen",
        "purposes_de": [
            "Bereitstellung aggregierter, geheimhaltungsgeprüfter Indikatortabellen für die "
            "Sozial- und Integrationsplanung",
        ],
        "recipients_de": [
            "Sozial- und Integrationsplanung des Landkreises (nur aggregierte Tabellen)",
        ],
        "zones": ["published"],
        "fides_data_use": "analytics.reporting",
    },
]


# --------------------------------------------------------------------------------- formats


def format_date_de(value: date | datetime | str | None) -> str:
    """21.11.2026 (a datetime is shown in German local time with hours and minutes)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(LOCAL_TZ)
        return value.strftime("%d.%m.%Y %H:%M")
    return value.strftime("%d.%m.%Y")


def format_number_de(value: float | int | None, decimals: int = 0) -> str:
    """1.234 or 1.234,5: German thousands separator and decimal comma."""
    if value is None:
        return "–"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
