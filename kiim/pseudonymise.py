"""Turn a parsed (identifying) extract into the pseudonymised zone's record layout.

The agency config decides each column's fate: direct identifiers become keyed pseudonyms and
linkage encodings and are then dropped, quasi-identifiers are generalised, attributes are kept,
free text is scrubbed. The output schema is `kiim.schema.pseudonymised_schema`, nothing more:
whatever is not in that schema cannot leak into the later zones.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiim.config import Agency, Role
from kiim.ingest import PARTIAL_MONTH, PARTIAL_YEAR, ParsedExtract
from kiim.link_encode import (
    Coded,
    address_encodings,
    first_words,
    keyed_combos,
    map_shared,
    normalised_names,
    phonetic_codes,
    sorted_codes,
    sorted_day_month,
    space_key,
)
from kiim.schema import CLK_COLUMN, delivers_address, pseudonymised_schema
from pseudonymization import (
    Scrubber,
    clk_encode,
    combine,
    derive_key,
    keyed_hash,
    to_binary_array,
)

SOURCE_ROW = "_source_row"
CLK_SALT_BIRTH_YEAR = True


class PurposeKeys:
    """Sub-keys derived once per run, one per purpose (domain separation, DESIGN §5)."""

    def __init__(self, master: bytes):
        self.record = derive_key(master, "record")
        self.person = derive_key(master, "person")
        self.azr = derive_key(master, "azr")
        self.bloom = derive_key(master, "bloom")
        self.address_bloom = derive_key(master, "address_bloom")


def _col(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    return table.column(name).combine_chunks()


def link_encodings(table: pa.Table, keys: PurposeKeys, agency: Agency) -> dict[str, pa.Array]:
    """Keyed blocking keys (`LINK_KEY_COLUMNS`) and the record-level Bloom filter per record.

    Which key survives which spelling error, and why the blocking keys use SipHash, is in
    kiim/link_encode.py and docs/linkage.md. Everything is derived per distinct value
    (`Coded`: names are normalised and coded once); each key is hashed per row by a compiled
    kernel that joins the parts from the distinct values' buffers (`keyed_combo`);
    docs/linkage.md ("Encoding speed") has the measured rate.
    """
    family, given, birth_name = normalised_names(
        *(_col(table, c) for c in ("family_name", "given_names", "birth_name"))
    )
    birth_name = birth_name.where_not(birth_name.rows == family.rows)  # adds nothing then
    giv1 = given.map(first_words)
    dates = Coded.of(
        table.column("birth_date")
        if "birth_date" in table.column_names
        else pa.nulls(table.num_rows, pa.date32())
    )
    dob_iso = dates.map(lambda d: pc.cast(d, pa.string()))  # ISO 8601, faster than strftime
    partial = _partial_date_text(table, "birth_date")
    dob_text = dob_iso  # full dates, and where the extract stated only part of one,
    if partial is not None:  # "1990" / "1990-05": year keys and the filter still use it
        stated = Coded.of(partial)  # a partial date's row has no full date (null there)
        rows = np.where(stated.rows >= 0, stated.rows + len(dob_iso.values), dob_iso.rows)
        dob_text = Coded(rows, pa.concat_arrays([dob_iso.values, stated.values]))
    birth_year = dob_text.map(lambda d: pc.utf8_slice_codeunits(d, 0, 4))
    dob_sorted_codes = dob_iso.map(sorted_day_month)
    fam_code, giv_code, birth_code = map_shared([family, given, birth_name], phonetic_codes)
    k_name = space_key(keys.person, "name_dob")
    k_phon = space_key(keys.person, "phonetic")
    k_dob = space_key(keys.person, "dob_name")
    k_names = space_key(keys.person, "names")
    code_low, code_high = sorted_codes(fam_code, giv_code)
    azr = _col(table, "azr_number")
    azr_digits = pc.replace_substring_regex(azr, r"\D", "")
    azr_digits = pc.if_else(pc.equal(azr_digits, ""), pa.scalar(None, pa.string()), azr_digits)
    key_columns = {
        "lk_name_dob": ([family, giv1, dob_iso], k_name),
        "lk_birth_name_dob": ([birth_name, giv1, dob_iso], k_name),
        "lk_phonetic": ([fam_code, giv_code, birth_year], k_phon),
        "lk_phonetic_swapped": ([giv_code, fam_code, birth_year], k_phon),
        "lk_birth_phonetic": ([birth_code, giv_code, birth_year], k_phon),
        "lk_dob_family": ([dob_sorted_codes, fam_code], k_dob),
        "lk_dob_given": ([dob_sorted_codes, giv_code], k_dob),
        "lk_dob_birth": ([dob_sorted_codes, birth_code], k_dob),
        "lk_names": ([code_low, code_high], k_names),
    }
    # one kernel call for all nine: the parts' values are packed once
    out = dict(zip(key_columns, keyed_combos(list(key_columns.values())), strict=True))
    out["lk_azr"] = keyed_hash(azr_digits, keys.azr)
    # salted with the birth year (hardening, pseudonymization/README.md); the birth name is
    # encoded too, so an office that still uses it stays close to the register's record
    salt = birth_year.dictionary() if CLK_SALT_BIRTH_YEAR else None
    clk = clk_encode(
        family.dictionary(),
        given.dictionary(),
        dob_text.dictionary(),
        keys.bloom,
        salt=salt,
        birth_name=birth_name.dictionary(),
        normalised=True,
    )
    out[CLK_COLUMN] = to_binary_array(clk)
    if delivers_address(agency):  # address keys and filter (kiim/link_encode.py)
        c_fam, c_giv, dob_sorted = (c.array() for c in (fam_code, giv_code, dob_sorted_codes))
        parts = (keys.person, keys.address_bloom, c_fam, c_giv, dob_sorted)
        out.update(address_encodings(lambda field: _col(table, field), *parts))
    return out


def _partial_date_text(table: pa.Table, field: str) -> pa.Array | None:
    """ "YYYY" or "YYYY-MM" where the extract stated only part of the date (00.00.1990)."""
    name = PARTIAL_YEAR.format(field)
    if name not in table.column_names:
        return None
    year = pc.cast(table.column(name).combine_chunks(), pa.string())
    month = pc.cast(table.column(PARTIAL_MONTH.format(field)).combine_chunks(), pa.string())
    with_month = pc.binary_join_element_wise(year, pc.utf8_lpad(month, 2, "0"), "-")
    return pc.coalesce(with_month, year)


def _partial_date_part(table: pa.Table, field: str, template: str) -> pa.Array | None:
    name = template.format(field)
    return table.column(name).combine_chunks() if name in table.column_names else None


def _deny_lists(table: pa.Table) -> list[list[str]]:
    """A record's own names, for exact removal from its free text (no NER model offline)."""
    cols = [c for c in ("family_name", "given_names", "birth_name") if c in table.column_names]
    per_col = [table.column(c).to_pylist() for c in cols]
    return [[v for v in vals if v] for vals in zip(*per_col, strict=True)] if per_col else []


