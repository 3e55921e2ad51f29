"""The contract of the pseudonymised zone: which columns a Parquet file per agency holds.

dbt's staging models, the validation suites and the warehouse loader all read this contract,
so it is derived from the agency config rather than written down a second time.
"""

from __future__ import annotations

import pyarrow as pa

from kiim.config import ADDRESS_FIELDS, Agency, Role

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date": pa.date32(),
    "integer": pa.int64(),
    "decimal": pa.float64(),
    "boolean": pa.bool_(),
}

# Linkage encodings written for every record (NULL where the inputs are missing); what each
# key is for: kiim/link_encode.py and docs/linkage.md.
LINK_KEY_COLUMNS = [
    "lk_name_dob",
    "lk_birth_name_dob",
    "lk_phonetic",
    "lk_phonetic_swapped",
    "lk_birth_phonetic",
    "lk_dob_family",
    "lk_dob_given",
    "lk_dob_birth",
    "lk_names",
    "lk_azr",
]
CLK_COLUMN = "clk"
# Address encodings, only in the contract of an agency that delivers an address part
# (`delivers_address`), so the other agencies' files do not change (kiim/link_encode.py).
ADDRESS_KEY_COLUMNS = [
    "lk_addr_family",
    "lk_addr_given",
    "lk_addr_dob",
    "lk_street_family",
    "lk_street_given",
    "lk_street_dob",
]
# postcode or locality + house number: blocking keys and the `building` comparison
BUILDING_KEY_COLUMNS = ["lk_building_postcode", "lk_building_locality"]
HOUSEHOLD_KEY_COLUMN = "lk_household"
ADDRESS_CLK_COLUMN = "lk_address_clk"  # lk_: the publication guard refuses the prefix


def delivers_address(agency: Agency) -> bool:
    """Does the agency deliver any address part as a direct identifier (linkage input)?"""
    return any(
        c.field in ADDRESS_FIELDS for c in agency.columns if c.role is Role.direct_identifier
    )


def pseudonymised_schema(agency: Agency) -> pa.Schema:
    """Arrow schema of `pseudonymised/<agency>/period=<p>/data.parquet`."""
    fields: list[pa.Field] = [
        pa.field("period", pa.string(), nullable=False),
        pa.field("record_key", pa.string(), nullable=False),
    ]
    fields += [pa.field(c, pa.string()) for c in LINK_KEY_COLUMNS]
    fields.append(pa.field(CLK_COLUMN, pa.binary()))
    if delivers_address(agency):
        fields += [
            pa.field(c, pa.string())
            for c in [*ADDRESS_KEY_COLUMNS, *BUILDING_KEY_COLUMNS, HOUSEHOLD_KEY_COLUMN]
        ]
        fields.append(pa.field(ADDRESS_CLK_COLUMN, pa.binary()))
    for col in agency.columns:
        if col.role is Role.quasi_identifier:
            if col.generalise == "year_month":
                prefix = col.field.removesuffix("_date")
                fields.append(pa.field(f"{prefix}_year", pa.int32()))
                fields.append(pa.field(f"{prefix}_month", pa.int32()))
            else:
                fields.append(pa.field(col.field, ARROW_TYPES[col.type]))
        elif col.role in (Role.attribute, Role.free_text):
            fields.append(pa.field(col.field, ARROW_TYPES[col.type]))
    return pa.schema(fields)
