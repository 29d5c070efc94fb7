"""The background vote: which class is most frequent in the region an object occupies (paper eq. 4-5).

Pixel convention (eq. 5 read literally): pixel (column c, row r) belongs to the box (x_min, y_min, x_max,
y_max) iff x_min <= c <= x_max and y_min <= r <= y_max, so a box covers the columns ceil(x_min) ..
floor(x_max) and the rows ceil(y_min) .. floor(y_max), both ends included, clipped to the image. An integer
box (10, 20, 20, 40) therefore has 11 x 21 pixels. A box with x_max <= x_min or y_max <= y_min (no area) or
a non-finite coordinate has no region.

Regions:
  box        the whole box (paper);
  footprint  the bottom strip of the box, y_max - footprint_height * (y_max - y_min) <= r <= y_max, where a
             standing person or a car touches the ground; at least the row floor(y_max). A footprint that
             lies below the image is empty (the ground contact is not visible).
Ties go to the lowest class index. NO_CLASS pixels never vote, nor do excluded ("thing") classes; a region
without a voting pixel has no background (class_index None).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vad_ros.types import NO_CLASS

REGIONS = ('box', 'footprint')


@dataclass(frozen=True)
class Vote:
    class_index: int | None   # None when no pixel of the region votes
    fraction: float           # share of the region's voting pixels that the winner has (0 when None)
    voting_pixels: int


NO_VOTE = Vote(None, 0.0, 0)


def pixel_range(lo: float, hi: float, size: int) -> tuple[int, int]:
    """[start, stop) of the integer positions p with lo <= p <= hi, clipped to 0 .. size - 1."""
    return max(math.ceil(lo), 0), min(math.floor(hi) + 1, size)


def region_slices(box, shape: tuple[int, int], region: str = 'box',
                  footprint_height: float = 0.2) -> tuple[slice, slice] | None:
    """(rows, cols) of the sampled region inside an image of shape (H, W), or None when it is empty."""
    if region not in REGIONS:
        raise ValueError(f"background region '{region}' is not one of {', '.join(REGIONS)}")
    height, width = shape
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
        return None
    c0, c1 = pixel_range(x0, x1, width)
    if region == 'footprint':
        top = min(math.ceil(y1 - footprint_height * (y1 - y0)), math.floor(y1))   # at least one row
        y0 = max(y0, top)
    r0, r1 = pixel_range(y0, y1, height)
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def voting_mask_lut(num_classes: int, excluded=frozenset()) -> np.ndarray:
    """A lookup table over all uint16 labels: True for the labels that vote (0 .. num_classes-1 minus
    `excluded`; never NO_CLASS or labels outside the vocabulary)."""
    lut = np.zeros(0x10000, dtype=bool)
    lut[:num_classes] = True
    for index in excluded:
        lut[int(index)] = False
    lut[int(NO_CLASS)] = False
    return lut


def count_votes(values: np.ndarray, num_classes: int, lut: np.ndarray | None = None) -> Vote:
    """The winning class among `values` (uint16 labels of a region, any shape)."""
    values = values.ravel()
    if lut is None:
        lut = voting_mask_lut(num_classes)
    values = values[lut[values]]
    if values.size == 0:
        return NO_VOTE
    counts = np.bincount(values, minlength=num_classes)
    winner = int(np.argmax(counts))   # argmax returns the first maximum: ties go to the lowest class index
    return Vote(winner, float(counts[winner]) / values.size, int(values.size))


def vote(labels: np.ndarray, box, num_classes: int, region: str = 'box', footprint_height: float = 0.2,
         lut: np.ndarray | None = None) -> Vote:
    """The most frequent voting class of `labels` ((H, W) uint16) in the object's region."""
    slices = region_slices(box, labels.shape, region, footprint_height)
    if slices is None:
        return NO_VOTE
    return count_votes(labels[slices], num_classes, lut)
