"""The two per-object loops of every frame, compiled (numba): IoU matching of detections to tracks and the
background vote with integral images.

Written with numpy, each is a few dozen small array operations for a dozen objects; they run right after
the model, whose working set has pushed the interpreter's and numpy's out of the CPU caches, so each of
those operations costs several microseconds (bench/RESULTS.md, "pipeline per stage"). Compiled, a frame is
one call each. The semantics are stated where they are used (tracker.IouTracker, background.vote); the
tests check these kernels against those definitions.

Compiled on first use and cached on disk (numba's cache: NUMBA_CACHE_DIR, next to this file, else the
user's cache directory), so only the first start on a machine pays for compilation (~2 s); warm_up() does it
before the first frame. Where no cache location is writable (a read-only image without a home), each process
compiles them once instead.

numba is optional: it costs ~135 MB of memory per process (llvmlite; bench/RESULTS.md) for ~0.2 ms a frame.
Without it the same functions run as plain Python, with the same results (tested): 0.12 ms instead of
0.006 ms a frame for 13 people, 0.9 ms instead of 0.04 ms for 100 (growing with objects x tracks).
"""
from __future__ import annotations

import math

import logging

import numpy as np

try:
    from numba import njit
except ImportError:                    # optional: the kernels run as plain Python
    njit = None

log = logging.getLogger('vad_ros.kernels')
COMPILED = njit is not None


def compiled(function):
    """The function compiled by numba (nopython, releasing the GIL), cached on disk where numba finds a
    writable place for it; the function itself without numba."""
    if njit is None:
        return function
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError as e:          # numba: "cannot cache function ...: no locator available"
        log.info(f'numba cannot cache {function.__name__} ({e}): compiling it in each process')
        return njit(nogil=True)(function)

# The tracker's track table: one row per live track, columns x0, y0, x1, y1, area, label, id, frames missed.
TRACK_COLUMNS = 8


@compiled
def greedy_iou_match(boxes, labels, tracks, iou_threshold):  # pragma: no cover - compiled
    """Row of `tracks` matched to each detection, -1 for none: the pair (detection, track) with the highest
    IoU first, ties in the order of (detection, track); a pair needs the same label, IoU > 0 and IoU >=
    iou_threshold. boxes (N, 4) float64, labels (N,) int64, tracks (T, TRACK_COLUMNS) float64."""
    n, t = boxes.shape[0], tracks.shape[0]
    keys = np.empty(n * t)
    pairs = np.empty(n * t, np.int64)
    m = 0
    for d in range(n):
        x0, y0, x1, y1 = boxes[d, 0], boxes[d, 1], boxes[d, 2], boxes[d, 3]
        area = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
        for k in range(t):
            if labels[d] != tracks[k, 5]:
                continue
            w = max(min(x1, tracks[k, 2]) - max(x0, tracks[k, 0]), 0.0)
            h = max(min(y1, tracks[k, 3]) - max(y0, tracks[k, 1]), 0.0)
            inter = w * h
            if inter > 0:
                iou = inter / (area + tracks[k, 4] - inter)
                if iou >= iou_threshold:
                    keys[m] = -iou
                    pairs[m] = d * t + k
                    m += 1
    order = np.argsort(keys[:m], kind='mergesort')        # stable: ties stay in (detection, track) order
    match = np.full(n, -1, np.int64)
    taken = np.zeros(t, np.bool_)
    for i in order:
        d, k = pairs[i] // t, pairs[i] % t
        if match[d] < 0 and not taken[k]:
            match[d] = k
            taken[k] = True
    return match


