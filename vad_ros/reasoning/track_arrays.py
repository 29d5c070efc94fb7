"""Per-track state kept as arrays with one row per track id, rows sorted by id (motion history, tripwire
anchors): finding the rows of this frame's tracks, and adding blank rows for tracks seen for the first time."""
from __future__ import annotations

import numpy as np


def track_rows(sorted_ids: np.ndarray, ids: np.ndarray, arrays: tuple[np.ndarray, ...], fills: tuple
               ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """(rows of `ids`, the new sorted ids, the arrays with a row filled with fills[i] added to arrays[i] for
    each id not seen before). Existing rows keep their content."""
    rows = np.searchsorted(sorted_ids, ids)
    known = rows < len(sorted_ids)
    known[known] = sorted_ids[rows[known]] == ids[known]
    if known.all():
        return rows, sorted_ids, arrays
    new = np.unique(ids[~known])
    merged = np.concatenate([sorted_ids, new])
    order = np.argsort(merged, kind='stable')
    grown = tuple(np.concatenate([a, np.full((len(new),) + a.shape[1:], fill, a.dtype)])[order]
                  for a, fill in zip(arrays, fills))
    sorted_ids = merged[order]
    return np.searchsorted(sorted_ids, ids), sorted_ids, grown
