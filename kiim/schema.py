"""The contract of the pseudonymised zone: which columns a Parquet file per agency holds.

dbt's staging models, the validation suites and the warehouse loader all read this contract,
so it is derived from the agency config rather than written down a second time.
"""

from __future__ import annotations

import pyarrow as pa

from kiim.config import Agency, Role

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


def pseudonymised_schema(agency: Agency) -> pa.Schema:
    """Arrow schema of `pseudonymised/<agency>/period=<p>/data.parquet`."""
    fields: list[pa.Field] = [
        pa.field("period", pa.string(), nullable=False),
        pa.field("record_key", pa.string(), nullable=False),
    ]
    fields += [pa.field(c, pa.string()) for c in LINK_KEY_COLUMNS]
    fields.append(pa.field(CLK_COLUMN, pa.binary()))
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