def pseudonymise_extract(
    extract: ParsedExtract, period: str, master_key: bytes, scrubber: Scrubber | None
) -> pa.Table:
    """Pseudonymised records of one extract, in the zone contract plus `_source_row`.

    `_source_row` lets validation point at file lines; it is dropped before writing Parquet.
    """
    agency = extract.agency
    table = extract.table
    n = table.num_rows
    keys = PurposeKeys(master_key)
    out: dict[str, pa.Array] = {
        "period": pa.array([period] * n, pa.string()),
        "record_key": keyed_hash(
            combine(pa.array([agency.agency] * n, pa.string()), _col(table, "record_id")),
            keys.record,
        ),
    }
    out.update(link_encodings(table, keys, agency))
    free_text = agency.by_role(Role.free_text)
    deny = _deny_lists(table) if free_text else []
    for col in agency.columns:
        values = table.column(col.field).combine_chunks()
        if col.role is Role.quasi_identifier:
            if col.generalise == "year_month":
                prefix = col.field.removesuffix("_date")
                year = pc.cast(pc.year(values), pa.int32())
                month = pc.cast(pc.month(values), pa.int32())
                partial_year = _partial_date_part(table, col.field, PARTIAL_YEAR)
                partial_month = _partial_date_part(table, col.field, PARTIAL_MONTH)
                if partial_year is not None and partial_month is not None:  # 00.00.1990
                    year = pc.coalesce(year, partial_year)
                    month = pc.coalesce(month, partial_month)
                out[f"{prefix}_year"] = year
                out[f"{prefix}_month"] = month
            else:
                out[col.field] = values
        elif col.role is Role.attribute:
            out[col.field] = values
        elif col.role is Role.free_text:
            if scrubber is None:
                raise RuntimeError(f"{agency.agency}: free-text column needs a scrubber")
            out[col.field] = pa.array(scrubber.scrub_many(values.to_pylist(), deny), pa.string())
    schema = pseudonymised_schema(agency)
    result = pa.table({f.name: pc.cast(out[f.name], f.type) for f in schema}, schema=schema)
    return result.append_column(SOURCE_ROW, table.column(SOURCE_ROW))
