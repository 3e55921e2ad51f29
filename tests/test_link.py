from __future__ import annotations

import numpy as np

from kiim.link import connected_components
from kiim.link_match import LinkInput, candidate_pairs


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
