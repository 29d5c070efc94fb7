"""Trackers: give detections of one object across frames the same id.

- IouTracker: the paper's light tracker (greedy IoU on the last boxes, a track survives max_missed frames).
- ByteTracker: boxes predicted by a Kalman filter, two association passes (high scores, then low scores for the
  tracks left, after ByteTrack: Zhang et al., ECCV 2022), optimal assignment weighted by how alike the colours
  of the box and of the track's last clear view are (given the frame), a lost-track buffer in seconds of image
  time, and per track what a confirmation step needs (frames matched, recent scores). On vtest.avi's labelled
  people, as the pipeline reports them: 11 / 6 / 10 id switches at 10 fps / 5 fps / half size where the
  IouTracker alone gives 23 / 32 / 20 (bench/RESULTS.md, "Alert quality with the defaults").
"""
from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np

from vad_ros.reasoning import kernels
from vad_ros.reasoning.kernels import TRACK_COLUMNS, as_rows, update_tracks

log = logging.getLogger('vad_ros.tracker')


class IouTracker:
    """Greedy matching by highest IoU, same class only: the pair with the highest IoU is matched first, ties
    in the order of the detections. A pair needs IoU >= iou_threshold (and > 0). Ids start at 1 and are
    never reused. A track keeps its last box and survives `max_missed` frames without a match; both
    parameters may be changed between frames.

    The live tracks are one (T, 8) table (box, area, label, id, frames missed; float64, exact for ids below
    2**53), matched by one compiled call per frame (vad_ros/reasoning/kernels.py)."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._tracks = np.zeros((0, TRACK_COLUMNS))
        self._next_id = 1

    def update(self, boxes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Track ids (N,) for this frame's boxes (N, 4) and labels (N,)."""
        boxes, labels = as_rows(boxes, np.float64, 4), as_rows(labels, np.int64, None)
        ids, self._tracks, self._next_id = update_tracks(boxes, labels, self._tracks, float(self.iou_threshold),
                                                         int(self.max_missed), self._next_id)
        return ids

    def clear(self) -> None:
        """Forget every track; new tracks get fresh ids (ids are never reused)."""
        next_id = self._next_id
        self.reset()
        self._next_id = next_id

    def reset(self) -> None:
        """Back to the initial state: no tracks, the next id is 1."""
        self.__init__(self.iou_threshold, self.max_missed)


class TrackInfo(NamedTuple):
    """One live track of a ByteTracker (tracker.track(id), tracker.tracks())."""
    id: int
    label: int
    hits: int                          # frames in which a detection was matched to it (the first included)
    scores: tuple[float, ...]          # the scores of its last `history` matched detections, oldest first
    first_seen: float                  # tracker time (seconds) of its first and of its last matched detection
    last_seen: float
    tracked: bool                      # matched in the latest update (False: lost, kept for lost_seconds)
    box: tuple[float, float, float, float]   # its filtered box (xyxy, pixels) at the latest update


