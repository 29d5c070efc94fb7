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

import cv2
import numpy as np

from vad_ros.reasoning.kernels import as_rows, integral_votes
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



class IntegralCounts:
    """Per-class pixel counts of any box of one class map in O(1): one integral image per voting class that
    the map contains. Worth it for a map that is used for many frames (a static scene map, a reused
    segmentation); votes() gives exactly vote()'s results, with one compiled call per frame
    (kernels.integral_votes)."""

    def __init__(self, labels: np.ndarray, num_classes: int, lut: np.ndarray):
        present = np.unique(labels)
        self.classes = present[lut[present]].astype(np.int64)          # ascending: ties to the lowest index
        height, width = self.shape = labels.shape
        # One row per integral-image pixel with the K classes side by side, so that a box corner is one
        # memory access for all classes (the table is megabytes: after the model ran, each access misses the
        # cache).
        self._table = np.empty(((height + 1) * (width + 1), len(self.classes)), np.int32)
        for k, c in enumerate(self.classes):
            self._table[:, k] = cv2.integral((labels == c).astype(np.uint8)).ravel()

    def _counts(self, boxes, region: str, footprint_height: float):
        """(class index (-1: no voting pixel), fraction, voting pixels) per box (N,)."""
        if region not in REGIONS:
            raise ValueError(f"background region '{region}' is not one of {', '.join(REGIONS)}")
        return integral_votes(self._table, self.classes, self.shape[0], self.shape[1], as_rows(boxes, np.float64, 4),
                              region == 'footprint', float(footprint_height))

    def votes(self, boxes, region: str, footprint_height: float) -> list[Vote]:
        index, fraction, totals = self._counts(boxes, region, footprint_height)
        return [Vote(c, f, t) if t else NO_VOTE for c, f, t in zip(index.tolist(), fraction.tolist(), totals.tolist())]

    def winners(self, boxes, region: str, footprint_height: float) -> tuple[np.ndarray, np.ndarray]:
        """votes() as arrays: (class index, -1 where no pixel votes; fraction)."""
        index, fraction, _ = self._counts(boxes, region, footprint_height)
        return index, fraction


# Integral images cost 4 bytes per pixel per voting class present: a static scene map of a few classes is cheap
# (1080p, 3 classes: 25 MB, ~30 ms once), a 150-class segmentation is not (1.2 GB, ~2 s). Above this budget a
# repeated map is voted box by box, which costs well under a millisecond per object anyway.
INTEGRAL_BUDGET_BYTES = 64 << 20
# Building them costs about as much as 30-100 frames of box-by-box voting: worth it for a map that stays (a
# static scene map), not for a segmentation reused for segmentation_interval frames. Built on this sighting.
INTEGRAL_AFTER_FRAMES = 30


def integral_bytes(labels: np.ndarray, lut: np.ndarray) -> int:
    """Memory the integral images of a map would take (one per voting class present)."""
    present = np.flatnonzero(np.bincount(labels.ravel(), minlength=len(lut))[:len(lut)])
    return int(lut[present].sum()) * (labels.shape[0] + 1) * (labels.shape[1] + 1) * 4


class BackgroundVoter:
    """vote() for all objects of a frame. A class map seen again (the same labels array: a static scene map,
    or a segmentation reused for segmentation_interval frames) for INTEGRAL_AFTER_FRAMES frames is counted with
    integral images from then on, when they fit INTEGRAL_BUDGET_BYTES; other maps box by box."""

    def __init__(self, integral_after_frames: int = INTEGRAL_AFTER_FRAMES):
        """integral_after_frames: on which sighting of the same map to build its integrals (2 for a pipeline
        whose only background is a static scene map: the map stays for good)."""
        self._after = integral_after_frames
        self._labels = None
        self._lut = None
        self._seen = 0
        self._counts: IntegralCounts | None | bool = None    # False: the map stays but is too costly

    def _integral_counts(self, labels: np.ndarray, num_classes: int, lut: np.ndarray) -> IntegralCounts | None:
        """The integral counts of a map that stays (built once), None before that or where they are not worth
        their memory."""
        self._seen += 1
        if self._counts is None and self._seen >= self._after:
            self._counts = IntegralCounts(labels, num_classes, lut) \
                if integral_bytes(labels, lut) <= INTEGRAL_BUDGET_BYTES else False
        return self._counts or None

    def _counts_for(self, labels: np.ndarray, num_classes: int, lut: np.ndarray) -> IntegralCounts | None:
        """Integral counts for this frame's map where they are worth it, None = vote box by box; a map other
        than the last one starts the count of frames it stays afresh."""
        if labels is self._labels and lut is self._lut:
            return self._integral_counts(labels, num_classes, lut)
        self._labels, self._lut, self._counts, self._seen = labels, lut, None, 1
        return None

    def votes(self, labels: np.ndarray, boxes, num_classes: int, region: str = 'box',
              footprint_height: float = 0.2, lut: np.ndarray | None = None) -> list[Vote]:
        lut = voting_mask_lut(num_classes) if lut is None else lut
        counts = self._counts_for(labels, num_classes, lut)
        if counts is not None:
            return counts.votes(boxes, region, footprint_height)
        return [vote(labels, b, num_classes, region, footprint_height, lut) for b in boxes]

    def winners(self, labels: np.ndarray, boxes, num_classes: int, region: str = 'box',
                footprint_height: float = 0.2, lut: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """votes() as arrays: (class index (N,) int64, -1 where no pixel votes; fraction (N,) float64)."""
        lut = voting_mask_lut(num_classes) if lut is None else lut
        counts = self._counts_for(labels, num_classes, lut)
        if counts is not None:
            return counts.winners(boxes, region, footprint_height)
        votes = [vote(labels, b, num_classes, region, footprint_height, lut) for b in boxes]
        return (np.array([-1 if v.class_index is None else v.class_index for v in votes], np.int64),
                np.array([v.fraction for v in votes], np.float64))