@compiled
def update_tracks(boxes, labels, tracks, iou_threshold, max_missed, next_id):  # pragma: no cover - compiled
    """One frame of the tracker: (track id per detection, the new track table, the next free id). Matched
    tracks and new detections take this frame's box (rows first, in detection order; new tracks get ids
    from next_id on); unmatched tracks that have missed fewer than max_missed frames follow, one more miss
    counted."""
    n, t = boxes.shape[0], tracks.shape[0]
    match = greedy_iou_match(boxes, labels, tracks, iou_threshold)
    ids = np.empty(n, np.int64)
    matched = np.zeros(t, np.bool_)
    for d in range(n):
        if match[d] >= 0:
            ids[d] = np.int64(tracks[match[d], 6])
            matched[match[d]] = True
        else:
            ids[d] = next_id
            next_id += 1
    kept = 0
    for k in range(t):
        if not matched[k] and tracks[k, 7] < max_missed:
            kept += 1
    out = np.empty((n + kept, tracks.shape[1]))
    for d in range(n):
        x0, y0, x1, y1 = boxes[d, 0], boxes[d, 1], boxes[d, 2], boxes[d, 3]
        out[d, 0], out[d, 1], out[d, 2], out[d, 3] = x0, y0, x1, y1
        out[d, 4] = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
        out[d, 5], out[d, 6], out[d, 7] = labels[d], ids[d], 0.0
    row = n
    for k in range(t):
        if not matched[k] and tracks[k, 7] < max_missed:
            out[row] = tracks[k]
            out[row, 7] += 1.0
            row += 1
    return ids, out, next_id


@compiled
def integral_votes(table, classes, height, width, boxes, footprint, footprint_height):  # pragma: no cover
    """Per box: (winning class (-1: no voting pixel), its share of the voting pixels (0 without), voting pixels).

    table: ((height + 1) * (width + 1), K) int32, column k = the integral image of voting class classes[k]
    (classes ascending, so that the first maximum is the lowest class index). The region of a box is
    background.region_slices' (pixels with x0 <= c <= x1, y0 <= r <= y1; with footprint, rows from
    ceil(y1 - footprint_height * (y1 - y0)), at least the row floor(y1)); empty for a box without area
    or with a non-finite coordinate."""
    n, stride = boxes.shape[0], width + 1
    winner = np.full(n, -1, np.int64)
    fraction = np.zeros(n)
    total = np.zeros(n, np.int64)
    for i in range(n):
        x0, y0, x1, y1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        if not (math.isfinite(x0) and math.isfinite(y0) and math.isfinite(x1) and math.isfinite(y1)):
            continue
        if not (x1 > x0 and y1 > y0):
            continue
        # clamped before rounding (no integer overflow); a clamped value lands outside 0 .. size either way
        c0 = math.ceil(min(max(x0, -1.0), width + 1.0))
        c1 = math.floor(min(max(x1, -1.0), width + 1.0)) + 1
        r0 = math.ceil(min(max(y0, -1.0), height + 1.0))
        r1 = math.floor(min(max(y1, -1.0), height + 1.0)) + 1
        if footprint:
            top = math.ceil(min(max(y1 - footprint_height * (y1 - y0), -1.0), height + 1.0))
            r0 = max(r0, min(top, r1 - 1))
        c0, c1 = min(max(c0, 0), width), min(max(c1, 0), width)
        r0, r1 = min(max(r0, 0), height), min(max(r1, 0), height)
        if c1 <= c0 or r1 <= r0:
            continue
        a, b, c, d = r1 * stride + c1, r0 * stride + c1, r1 * stride + c0, r0 * stride + c0
        top_k, top_count, voting = -1, -1, 0
        for k in range(table.shape[1]):
            count = np.int64(table[a, k]) - table[b, k] - table[c, k] + table[d, k]
            voting += count
            if count > top_count:
                top_k, top_count = k, count
        if voting > 0:
            winner[i], fraction[i], total[i] = classes[top_k], top_count / voting, voting
    return winner, fraction, total


def as_rows(values: np.ndarray, dtype, columns: int | None) -> np.ndarray:
    """values as a C-contiguous array of dtype, (N, columns) or (N,) for columns None, as the kernels take them;
    the pipeline's arrays already are, and are passed on without a numpy call (each costs microseconds right
    after the model)."""
    if (isinstance(values, np.ndarray) and values.dtype == dtype and values.flags.c_contiguous
            and values.ndim == (1 if columns is None else 2)):
        return values
    return np.ascontiguousarray(values, dtype=dtype).reshape((-1,) if columns is None else (-1, columns))


def warm_up() -> None:
    """Compile (or load from the cache) the kernels now, not on the first frame."""
    update_tracks(np.zeros((1, 4)), np.zeros(1, np.int64), np.zeros((1, TRACK_COLUMNS)), 0.3, 5, 1)
    integral_votes(np.zeros((4, 1), np.int32), np.zeros(1, np.int64), 1, 1, np.zeros((1, 4)), True, 0.2)
