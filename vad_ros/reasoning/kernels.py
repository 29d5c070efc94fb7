"""The per-object loops of every frame, compiled (numba): IoU matching of detections to tracks (the IoU tracker's
greedy match; the motion tracker's Kalman prediction, gated candidate pairs, Hungarian assignment per group of
candidates and its update) and the background vote with integral images.

Written with numpy, each is a few dozen small array operations for a dozen objects; they run right after
the model, whose working set has pushed the interpreter's and numpy's out of the CPU caches, so each of
those operations costs several microseconds (bench/RESULTS.md, "pipeline per stage"). Compiled, a frame is
one call each. The semantics are stated where they are used (tracker.IouTracker, tracker.ByteTracker,
background.vote); the tests check these kernels against those definitions.

Compiled on first use and cached on disk (numba's cache: NUMBA_CACHE_DIR, next to this file, else the
user's cache directory), so only the first start on a machine pays for compilation (~2 s; 8 s with the
motion tracker's kernels on 2 shared cores; 0.5 s from the cache); warm_up() does it before the first frame.
Where no cache location is writable (a read-only image without a home), each process compiles them once
instead.

numba is optional: it costs ~135 MB of memory per process (llvmlite; bench/RESULTS.md) for ~0.2 ms a frame.
Without it the same functions run as plain Python, with the same results (tested): 0.12 ms instead of
0.006 ms a frame for 13 people, 0.9 ms instead of 0.04 ms for 100 (growing with objects x tracks). The motion
tracker (motion_update) takes 0.06 ms a frame for 100 moving people compiled, 17 ms as plain Python; 0.008 ms
and 0.46 ms on vtest.avi's ~85 NanoDet boxes a frame (bench/RESULTS.md, "Tracking ids"); sampling and
comparing the boxes' colours (box_appearance) brings it to ~0.11 ms for 100 people (50 ms plain). Compiled and plain
Python give the same ids; the filter states agree to rounding (the compiler may fuse a multiply and an add).
"""
from __future__ import annotations

import math

import logging

import numpy as np

from vad_ros.jit import COMPILED, compiled  # noqa: F401  (COMPILED: re-exported for the callers)

log = logging.getLogger('vad_ros.kernels')


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
    table = np.zeros((0, MOTION_COLUMNS + 1))
    for optimal in (True, False):
        box = np.array([[0.0, 0.0, 1.0, 2.0]])
        _, table, _ = motion_update(box, np.ones(1), np.zeros(1, np.int64), table, 0.1, 0.0, 0.4, 0.1, 0.2,
                                    0.5, 0.5, 1.0, 0.2, 2.0, 4.0, 1.0, optimal, 1,
                                    box_appearance(np.zeros((2, 2, 3), np.uint8), box), 0.1, 0.5, 1.0, 0.2)


# ---------------------------------------------------------------------------------------------------------------
# The motion tracker (tracker.ByteTracker): one row per live track, float64.
# Box state: centre x, centre y, width, height and their velocities (per second), each coordinate its own
# constant-velocity Kalman filter (position, velocity; covariance pp, pv, vv). Then the label, id, frames
# matched, first and last stamp matched (seconds), whether matched at the previous update, the number of
# scores kept, the appearance (set or not, the colours) and the scores (oldest first); the table has
# MOTION_COLUMNS + history columns.
M_MEAN = 0            # cx, cy, w, h
M_VEL = 4             # vx, vy, vw, vh (per second)
M_COV = 8             # (pp, pv, vv) for cx, cy, w, h: columns 8..19
M_LABEL = 20
M_ID = 21
M_HITS = 22
M_FIRST = 23
M_LAST = 24
M_TRACKED = 25
M_NSCORES = 26
M_APPEARANCE_SET = 27  # 1: the appearance columns hold the track's colours, 0: not seen unoccluded yet
M_APPEARANCE = 28     # APPEARANCE columns: the track's colour layout (box_appearance), averaged over time
APPEARANCE_BANDS = 6  # horizontal bands of a box's central strip
APPEARANCE = 3 * APPEARANCE_BANDS
M_SCORES = M_APPEARANCE + APPEARANCE
MOTION_COLUMNS = M_SCORES
TIME_EPSILON = 1e-6   # seconds: stamps closer than this are equal (sums of 1 / fps are not exact)


