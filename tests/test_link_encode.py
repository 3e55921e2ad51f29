"""The distinct-value encoding path of `link_encodings` equals the plain column-wise one.

`link_encodings` derives names, codes and dates once per distinct value and hashes each key
once per distinct combination (`Coded`, `keyed_combo`). The reference below is the
straightforward version built from the column functions (normalise, combine, keyed_key per
row, the per-record Bloom encoder); both must give identical keys and filters.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kiim.bench_linkage import simple_agency
from kiim.link_encode import (
    Coded,
    _word_code,
    first_words,
    keyed_combo,
    keyed_combos,
    keyed_key,
    null_where_equal,
    on_distinct,
    phonetic_codes,
    sorted_codes,
    sorted_day_month,
    sorted_pair,
    space_key,
)
from kiim.pseudonymise import PurposeKeys, link_encodings
from kiim.schema import CLK_COLUMN
from pseudonymization import (
    clk_encode_reference,
    combine,
    keyed_hash,
    normalize_names,
    to_binary_array,
)
from pseudonymization.bench import synthetic_identities

MASTER = b"test-master-key-for-link-encode-0123456789"
AGENCY = simple_agency(
    "ewo", ["record_id", "family_name", "given_names", "birth_name", "azr_number", "birth_date"]
)


def _table(n: int = 240) -> pa.Table:
    """Generated identities plus the awkward cases: particles, umlauts, birth name equal to
    the family name, names without a codable sound, missing parts, swapped day and month."""
    data = synthetic_identities(n, seed=21)
    odd_family = ["Al-Hassan", "Müller", "De", None, "H", "Krawtschenko", "Yılmaz", "van Gogh"]
    odd_given = ["Mohammed Ali", "Jürgen", None, "Olena", "Ihor", "Anna-Lena Marie", "", "Halyna"]
    odd_birth = ["Al-Hassan", "Schmidt", None, "Kovalenko", None, "Krawtschenko", "Kaya", None]
    odd_dates = [dt.date(1985, 3, 7), dt.date(1985, 7, 3), None, dt.date(2001, 12, 24)] * 2
    odd_azr = ["AZR 123 456", None, "", "x", "987654", None, "123456", "00-12"]
    birth = pc.if_else(
        pc.equal(pc.utf8_slice_codeunits(data["birth_date"], 9, 10), "1"), data["family"], None
    )
    return pa.table(
        {
            "record_id": pa.array([str(i) for i in range(n + 8)]),
            "family_name": pa.concat_arrays([data["family"], pa.array(odd_family)]),
            "given_names": pa.concat_arrays([data["given"], pa.array(odd_given)]),
            "birth_name": pa.concat_arrays([birth, pa.array(odd_birth, pa.string())]),
            "azr_number": pa.array([None] * n + odd_azr, pa.string()),
            "birth_date": pa.concat_arrays(
                [data["birth_date"].cast(pa.date32()), pa.array(odd_dates, pa.date32())]
            ),
        }
    )


def _reference(table: pa.Table, keys: PurposeKeys) -> dict[str, pa.Array]:
    """The encodings computed column by column, as before the distinct-value path."""

    def codes(names: pa.Array) -> pa.Array:
        return on_distinct(
            first_words(names),
            lambda d: pa.array([_word_code(w) if w else None for w in d.to_pylist()], pa.string()),
        )

    family = normalize_names(table.column("family_name"))
    given = normalize_names(table.column("given_names"))
    birth = null_where_equal(normalize_names(table.column("birth_name")), family)
    giv1 = first_words(given)
    dob = pc.cast(table.column("birth_date").combine_chunks(), pa.string())
    year = pc.utf8_slice_codeunits(dob, 0, 4)
    dob_sorted = sorted_day_month(dob)
    c_fam, c_giv, c_birth = codes(family), codes(given), codes(birth)
    low, high = sorted_pair(c_fam, c_giv)
    k = {s: space_key(keys.person, s) for s in ("name_dob", "phonetic", "dob_name", "names")}
    azr = pc.replace_substring_regex(table.column("azr_number").combine_chunks(), r"\D", "")
    azr = pc.if_else(pc.equal(azr, ""), pa.scalar(None, pa.string()), azr)
    return {
        "lk_name_dob": keyed_key(combine(family, giv1, dob), k["name_dob"]),
        "lk_birth_name_dob": keyed_key(combine(birth, giv1, dob), k["name_dob"]),
        "lk_phonetic": keyed_key(combine(c_fam, c_giv, year), k["phonetic"]),
        "lk_phonetic_swapped": keyed_key(combine(c_giv, c_fam, year), k["phonetic"]),
        "lk_birth_phonetic": keyed_key(combine(c_birth, c_giv, year), k["phonetic"]),
        "lk_dob_family": keyed_key(combine(dob_sorted, c_fam), k["dob_name"]),
        "lk_dob_given": keyed_key(combine(dob_sorted, c_giv), k["dob_name"]),
        "lk_dob_birth": keyed_key(combine(dob_sorted, c_birth), k["dob_name"]),
        "lk_names": keyed_key(combine(low, high), k["names"]),
        "lk_azr": keyed_hash(azr, keys.azr),
        CLK_COLUMN: to_binary_array(
            clk_encode_reference(family, given, dob, keys.bloom, salt=year, birth_name=birth)
        ),
    }


def test_link_encodings_equal_the_column_reference() -> None:
    table = _table()
    keys = PurposeKeys(MASTER)
    got = link_encodings(table, keys, AGENCY)
    expected = _reference(table, keys)
    assert set(expected) <= set(got)
    for column, values in expected.items():
        assert got[column].to_pylist() == values.to_pylist(), column
    assert got["lk_birth_name_dob"].null_count > 0 and got["lk_azr"].null_count > 0


def test_keyed_combo_equals_keyed_key_of_combine() -> None:
    table = _table(120)
    family = Coded.of(normalize_names(table.column("family_name")))
    dob = Coded.of(table.column("birth_date")).map(lambda d: pc.cast(d, pa.string()))
    code = family.map(phonetic_codes)
    key = space_key(PurposeKeys(MASTER).person, "names")
    for parts in ([family, dob], [code, code, dob], [dob]):
        expected = keyed_key(combine(*(p.array() for p in parts)), key)
        assert keyed_combo(parts, key).to_pylist() == expected.to_pylist()


def test_keyed_combos_equal_one_keyed_combo_per_column() -> None:
    # one kernel call for several columns (shared parts, several keys, nulls, messages of
    # 1-8 words side by side in the kernel's lanes) gives each column's keyed_combo
    table = _table(150)
    family = Coded.of(normalize_names(table.column("family_name")))
    given = Coded.of(normalize_names(table.column("given_names")))
    dob = Coded.of(table.column("birth_date")).map(lambda d: pc.cast(d, pa.string()))
    code = family.map(phonetic_codes)
    keys = [space_key(PurposeKeys(MASTER).person, s) for s in ("name_dob", "names")]
    columns = [
        ([family, given, dob], keys[0]),
        ([dob], keys[1]),
        ([code, family, code, given], keys[1]),
        ([given.where_not(given.rows % 2 == 0), dob], keys[0]),
    ]
    got = keyed_combos(columns)
    for (parts, key), values in zip(columns, got, strict=True):
        expected = keyed_key(combine(*(p.array() for p in parts)), key)
        assert values.to_pylist() == expected.to_pylist()
        assert values.null_count == expected.null_count
    assert got[3].null_count > got[0].null_count > 0


def test_fast_paths_of_first_words_and_sorted_dates_equal_the_patterns() -> None:
    # first_words splits at the first space instead of a regex, sorted_day_month swaps the
    # bytes of plain ISO dates in numpy: both must give what the Arrow patterns give
    names = pa.array(["ANNA LENA", "MOHAMMED", "A B C", None, "X\nY Z", "", " LEAD"])
    expected = pc.replace_substring_regex(names, " .*", "")
    assert first_words(names).to_pylist() == expected.to_pylist()
    assert first_words(names[:4]).to_pylist() == expected[:4].to_pylist()  # split path
    dates = [
        f"{1900 + y}-{m:02d}-{d:02d}"
        for y in (0, 85, 124)
        for m in (1, 3, 12)
        for d in (1, 3, 12, 31)
    ]
    swapped = [f"{v[:4]}-{min(v[5:7], v[8:])}-{max(v[5:7], v[8:])}" for v in dates]
    assert sorted_day_month(pa.array(dates)).to_pylist() == swapped
    # not the fast path (year beyond 9999, no leading zeros, a null): Arrow's slices as before
    odd = pa.array(["10000-01-02", "1990-3-4", "1990-12-01", None])
    year, month, day = (pc.utf8_slice_codeunits(odd, a, b) for a, b in ((0, 4), (5, 7), (8, 10)))
    low = pc.if_else(pc.less(month, day), month, day)
    high = pc.if_else(pc.less(month, day), day, month)
    expected = pc.binary_join_element_wise(year, low, high, "-")
    assert sorted_day_month(odd).to_pylist() == expected.to_pylist()


def test_coded_helpers_match_the_column_functions() -> None:
    table = _table(80)
    family = Coded.of(normalize_names(table.column("family_name")))
    given = Coded.of(normalize_names(table.column("given_names"))).map(first_words)
    low, high = sorted_codes(family, family.where_not(family.rows % 3 == 0))
    a, b = sorted_pair(family.array(), family.where_not(family.rows % 3 == 0).array())
    assert low.array().to_pylist() == a.to_pylist() and high.array().to_pylist() == b.to_pylist()
    expected = first_words(normalize_names(table.column("given_names")))
    assert given.array().to_pylist() == expected.to_pylist()
    assert family.dictionary().dictionary_decode().to_pylist() == family.array().to_pylist()


def test_keyed_combo_refuses_the_separator() -> None:
    part = Coded.of(pa.array(["A\x1fB", "C"]))
    with pytest.raises(ValueError, match="separator"):
        keyed_combo([part, part], b"0123456789abcdef")
