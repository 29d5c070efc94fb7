"""The background vote: which class is most frequent in the region an object occupies (paper eq. 4-5).

Pixel convention: pixel (i, j) covers [i, i+1) x [j, j+1). A box (x_min, y_min, x_max, y_max) covers the pixel
columns floor(x_min) .. ceil(x_max) - 1 and rows floor(y_min) .. ceil(y_max) - 1 (every pixel it overlaps),
clipped to the image. Regions:
  box        the whole box (paper);
  footprint  the bottom strip of the box, of height footprint_height * box height (at least one pixel row),
             where a standing person or a car touches the ground. A footprint below the image is empty.
Ties go to the lowest class index. NO_CLASS pixels never vote; nor do excluded ("thing") classes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vad_ros.types import NO_CLASS


@dataclass(frozen=True)
class Vote:
    class_index: int | None   # None when no pixel of the region votes
    fraction: float           # share of the voting pixels that the winner has (0 when None)
    voting_pixels: int


def region_slices(box, shape: tuple[int, int], region: str = 'box',
                  footprint_height: float = 0.2) -> tuple[slice, slice] | None:
    """(rows, cols) of the sampled region inside the image, or None when it is empty."""
    height, width = shape
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
        return None
    if region == 'footprint':
        y0 = max(y0, y1 - max(footprint_height * (y1 - y0), 1.0))
    elif region != 'box':
        raise ValueError(f"background region '{region}' is not 'box' or 'footprint'")
    c0, c1 = max(math.floor(x0), 0), min(math.ceil(x1), width)
    r0, r1 = max(math.floor(y0), 0), min(math.ceil(y1), height)
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def voting_mask_lut(num_classes: int, excluded: set[int] | frozenset[int] = frozenset()) -> np.ndarray:
    """A lookup table over all uint16 labels: True for labels that vote."""
    lut = np.zeros(0x10000, dtype=bool)
    lut[:num_classes] = True
    for index in excluded:
        lut[index] = False
    lut[int(NO_CLASS)] = False
    return lut


def vote(labels: np.ndarray, box, num_classes: int, region: str = 'box', footprint_height: float = 0.2,
         lut: np.ndarray | None = None) -> Vote:
    """The most frequent voting class of `labels` (H, W uint16) in the object's region."""
    slices = region_slices(box, labels.shape, region, footprint_height)
    if slices is None:
        return Vote(None, 0.0, 0)
    values = labels[slices].ravel()
    if lut is None:
        lut = voting_mask_lut(num_classes)
    values = values[lut[values]]
    if values.size == 0:
        return Vote(None, 0.0, 0)
    counts = np.bincount(values, minlength=num_classes)
    winner = int(np.argmax(counts))   # first maximum: ties go to the lowest class index
    return Vote(winner, float(counts[winner]) / values.size, int(values.size))
