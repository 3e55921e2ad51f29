from __future__ import annotations

import numpy as np

from kiim.link import connected_components
from kiim.link_match import (
    ADDRESS_FIELD,
    DICE_LEVELS,
    EV_DATE_TYPO_ADDRESS,
    EV_FAMILY_ONLY,
    EV_GENERATION,
    EV_NAMES_NEAR_YEAR,
    EV_NO_GIVEN,
    EV_NONE,
    FIELDS,
    TWIN_MIN_DICE_LEVEL,
    LinkInput,
    address_levels,
    candidate_pairs,
    compare,
    plausible,
)


def test_connected_components_chain_and_singletons() -> None:
    labels = connected_components(7, np.array([0, 1, 4]), np.array([1, 2, 5]))
    assert labels.tolist() == [0, 0, 0, 3, 4, 4, 6]


def test_shared_keys_propose_pairs_across_agencies() -> None:
    n = 5
    zeros = np.zeros(n, dtype=np.int64)
    data = LinkInput(
        agency=np.array([0, 1, 2, 3, 4]),
        keys={
            "name_dob": np.array([[7, 0], [0, 0], [0, 7], [0, 0], [0, 0]]),
            "azr": np.array([[0], [9], [0], [9], [0]]),
        },
        clk=np.zeros((n, 16), dtype=np.uint64),
        sex=zeros,
        nationality=zeros,
        ags=zeros,
        birth_year=zeros,
        birth_month=zeros,
        prior=zeros,
    )
    pairs = candidate_pairs(data)
    assert list(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True)) == [(0, 2), (1, 3)]
    labels = connected_components(n, pairs.i, pairs.j)
    assert labels.tolist() == [0, 1, 0, 1, 4]


def _levels(evidence: int, dice_bin: int, address: int = -1, azr: int = -1) -> np.ndarray:
    row = np.full(len(FIELDS), -1, dtype=np.int64)
    row[0] = evidence * len(DICE_LEVELS) + dice_bin
    row[4] = azr
    row[ADDRESS_FIELD] = address
    return row[None, :]


def test_plausibility_rules_per_evidence_level() -> None:
    exact_address = len(FIELDS[ADDRESS_FIELD].levels) - 1
    # a missing given name is not another given name; a different one needs Dice >= 0.90
    assert plausible(_levels(EV_NO_GIVEN, 0))[0]
    assert not plausible(_levels(EV_FAMILY_ONLY, TWIN_MIN_DICE_LEVEL - 1, exact_address))[0]
    assert plausible(_levels(EV_FAMILY_ONLY, TWIN_MIN_DICE_LEVEL))[0]
    # names + address with a date typo link; a generation apart never, whatever the address
    assert plausible(_levels(EV_DATE_TYPO_ADDRESS, 0))[0]
    assert not plausible(_levels(EV_GENERATION, 6, exact_address))[0]
    assert not plausible(_levels(EV_NAMES_NEAR_YEAR, 6))[0]
    assert not plausible(_levels(EV_NONE, 6, exact_address))[0]
    # a shared AZR number identifies the person
    assert plausible(_levels(EV_GENERATION, 0, azr=1))[0]


def _address_input(clk_address: np.ndarray, household: list[int], years: list[int]) -> LinkInput:
    n = len(years)
    zeros = np.zeros(n, dtype=np.int64)
    return LinkInput(
        agency=np.arange(n),
        keys={"names": np.full((n, 1), 5), "household": np.array(household)[:, None]},
        clk=np.zeros((n, 16), dtype=np.uint64),
        sex=zeros,
        nationality=zeros,
        ags=zeros,
        birth_year=np.array(years),
        birth_month=np.ones(n, dtype=np.int64),
        prior=zeros,
        clk_address=clk_address,
    )


def test_address_level_is_missing_without_a_filter_and_strong_for_one_household() -> None:
    filters = np.zeros((3, 16), dtype=np.uint64)
    filters[:2] = np.uint64(0x5555555555555555)  # two records, one address; the third none
    data = _address_input(filters, [9, 9, 0], [1984, 1986, 1990])
    i, j = np.array([0, 0, 1]), np.array([1, 2, 2])
    levels = address_levels(data, i, j)
    assert levels.tolist() == [len(FIELDS[ADDRESS_FIELD].levels) - 1, -1, -1]
    # names-only pair of different years: kept for comparison only when both have an address
    pairs = candidate_pairs(data)
    assert list(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True)) == [(0, 1)]
    compared, _ = compare(data, pairs)
    assert compared[0, 0] // len(DICE_LEVELS) == EV_DATE_TYPO_ADDRESS
    assert compared[0, ADDRESS_FIELD] == -1  # already inside the evidence level