class ByteTracker:
    """Tracking by detection with motion prediction and two association passes; ids start at 1 and are never
    reused. Per update(boxes, scores, labels, stamp):

    1. Time: `stamp` in seconds (image time, e.g. the header stamp); None = the previous time + 1 / fps (the
       first frame without a stamp is at 0). A stamp earlier than the previous one (a bag replayed from the
       start, a clock reset) clears the tracks (ids go on counting); an equal stamp predicts no motion.
    2. Prediction: every track's box (centre x, centre y, width, height), each coordinate a constant-velocity
       Kalman filter in pixels and pixels per second, is predicted to this time. Noise is relative to the box
       (position and width noise x the width, y and height x the height): `measurement_noise` (a detection's
       error, fraction of the side), `motion_noise` (random acceleration: velocity std grows by motion_noise
       sides per second per sqrt(second)), `velocity_noise` (a new track's velocity std, sides per second).
       A lost track keeps its velocity; its size stops changing.
    3. Gate: a pair (detection, track) of the same label is a candidate when the IoU of the detection and the
       predicted box, both widened on every side by `gate_sigmas` x the track's predicted position std (x and
       y), reaches the pass's threshold. The margin grows with the time since the track was last seen and
       with a young track's unknown velocity, so fewer frames per second (longer steps) still match.
    4. First pass: detections with score >= high_score (the pipeline's tracking.high_score, 0.5 as
       ByteTrack's, or its score_threshold where higher) against every live track (tracked or lost), IoU >=
       iou_first. A first pass from 0.3 let NanoDet's 0.3-0.5 boxes (duplicates, a box around two people)
       take people's tracks at crossings (bench/RESULTS.md).
    5. Second pass: detections with low_score <= score < high_score against the tracks matched at the
       previous update and not in 4, IoU >= iou_second (stricter: such a detection only continues a track
       that is being followed, it never brings a lost one back; ByteTrack's idea, Zhang et al., ECCV 2022,
       for people partly hidden in groups).
    6. Assignment in each pass: the largest total affinity (`assignment` 'optimal', Hungarian per connected
       group of candidate pairs) or the highest affinity first ('greedy'). Affinity = the gate's IoU, times
       exp(-colour distance / appearance_scale) where the frame was given (update(..., image)) and both the
       detection and the track have colours (kernels.box_appearance: the mean brightness and two
       colour-opponent channels of 6 horizontal bands of the box's central half, as fractions of the box, so
       the same at any pixel size; distance = mean absolute difference): where motion cannot tell two people
       apart (they meet, turn, one hides the other), the one dressed like the track wins. The colours only
       rank candidates; which pairs are candidates is the IoU's decision (appearance_gate > 0 would also
       refuse pairs farther apart in colour; off by default, it lost people whose look changes).
       A track's colours are those of its latest detection from the first pass that no other first-pass
       detection overlaps by more than appearance_overlap of its area (a clear view, not a mix with a
       neighbour), averaged over appearance_seconds of image time (0: the latest clear view).
    7. Matched tracks are corrected with their detection (hits + 1, score kept in the history). Unmatched
       detections with score >= new_track_score (high_score + 0.1 unless new_score is set: ByteTrack's rule)
       start tracks (new ids, in detection order); every other unmatched detection gets id -1 (also those
       between high_score and new_track_score: they continue tracks but do not start one). A track not
       matched this time is lost: it is dropped once more than lost_seconds have passed since its last match
       (it can no longer match then), or at once if it was matched in one frame only (a one-frame track is
       more likely a false detection than an object; ByteTrack's rule).

    Nothing depends on pixel sizes or on the frame rate: scaled images give the same ids (IoU, noise and
    colour samples relative to the box), and the buffer, velocities and process noise are in seconds,
    integrated over the time between frames (test/reasoning/test_tracker.py; measured on vtest.avi at 10 and 5
    fps and half size: bench/RESULTS.md, "Tracking ids" and "Alert quality with the defaults").

    Parameters may be changed between updates (history only at construction). The state is a (T, 27 +
    history) table sorted by id, updated by one compiled call per frame (kernels.motion_update; plain Python
    with the same results without numba)."""

    def __init__(self, high_score: float = 0.5, low_score: float = 0.1, iou_first: float = 0.2,
                 iou_second: float = 0.5, lost_seconds: float = 1.0, fps: float = 10.0, history: int = 30,
                 measurement_noise: float = 0.2, motion_noise: float = 2.0, velocity_noise: float = 4.0,
                 gate_sigmas: float = 1.0, new_score: float | None = None, assignment: str = 'optimal',
                 appearance_scale: float = 0.25, appearance_gate: float = 0.0, appearance_seconds: float = 0.0,
                 appearance_overlap: float = 0.0):
        """high_score: the pipeline's score_threshold (first pass); low_score: the floor of the second pass;
        iou_first / iou_second: the gates of the two passes; lost_seconds: how long a lost track can come back;
        fps: the frame rate assumed for updates without a stamp; history: scores kept per track; the noise
        parameters, gate_sigmas, new_score, assignment and the appearance_* parameters (appearance_scale 0 =
        motion only): see the class doc. Defaults and the measurements behind them: bench/RESULTS.md,
        "Tracking ids" and "Alert quality with the defaults"."""
        if assignment not in ('optimal', 'greedy'):
            raise ValueError(f"assignment must be 'optimal' or 'greedy', not {assignment!r}")
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f'fps must be a positive number, not {fps!r}')
        if int(history) < 0:
            raise ValueError(f'history must be >= 0, not {history!r}')
        self.high_score, self.low_score = high_score, low_score
        self.iou_first, self.iou_second = iou_first, iou_second
        self.lost_seconds, self.fps = lost_seconds, fps
        self.measurement_noise, self.motion_noise, self.velocity_noise = \
            measurement_noise, motion_noise, velocity_noise
        self.gate_sigmas = gate_sigmas
        self.new_score = new_score
        self.assignment = assignment
        self.appearance_gate, self.appearance_scale = appearance_gate, appearance_scale
        self.appearance_seconds, self.appearance_overlap = appearance_seconds, appearance_overlap
        self.history = int(history)
        self._tracks = np.zeros((0, kernels.MOTION_COLUMNS + self.history))
        self._next_id = 1
        self._time: float | None = None

    def update(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
               stamp: float | None = None, image: np.ndarray | None = None) -> np.ndarray:
        """Track ids (N,) int64 for this frame's detections: boxes (N, 4) xyxy pixels, scores (N,), labels (N,)
        class indices; pass every detection down to low_score (not only those above the score threshold).
        An id >= 1 for each detection matched to a track or starting one; -1 for a detection that does
        neither (below new_track_score and matched to no track; any below low_score). stamp: seconds of image
        time, None = 1 / fps after the previous update (see the class doc). image: the frame the boxes are in,
        (H, W, 3) uint8 BGR, for the colour cue; None = motion only."""
        boxes = as_rows(boxes, np.float64, 4)
        scores, labels = as_rows(scores, np.float64, None), as_rows(labels, np.int64, None)
        if not len(boxes) == len(scores) == len(labels):
            raise ValueError(f'ByteTracker.update: {len(boxes)} boxes, {len(scores)} scores and {len(labels)} '
                             f'labels do not describe the same detections')
        previous = self._time
        if stamp is None:
            now = 0.0 if previous is None else previous + 1.0 / self.fps
        else:
            now = float(stamp)
            if not math.isfinite(now):
                raise ValueError(f'ByteTracker.update: stamp {stamp!r} is not a finite number of seconds')
        if previous is not None and now < previous - kernels.TIME_EPSILON:
            log.warning(f'image time went back from {previous:.3f} s to {now:.3f} s: tracks cleared')
            self.clear()
            previous = None
        dt = 0.0 if previous is None else max(now - previous, 0.0)
        self._time = now
        if image is not None and (self.appearance_gate > 0 or self.appearance_scale > 0):
            if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
                    and image.dtype == np.uint8):
                raise ValueError(f'ByteTracker.update: image must be an (H, W, 3) uint8 array, not '
                                 f'{getattr(image, "dtype", type(image).__name__)} {getattr(image, "shape", "")}')
            feats = kernels.box_appearance(image, boxes)
        else:
            feats = np.full((len(boxes), kernels.APPEARANCE), np.nan)
        ids, self._tracks, self._next_id = kernels.motion_update(
            boxes, scores, labels, self._tracks, dt, now, float(self.high_score), float(self.low_score),
            float(self.iou_first), float(self.iou_second),
            float(self.new_track_score), float(self.lost_seconds),
            float(self.measurement_noise), float(self.motion_noise), float(self.velocity_noise),
            float(self.gate_sigmas), self.assignment == 'optimal', self._next_id, feats,
            float(self.appearance_gate), float(self.appearance_scale), float(self.appearance_seconds),
            float(self.appearance_overlap))
        return ids

    # ------------------------------------------------------------ what confirmation needs
    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id in the table (sorted by id), -1 where the id has no live track."""
        ids = as_rows(ids, np.int64, None)
        live = self._tracks[:, kernels.M_ID]
        rows = np.searchsorted(live, ids)
        found = rows < len(live)
        found[found] = live[rows[found]] == ids[found]
        return np.where(found, rows, -1)

    def hits(self, ids: np.ndarray) -> np.ndarray:
        """(N,) int64: frames in which each id's track was matched (the frame that started it included);
        0 for -1 and for ids without a live track."""
        rows = self._rows(ids)
        out = np.zeros(len(rows), np.int64)
        out[rows >= 0] = self._tracks[rows[rows >= 0], kernels.M_HITS]
        return out

    def track(self, track_id: int) -> TrackInfo | None:
        """The live track with this id (tracked or lost), None if there is none."""
        row = int(self._rows(np.array([track_id], np.int64))[0])
        return None if row < 0 else self._info(self._tracks[row])

    def tracks(self) -> list[TrackInfo]:
        """Every live track (tracked and lost), by id."""
        return [self._info(row) for row in self._tracks]

    @staticmethod
    def _info(row: np.ndarray) -> TrackInfo:
        cx, cy, w, h = row[kernels.M_MEAN:kernels.M_MEAN + 4].tolist()
        count = int(row[kernels.M_NSCORES])
        return TrackInfo(int(row[kernels.M_ID]), int(row[kernels.M_LABEL]), int(row[kernels.M_HITS]),
                         tuple(row[kernels.M_SCORES:kernels.M_SCORES + count].tolist()),
                         float(row[kernels.M_FIRST]), float(row[kernels.M_LAST]), bool(row[kernels.M_TRACKED]),
                         (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))

    @property
    def new_track_score(self) -> float:
        """The score a detection needs to start a track: new_score, None = high_score + 0.1; never below
        high_score."""
        wanted = self.high_score + 0.1 if self.new_score is None else self.new_score
        return max(float(wanted), float(self.high_score))

    @property
    def time(self) -> float | None:
        """The tracker's time of the latest update (seconds), None before the first."""
        return self._time

    def clear(self) -> None:
        """Forget every track and the time; new tracks get fresh ids (ids are never reused)."""
        self._tracks = np.zeros((0, kernels.MOTION_COLUMNS + self.history))
        self._time = None

    def reset(self) -> None:
        """Back to the initial state: no tracks, no time, the next id is 1."""
        self.clear()
        self._next_id = 1
