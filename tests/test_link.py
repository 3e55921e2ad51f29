from __future__ import annotations

import numpy as np

from kiim.link import _edges_from_keys, connected_components


def test_connected_components_chain_and_singletons() -> None:
    labels = connected_components(7, np.array([0, 1, 4]), np.array([1, 2, 5]))
    assert labels.tolist() == [0, 0, 0, 3, 4, 4, 6]


def test_edges_from_shared_keys() -> None:
    import pyarrow as pa

    t = pa.table(
        {"lk_name_dob": ["a", "b", "a", None, "b"], "lk_azr": [None, "z", None, "z", None]}
    )
    a, b = _edges_from_keys(t)
    labels = connected_components(5, a, b)
    assert labels.tolist() == [0, 1, 0, 1, 1]
