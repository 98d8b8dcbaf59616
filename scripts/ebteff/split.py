"""One train / calibration / test split for every model, decided by a hash of ``source_id``.

A star's split depends only on its ``source_id`` and the salt, never on which other stars are in
the table or on which model is being trained: no star is in one model's training set and in
another's test set, and adding stars never moves existing ones.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

SPLITS = ("train", "calibration", "test")
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _salt_key(salt: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.sha256(salt.encode()).digest()[:8], "little"))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele et al. 2014): a fast, well-mixed 64-bit hash."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash_uniform(source_id, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per source_id, stable across runs, machines and table order."""
    ids = np.asarray(source_id, dtype=np.int64).view(np.uint64)
    h = _splitmix64(ids ^ _salt_key(salt))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign_split(source_id, fractions: dict[str, float], salt: str) -> np.ndarray:
    """Split name per source_id given fractions for train, calibration and test (summing to 1)."""
    missing = [s for s in SPLITS if s not in fractions]
    if missing:
        raise ValueError(f"split fractions lack {', '.join(missing)}")
    total = sum(fractions[s] for s in SPLITS)
    if not np.isclose(total, 1.0) or any(fractions[s] < 0 for s in SPLITS):
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    u = hash_uniform(source_id, salt)
    edges = np.cumsum([fractions[s] for s in SPLITS])
    idx = np.searchsorted(edges, u, side="right").clip(0, len(SPLITS) - 1)
    return np.asarray(SPLITS, dtype=object)[idx]


def split_table(source_id, fractions: dict[str, float], salt: str) -> pl.DataFrame:
    """``source_id`` and its split, sorted by source_id."""
    ids = np.asarray(source_id, dtype=np.int64)
    df = pl.DataFrame(
        {
            "source_id": ids,
            "split": pl.Series(assign_split(ids, fractions, salt), dtype=pl.Enum(SPLITS)),
        }
    )
    return df.sort("source_id")
