"""Sorted id sets (pixseek.ids) give exactly what numpy's set functions give, faster."""

from __future__ import annotations

import numpy as np
import pytest

from pixseek.ids import first_of_each, union_of_sorted, unique_ids


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 30_000])
def test_unique_ids_is_np_unique(n: int):
    rng = np.random.default_rng(n)
    ids = rng.integers(0, max(n // 3, 1), n).astype(np.int64)  # many repeats, in no order
    got = unique_ids(ids)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.unique(ids))


def test_union_of_sorted_is_the_union_of_candidate_lists():
    rng = np.random.default_rng(3)
    parts = [np.unique(rng.integers(0, 5000, size)) for size in (0, 1, 800, 3000, 3000)]
    parts.append(parts[3][::2].astype(np.uint32))  # a subset of another list, another dtype
    expected = np.unique(np.concatenate(parts))
    np.testing.assert_array_equal(union_of_sorted(parts), expected)
    assert union_of_sorted(parts).dtype == np.int64
    np.testing.assert_array_equal(union_of_sorted([parts[2]]), parts[2])
    np.testing.assert_array_equal(union_of_sorted([np.array([4, 4, 9])]), [4, 9])  # one list with repeats
    assert union_of_sorted([]).shape == (0,)


def test_first_of_each_is_np_uniques_return_index():
    rng = np.random.default_rng(5)
    known = np.concatenate([np.unique(rng.integers(0, 400, 300)) for _ in range(3)])  # several terms' rows
    np.testing.assert_array_equal(first_of_each(known), np.unique(known, return_index=True)[1])
    assert first_of_each(np.zeros(0, dtype=np.int64)).shape == (0,)
