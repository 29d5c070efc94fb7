"""ByteTracker next to the ByteTrack that PyPI offers: the `trackers` package (Roboflow, Apache-2.0; supervision's
own ByteTrack moved there, supervision 0.31 has none), on the same inputs as bench_tracker.py (speed) and
bench_tracking_ids.py (id switches against the labelled tracks).

The library is not a dependency of vad_ros: install it into a folder of its own and name it here, so that the
project's environment stays untouched (its numpy / OpenCV are appended after ours on the path):

    pip install --target /tmp/trackers_libs trackers==2.6.1 lap==0.5.13
    python bench/compare_trackers.py --libs /tmp/trackers_libs

trackers.ByteTrackTracker is configured as ours: high_conf_det_threshold 0.4 (the demo's score_threshold),
track_activation_threshold 0.5 (our new_score), lost_track_buffer 30 (1 s; it counts 30-fps frames), frame_rate
10 (5 at every second frame), minimum_consecutive_frames 1 (ids from the first frame, as ours), minimum IoU 0.1
(its default); it ignores the class (every box here is filtered to one class first: person).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))

from bench_tracker import WARM_UP, synthetic, vtest  # noqa: E402
from bench_tracking_ids import PERSON, labelled_tracks, load_detections, score, totals  # noqa: E402
from vad_ros.boxes import iou_matrix  # noqa: E402
from vad_ros.reasoning import kernels  # noqa: E402
from vad_ros.reasoning.tracker import ByteTracker  # noqa: E402


class LibraryByteTrack:
    """trackers.ByteTrackTracker behind ByteTracker's update(boxes, scores, labels, stamp) -> ids (-1: none)."""

    def __init__(self, fps: float):
        import supervision as sv
        from trackers import ByteTrackTracker
        self.sv = sv
        self.tracker = ByteTrackTracker(lost_track_buffer=30, frame_rate=fps, track_activation_threshold=0.5,
                                        minimum_consecutive_frames=1, high_conf_det_threshold=0.4,
                                        minimum_iou_threshold=0.1)

    def update(self, boxes, scores, labels, stamp=None):
        found = self.sv.Detections(xyxy=np.asarray(boxes, np.float32), confidence=np.asarray(scores, np.float32),
                                   class_id=np.asarray(labels, int))
        start = time.perf_counter()
        out = self.tracker.update(found)
        self.seconds = time.perf_counter() - start      # the library's call alone (not this adapter)
        ids = np.full(len(boxes), -1, np.int64)
        if len(out) and len(boxes):
            same = iou_matrix(np.asarray(boxes, float), out.xyxy.astype(float)) > 0.999   # its boxes are ours
            for d, k in zip(*np.nonzero(same)):
                ids[d] = out.tracker_id[k]
        return ids


def timed(make, frames) -> tuple[float, float]:
    """(median, mean) microseconds of update() after WARM_UP frames; for the library its update() alone."""
    tracker = make()
    times = []
    for i, (stamp, boxes, scores, labels) in enumerate(frames):
        t = time.perf_counter()
        tracker.update(boxes, scores, labels, stamp)
        elapsed = getattr(tracker, 'seconds', time.perf_counter() - t)
        if i >= WARM_UP:
            times.append(elapsed * 1e6)
    return statistics.median(times), statistics.fmean(times)


def id_run(make, step: int) -> dict:
    det = load_detections(1.0)
    people = labelled_tracks(1.0)
    tracker = make()
    tracked = {}
    for f in range(0, len(det.frames), step):
        boxes, scores, labels = det.frames[f]
        keep = labels == PERSON
        boxes, scores = boxes[keep].astype(np.float64), scores[keep].astype(np.float64)
        ids = tracker.update(boxes, scores, np.zeros(len(boxes), np.int64), f / det.fps)
        tracked[f] = (boxes[ids > 0], ids[ids > 0])
    return totals(score(tracked, people))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--libs', required=True, help='folder the library was pip-installed into (--target)')
    parser.add_argument('--frames', type=int, default=200)
    args = parser.parse_args()
    sys.path.append(args.libs)
    kernels.warm_up()
    scenes = {'synthetic 100': synthetic(100, args.frames), 'synthetic 13': synthetic(13, args.frames),
              'vtest (NanoDet)': vtest(None)}
    for scene, frames in scenes.items():
        person = [(t, b, s, np.zeros(len(b), np.int64)) for t, b, s, lab in frames]   # one class for both
        for name, make in (('ByteTracker (ours)', lambda: ByteTracker()),
                           ('trackers.ByteTrackTracker', lambda: LibraryByteTrack(10.0))):
            median, mean = timed(make, person)
            print(f'{scene:16s} {name:26s} median {median:8.1f} us  mean {mean:8.1f} us', flush=True)
    for step, fps in ((1, 10.0), (2, 5.0)):
        for name, make in (('ByteTracker (ours)', lambda: ByteTracker()),
                           ('trackers.ByteTrackTracker', lambda fps=fps: LibraryByteTrack(fps))):
            t = id_run(make, step)
            print(f"ids at {fps:g} fps {name:26s} matched {t['matched']}/{t['frames']}  switches {t['switches']}  "
                  f"fragmentations {t['fragmentations']}  ids {t['ids']}", flush=True)


if __name__ == '__main__':
    main()
