"""The shared split: stable, disjoint, in the configured proportions, independent of the table."""

from __future__ import annotations

import numpy as np
import pytest

from ebteff.split import assign_split, split_table

FRACTIONS = {"train": 0.7, "calibration": 0.1, "test": 0.2}


def test_fractions_and_disjointness():
    ids = np.arange(1, 200_001, dtype=np.int64) * 7919
    table = split_table(ids, FRACTIONS, "salt")
    assert table.height == ids.size and table["source_id"].n_unique() == ids.size
    counts = dict(table.group_by("split").len().iter_rows())
    for name, frac in FRACTIONS.items():
        assert abs(counts[name] / ids.size - frac) < 0.005


def test_stable_under_reordering_and_subsetting():
    rng = np.random.default_rng(0)
    ids = rng.choice(10**15, 5000, replace=False).astype(np.int64)
    full = dict(zip(ids, assign_split(ids, FRACTIONS, "s"), strict=True))
    perm = rng.permutation(ids)[:1000]
    sub = assign_split(perm, FRACTIONS, "s")
    assert all(full[i] == s for i, s in zip(perm, sub, strict=True))


def test_same_for_every_model_and_run():
    ids = np.arange(1000, dtype=np.int64)
    assert np.array_equal(assign_split(ids, FRACTIONS, "s"), assign_split(ids, FRACTIONS, "s"))


def test_salt_changes_the_split():
    ids = np.arange(1000, dtype=np.int64)
    a, b = assign_split(ids, FRACTIONS, "a"), assign_split(ids, FRACTIONS, "b")
    assert (a != b).mean() > 0.3


def test_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        assign_split(np.arange(3), {"train": 0.7, "calibration": 0.1, "test": 0.3}, "s")
    with pytest.raises(ValueError, match="lack test"):
        assign_split(np.arange(3), {"train": 0.9, "calibration": 0.1}, "s")
