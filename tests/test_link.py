from __future__ import annotations

import numpy as np

from kiim.link import connected_components
from kiim.link_match import (
    ADDRESS_FIELD,
    BUILDING_FIELD,
    DICE_LEVELS,
    EV_DATE_TYPO_ADDRESS,
    EV_EXACT,
    EV_FAMILY_ONLY,
    EV_GENERATION,
    EV_NAMES_NEAR_YEAR,
    EV_NO_GIVEN,
    EV_NONE,
    FIELDS,
    TWIN_MIN_DICE_LEVEL,
    LinkInput,
    Pairs,
    address_levels,
    building_levels,
    candidate_pairs,
    compare,
    look_alike,
    look_alike_guard,
    plausible,
)
from tests.linkinput import link_input


def test_connected_components_chain_and_singletons() -> None:
    labels = connected_components(7, np.array([0, 1, 4]), np.array([1, 2, 5]))
    assert labels.tolist() == [0, 0, 0, 3, 4, 4, 6]


def test_shared_keys_propose_pairs_across_agencies() -> None:
    n = 5
    data = link_input(
        [0, 1, 2, 3, 4],
        keys={
            "name_dob": np.array([[7, 0], [0, 0], [0, 7], [0, 0], [0, 0]]),
            "azr": np.array([[0], [9], [0], [9], [0]]),
        },
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
    # a missing given name is not another given name
    assert plausible(_levels(EV_NO_GIVEN, 0))[0]
    assert plausible(_levels(EV_FAMILY_ONLY, TWIN_MIN_DICE_LEVEL))[0]
    # names + address with a date typo link; namesakes with another date do not
    assert plausible(_levels(EV_DATE_TYPO_ADDRESS, 0))[0]
    assert not plausible(_levels(EV_NAMES_NEAR_YEAR, 6))[0]
    # look-alike levels are left to the guard, which needs the other pairs to decide
    for evidence, dice_bin in (
        (EV_FAMILY_ONLY, TWIN_MIN_DICE_LEVEL - 1),
        (EV_GENERATION, 6),
        (EV_NONE, 6),
    ):
        levels = _levels(evidence, dice_bin, exact_address)
        assert plausible(levels)[0] and look_alike(levels)[0]
    assert not look_alike(_levels(EV_FAMILY_ONLY, TWIN_MIN_DICE_LEVEL))[0]
    # a shared AZR number identifies the person
    assert plausible(_levels(EV_NAMES_NEAR_YEAR, 0, azr=1))[0]


def _guard(
    agency: list[int],
    pairs: list[tuple[int, int]],
    levels: list[np.ndarray],
    weights: list[float],
    prior: list[int] | None = None,
) -> list[bool]:
    data = link_input(agency, prior=prior) if prior else link_input(agency)
    i, j = (np.array(side) for side in zip(*pairs, strict=True))
    candidates = Pairs(i, j, np.zeros(len(pairs), dtype=np.int64))
    verdict = look_alike_guard(data, candidates, np.vstack(levels), np.array(weights))
    return verdict.tolist()


def test_look_alike_guard_refuses_twins_in_view_and_pairs_kept_apart() -> None:
    exact = _levels(EV_EXACT, 6)
    twins = _levels(EV_FAMILY_ONLY, 2)
    generation = _levels(EV_GENERATION, 6)
    # register: twin 1 (0), twin 2 (1); office: twin 1 (2). The office record has a better
    # candidate in the register than the other twin, so the twin pair is refused
    assert _guard([0, 0, 1], [(0, 2), (1, 2)], [exact, twins], [19.0, 4.0]) == [True, False]
    # the same look-alike pair alone: nothing better in view, the weight decides
    assert _guard([0, 1], [(0, 1)], [twins], [4.0]) == [True]
    # father (0) and son (1) in the register, the son's office record (2)
    assert _guard([0, 0, 1], [(0, 2), (1, 2)], [generation, exact], [5.0, 19.0]) == [
        False,
        True,
    ]
    # two records that carried different person keys last month stay apart ...
    assert _guard([0, 1], [(0, 1)], [twins], [4.0], prior=[7, 8]) == [False]
    # ... unless an AZR number says they are one person
    azr = _levels(EV_FAMILY_ONLY, 2, azr=1)
    assert _guard([0, 1], [(0, 1)], [azr], [4.0], prior=[7, 8]) == [True]


def _address_input(clk_address: np.ndarray, household: list[int], years: list[int]) -> LinkInput:
    n = len(years)
    return link_input(
        np.arange(n),
        keys={"names": np.full((n, 1), 5), "household": np.array(household)[:, None]},
        birth_year=years,
        birth_month=np.ones(n, dtype=np.int64),
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


def test_building_keys_count_and_confirm_a_date_typo_only_without_another_street() -> None:
    """Postcode + number and locality + number (the `building` field): 2, 1, 0 agreeing, -1
    without keys. Both agreeing confirm a date typo like an agreeing address, unless the
    address filters say another street (a postcode holds many streets with a number 10)."""
    same = np.uint64(0x5555555555555555)
    other = np.uint64(0xAAAAAAAAAAAAAAAA)
    filters = np.zeros((5, 16), dtype=np.uint64)
    filters[[0, 1]] = same  # 0/1: same street; 2: another street; 3: no street; 4: no keys
    filters[2] = other
    building = np.array([[11, 21], [11, 21], [11, 21], [11, 22], [0, 0]])
    data = link_input(
        np.arange(5),
        keys={"names": np.full((5, 1), 5), "building": building},
        birth_year=[1984, 1986, 1986, 1986, 1986],
        birth_month=np.ones(5, dtype=np.int64),
        clk_address=filters,
    )
    i, j = np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4])
    assert building_levels(data, i, j).tolist() == [2, 2, 1, -1]
    compared, _ = compare(data, Pairs(i, j, np.ones(4, dtype=np.int64), 0))
    evidence = compared[:, 0] // len(DICE_LEVELS)
    assert evidence[0] == EV_DATE_TYPO_ADDRESS and compared[0, BUILDING_FIELD] == -1
    assert evidence[1] == EV_NAMES_NEAR_YEAR  # same postcode and number, another street
    assert compared[1:, BUILDING_FIELD].tolist() == [2, 1, -1]
    # a record without street (no address filter) and both building keys agreeing
    filters[3] = 0
    data.keys["building"][3] = [11, 21]
    compared, _ = compare(data, Pairs(i[2:3], j[2:3], np.ones(1, dtype=np.int64), 0))
    assert compared[0, 0] // len(DICE_LEVELS) == EV_DATE_TYPO_ADDRESS