@compiled
def hungarian(cost):  # pragma: no cover - compiled
    """Minimum-cost assignment of the rows of cost (R, C), R <= C, to distinct columns: the column of each row.
    Shortest augmenting paths with row and column potentials (Kuhn-Munkres in O(R^2 C)); exact for finite
    costs. Ties go to the lowest column index met first."""
    rows, cols = cost.shape
    inf = np.inf
    u = np.zeros(rows + 1)
    v = np.zeros(cols + 1)
    owner = np.zeros(cols + 1, np.int64)      # 1-based row owning each column; column 0 is the virtual start
    back = np.zeros(cols + 1, np.int64)
    for row in range(1, rows + 1):
        owner[0] = row
        col = 0
        slack = np.full(cols + 1, inf)
        done = np.zeros(cols + 1, np.bool_)
        while True:
            done[col] = True
            r = owner[col]
            delta = inf
            nxt = 0
            for j in range(1, cols + 1):
                if not done[j]:
                    reduced = cost[r - 1, j - 1] - u[r] - v[j]
                    if reduced < slack[j]:
                        slack[j] = reduced
                        back[j] = col
                    if slack[j] < delta:
                        delta = slack[j]
                        nxt = j
            for j in range(cols + 1):
                if done[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    slack[j] -= delta
            col = nxt
            if owner[col] == 0:
                break
        while col != 0:                       # flip the path's edges back to the start
            prev = back[col]
            owner[col] = owner[prev]
            col = prev
    result = np.full(rows, -1, np.int64)
    for j in range(1, cols + 1):
        if owner[j] > 0:
            result[owner[j] - 1] = j - 1
    return result


@compiled
def _root(parent, i):  # pragma: no cover - compiled
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@compiled
def assign_pairs(pair_d, pair_k, pair_iou, n_det, n_trk, optimal):  # pragma: no cover - compiled
    """Track row for each detection (-1: none) from candidate pairs (detection, track row, IoU > 0).
    optimal: the largest total IoU (each connected group of candidates solved by hungarian(); a detection left
    unmatched adds 0); else greedy, the highest IoU first, ties in pair order."""
    match = np.full(n_det, -1, np.int64)
    m = pair_d.shape[0]
    if not optimal:
        order = np.argsort(-pair_iou, kind='mergesort')
        taken = np.zeros(n_trk, np.bool_)
        for i in order:
            d, k = pair_d[i], pair_k[i]
            if match[d] < 0 and not taken[k]:
                match[d] = k
                taken[k] = True
        return match
    parent = np.arange(n_det + n_trk)         # detections 0..n_det-1, tracks after them
    for i in range(m):
        a, b = _root(parent, pair_d[i]), _root(parent, n_det + pair_k[i])
        if a != b:
            parent[max(a, b)] = min(a, b)
    group = np.empty(m, np.int64)
    size = np.zeros(n_det + n_trk, np.int64)
    for i in range(m):
        group[i] = _root(parent, pair_d[i])
        size[group[i]] += 1
    local = np.full(n_det + n_trk, -1, np.int64)   # index of a detection / track inside its group
    for g in range(n_det + n_trk):
        if size[g] == 0:
            continue
        if size[g] == 1:                      # one candidate pair: no choice to make
            for i in range(m):
                if group[i] == g:
                    match[pair_d[i]] = pair_k[i]
            continue
        dets = np.empty(size[g], np.int64)
        trks = np.empty(size[g], np.int64)
        nd = 0
        nt = 0
        for i in range(m):
            if group[i] == g:
                if local[pair_d[i]] < 0:
                    local[pair_d[i]] = nd
                    dets[nd] = pair_d[i]
                    nd += 1
                if local[n_det + pair_k[i]] < 0:
                    local[n_det + pair_k[i]] = nt
                    trks[nt] = pair_k[i]
                    nt += 1
        flip = nd > nt                        # hungarian() wants rows <= columns
        cost = np.ones((nt, nd)) if flip else np.ones((nd, nt))
        for i in range(m):
            if group[i] == g:
                a, b = local[pair_d[i]], local[n_det + pair_k[i]]
                if flip:
                    cost[b, a] = 1.0 - pair_iou[i]
                else:
                    cost[a, b] = 1.0 - pair_iou[i]
        cols = hungarian(cost)
        for r in range(cols.shape[0]):
            c = cols[r]
            a, b = (c, r) if flip else (r, c)
            if cost[r, c] < 1.0:              # a candidate pair, not a filler
                match[dets[a]] = trks[b]
    return match


APPEARANCE_SAMPLES = 4          # samples per band, across and down (16 pixels a band)
CHROMA_WEIGHT = 3.0             # the colour-opponent channels count this many times the brightness


@compiled
def box_appearance(image, boxes):  # pragma: no cover - compiled
    """(N, APPEARANCE) colour layout of each box, NaN rows for boxes without one: the central half of the box
    (x from 25 % to 75 % of its width, y from 5 % to 95 % of its height: the person, not the background
    beside it) cut into APPEARANCE_BANDS horizontal bands, each band's mean brightness (R + G + B) / 3 and two
    colour-opponent channels, CHROMA_WEIGHT x (R - G) / 2 and CHROMA_WEIGHT x (R + G - 2 B) / 4, all / 255;
    each mean over APPEARANCE_SAMPLES x APPEARANCE_SAMPLES pixels spread over the band (nearest pixel). Sample
    positions are fractions of the box, so a scaled image gives about the same values. A box with a band that
    has no sample inside the image (or without area, or not finite) gets NaN. image: (H, W, 3) uint8 BGR."""
    n = boxes.shape[0]
    height, width = image.shape[0], image.shape[1]
    out = np.full((n, APPEARANCE), np.nan)
    for d in range(n):
        x0, y0, x1, y1 = boxes[d, 0], boxes[d, 1], boxes[d, 2], boxes[d, 3]
        if not (math.isfinite(x0) and math.isfinite(y0) and math.isfinite(x1) and math.isfinite(y1)):
            continue
        w, h = x1 - x0, y1 - y0
        if not (w > 0.0 and h > 0.0):
            continue
        ok = True
        for band in range(APPEARANCE_BANDS):
            bright = 0.0
            red_green = 0.0
            yellow_blue = 0.0
            count = 0
            for i in range(APPEARANCE_SAMPLES):
                y = y0 + h * (0.05 + 0.9 * (band + (i + 0.5) / APPEARANCE_SAMPLES) / APPEARANCE_BANDS)
                r = int(math.floor(y))
                if r < 0 or r >= height:
                    continue
                for j in range(APPEARANCE_SAMPLES):
                    x = x0 + w * (0.25 + 0.5 * (j + 0.5) / APPEARANCE_SAMPLES)
                    c = int(math.floor(x))
                    if c < 0 or c >= width:
                        continue
                    b_, g_, r_ = float(image[r, c, 0]), float(image[r, c, 1]), float(image[r, c, 2])
                    bright += (r_ + g_ + b_) / 3.0
                    red_green += (r_ - g_) / 2.0
                    yellow_blue += (r_ + g_ - 2.0 * b_) / 4.0
                    count += 1
            if count == 0:
                ok = False
                break
            out[d, 3 * band] = bright / (255.0 * count)
            out[d, 3 * band + 1] = CHROMA_WEIGHT * red_green / (255.0 * count)
            out[d, 3 * band + 2] = CHROMA_WEIGHT * yellow_blue / (255.0 * count)
        if not ok:
            out[d, :] = np.nan
    return out


@compiled
def appearance_distance(feats, d, row):  # pragma: no cover - compiled
    """Mean absolute difference of detection d's colours and a track row's; -1 where either has none."""
    if row[M_APPEARANCE_SET] <= 0.0 or not math.isfinite(feats[d, 0]):
        return -1.0
    total = 0.0
    for i in range(APPEARANCE):
        total += abs(feats[d, i] - row[M_APPEARANCE + i])
    return total / APPEARANCE


@compiled
def candidate_pairs(boxes, labels, use_det, tracks, pred, use_trk, iou_threshold, feats, appearance_gate,
                    appearance_scale):  # pragma: no cover - compiled
    """(detection, track row, affinity) of every pair with use_det and use_trk set, the same label, IoU > 0,
    IoU >= iou_threshold and, where both have colours (feats (N, APPEARANCE), the track's columns) and
    appearance_gate > 0, a colour distance (appearance_distance) at most appearance_gate. pred (T, 6): the
    tracks' predicted boxes xyxy and a margin in x and y; the IoU is that of the detection and the predicted
    box, both widened by the track's margins on every side. Affinity = IoU x exp(-distance / appearance_scale)
    where both have colours and appearance_scale > 0, else the IoU (it only ranks the candidates: which pairs
    are candidates is decided by the IoU alone, unless appearance_gate is set)."""
    n, t = boxes.shape[0], tracks.shape[0]
    pair_d = np.empty(n * t, np.int64)
    pair_k = np.empty(n * t, np.int64)
    pair_iou = np.empty(n * t)
    m = 0
    for d in range(n):
        if not use_det[d]:
            continue
        x0, y0, x1, y1 = boxes[d, 0], boxes[d, 1], boxes[d, 2], boxes[d, 3]
        if not (x1 > x0 and y1 > y0):
            continue
        for k in range(t):
            if not use_trk[k] or labels[d] != tracks[k, M_LABEL]:
                continue
            mx, my = pred[k, 4], pred[k, 5]
            w = min(x1, pred[k, 2]) - max(x0, pred[k, 0]) + 2.0 * mx
            if w <= 0.0:
                continue
            h = min(y1, pred[k, 3]) - max(y0, pred[k, 1]) + 2.0 * my
            if h <= 0.0:
                continue
            inter = w * h
            area = (x1 - x0 + 2.0 * mx) * (y1 - y0 + 2.0 * my)
            iou = inter / (area + (pred[k, 2] - pred[k, 0] + 2.0 * mx) * (pred[k, 3] - pred[k, 1] + 2.0 * my) - inter)
            if iou >= iou_threshold:
                if appearance_gate > 0.0 or appearance_scale > 0.0:
                    distance = appearance_distance(feats, d, tracks[k])
                    if appearance_gate > 0.0 and distance > appearance_gate:
                        continue
                    if appearance_scale > 0.0 and distance > 0.0:
                        iou *= math.exp(-distance / appearance_scale)
                pair_d[m], pair_k[m], pair_iou[m] = d, k, iou
                m += 1
    return pair_d[:m], pair_k[:m], pair_iou[:m]


@compiled
def _scale(row, c):  # pragma: no cover - compiled
    """The box side that sets coordinate c's noise: the width for x and w, the height for y and h."""
    return max(row[M_MEAN + 2 + (c % 2)], 1e-9)


@compiled
def _kalman_update(row, c, z, measurement_noise):  # pragma: no cover - compiled
    s = _scale(row, c)
    r = (measurement_noise * s) ** 2
    p, v = M_MEAN + c, M_VEL + c
    pp, pv, vv = M_COV + 3 * c, M_COV + 3 * c + 1, M_COV + 3 * c + 2
    total = row[pp] + r
    gain_p, gain_v = row[pp] / total, row[pv] / total
    error = z - row[p]
    row[p] += gain_p * error
    row[v] += gain_v * error
    new_vv = row[vv] - gain_v * row[pv]
    row[pv] = row[pv] * (1.0 - gain_p)
    row[pp] = row[pp] * r / total
    row[vv] = new_vv


@compiled
def _unoccluded(boxes, high, d, overlap):  # pragma: no cover - compiled
    """Whether no other detection in `high` covers more than `overlap` of detection d's box (its colours are
    then the object's own, not a mix with someone in front or behind)."""
    x0, y0, x1, y1 = boxes[d, 0], boxes[d, 1], boxes[d, 2], boxes[d, 3]
    area = (x1 - x0) * (y1 - y0)
    if not area > 0.0:
        return False
    for e in range(boxes.shape[0]):
        if e == d or not high[e]:
            continue
        w = min(x1, boxes[e, 2]) - max(x0, boxes[e, 0])
        h = min(y1, boxes[e, 3]) - max(y0, boxes[e, 1])
        if w > 0.0 and h > 0.0 and w * h > overlap * area:
            return False
    return True


@compiled
def motion_update(boxes, scores, labels, tracks, dt, now, high_score, low_score, iou_first, iou_second,
                  new_score, lost_seconds, measurement_noise, motion_noise, velocity_noise, gate_sigmas,
                  optimal, next_id, feats, appearance_gate, appearance_scale, appearance_seconds,
                  appearance_overlap):  # pragma: no cover - compiled
    """One frame of tracker.ByteTracker (its docstring states the rule): (id per detection, -1 for none; the
    new track table; the next free id). dt: seconds since the previous update (>= 0), now: this frame's time;
    feats: the detections' colours (box_appearance; NaN rows: none)."""
    n, t = boxes.shape[0], tracks.shape[0]
    history = tracks.shape[1] - MOTION_COLUMNS
    state = tracks.copy()
    pred = np.empty((t, 6))
    for k in range(t):                        # predict every track to this frame
        row = state[k]
        for c in range(4):
            s = _scale(row, c)
            q = (motion_noise * s) ** 2
            pp, pv, vv = M_COV + 3 * c, M_COV + 3 * c + 1, M_COV + 3 * c + 2
            row[M_MEAN + c] += row[M_VEL + c] * dt
            row[pp] += dt * (2.0 * row[pv] + dt * (row[vv] + dt * q / 3.0))
            row[pv] += dt * (row[vv] + dt * q / 2.0)
            row[vv] += dt * q
        half_w, half_h = 0.5 * max(row[M_MEAN + 2], 0.0), 0.5 * max(row[M_MEAN + 3], 0.0)
        pred[k, 0], pred[k, 1] = row[M_MEAN] - half_w, row[M_MEAN + 1] - half_h
        pred[k, 2], pred[k, 3] = row[M_MEAN] + half_w, row[M_MEAN + 1] + half_h
        pred[k, 4] = gate_sigmas * math.sqrt(row[M_COV])
        pred[k, 5] = gate_sigmas * math.sqrt(row[M_COV + 3])
    high = np.zeros(n, np.bool_)
    low = np.zeros(n, np.bool_)
    for d in range(n):
        high[d] = scores[d] >= high_score
        low[d] = not high[d] and scores[d] >= low_score
    alive = np.empty(t, np.bool_)             # last matched at most lost_seconds ago
    for k in range(t):
        alive[k] = now - state[k, M_LAST] <= lost_seconds + TIME_EPSILON
    pair_d, pair_k, pair_iou = candidate_pairs(boxes, labels, high, state, pred, alive, iou_first, feats,
                                               appearance_gate, appearance_scale)
    match = assign_pairs(pair_d, pair_k, pair_iou, n, t, optimal)
    free = np.zeros(t, np.bool_)              # tracks matched at the previous update, not matched yet
    for k in range(t):
        free[k] = alive[k] and state[k, M_TRACKED] > 0.0
    for d in range(n):
        if match[d] >= 0:
            free[match[d]] = False
    pair_d, pair_k, pair_iou = candidate_pairs(boxes, labels, low, state, pred, free, iou_second, feats,
                                               appearance_gate, appearance_scale)
    second = assign_pairs(pair_d, pair_k, pair_iou, n, t, optimal)
    matched = np.full(t, -1, np.int64)
    for d in range(n):
        if low[d]:
            match[d] = second[d]
        if match[d] >= 0:
            matched[match[d]] = d
    ids = np.full(n, -1, np.int64)
    kept = 0
    for k in range(t):
        row = state[k]
        d = matched[k]
        if d >= 0:
            ids[d] = np.int64(row[M_ID])
            z0 = 0.5 * (boxes[d, 0] + boxes[d, 2])
            z1 = 0.5 * (boxes[d, 1] + boxes[d, 3])
            z2 = boxes[d, 2] - boxes[d, 0]
            z3 = boxes[d, 3] - boxes[d, 1]
            _kalman_update(row, 0, z0, measurement_noise)
            _kalman_update(row, 1, z1, measurement_noise)
            _kalman_update(row, 2, z2, measurement_noise)
            _kalman_update(row, 3, z3, measurement_noise)
            if high[d] and _unoccluded(boxes, high, d, appearance_overlap) and math.isfinite(feats[d, 0]):
                # the colours of a clear view: averaged over appearance_seconds of image time
                keep = 0.0
                if row[M_APPEARANCE_SET] > 0.0 and appearance_seconds > 0.0:
                    keep = math.exp(-(now - row[M_LAST]) / appearance_seconds)
                for i in range(APPEARANCE):
                    row[M_APPEARANCE + i] = keep * row[M_APPEARANCE + i] + (1.0 - keep) * feats[d, i]
                row[M_APPEARANCE_SET] = 1.0
            row[M_HITS] += 1.0
            row[M_LAST] = now
            row[M_TRACKED] = 1.0
            count = int(row[M_NSCORES])
            if count == history and history > 0:
                for i in range(history - 1):
                    row[M_SCORES + i] = row[M_SCORES + i + 1]
                count -= 1
            if history > 0:
                row[M_SCORES + count] = scores[d]
                row[M_NSCORES] = count + 1
            kept += 1
        else:
            if row[M_TRACKED] > 0.0:          # just lost: its size stops changing
                row[M_VEL + 2] = 0.0
                row[M_VEL + 3] = 0.0
            row[M_TRACKED] = 0.0
            if alive[k] and row[M_HITS] > 1.0:
                kept += 1
            else:
                row[M_HITS] = -1.0            # dropped: lost too long, or seen once and missed next
    new = 0
    for d in range(n):
        if high[d] and match[d] < 0 and scores[d] >= new_score:
            new += 1
    out = np.empty((kept + new, tracks.shape[1]))
    i = 0
    for k in range(t):
        if state[k, M_HITS] > 0.0:
            out[i] = state[k]
            i += 1
    for d in range(n):
        if high[d] and match[d] < 0 and scores[d] >= new_score:
            row = out[i]
            row[:] = 0.0
            row[M_MEAN] = 0.5 * (boxes[d, 0] + boxes[d, 2])
            row[M_MEAN + 1] = 0.5 * (boxes[d, 1] + boxes[d, 3])
            row[M_MEAN + 2] = boxes[d, 2] - boxes[d, 0]
            row[M_MEAN + 3] = boxes[d, 3] - boxes[d, 1]
            for c in range(4):
                s = _scale(row, c)
                row[M_COV + 3 * c] = (measurement_noise * s) ** 2
                row[M_COV + 3 * c + 2] = (velocity_noise * s) ** 2
            if _unoccluded(boxes, high, d, appearance_overlap) and math.isfinite(feats[d, 0]):
                for c in range(APPEARANCE):
                    row[M_APPEARANCE + c] = feats[d, c]
                row[M_APPEARANCE_SET] = 1.0
            row[M_LABEL] = labels[d]
            row[M_ID] = next_id
            row[M_HITS] = 1.0
            row[M_FIRST] = now
            row[M_LAST] = now
            row[M_TRACKED] = 1.0
            if history > 0:
                row[M_SCORES] = scores[d]
                row[M_NSCORES] = 1.0
            ids[d] = next_id
            next_id += 1
            i += 1
    return ids, out, next_id
