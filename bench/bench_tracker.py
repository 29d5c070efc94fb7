"""Speed of the trackers' update per frame (vad_ros/reasoning/tracker.py), compiled (numba) and plain Python.

Scenes:
- synthetic: N people (default 100) walking in a 1920x1080 frame at ~0.5 heights a second per axis (10 fps
  stamps), heights 40-200 px, box corners jittered by 3 % of the height, 10 % of detections missed, scores
  uniform in 0.05..1 (about a third between 0.1 and 0.4: the second pass is exercised), plus 10 % clutter
  (one-frame false boxes); as a crowded camera gives them.
- vtest: NanoDet's detections on every frame of data/vtest.avi (cached by bench_tracking_ids.py in
  $VAD_TRACK_CACHE or /tmp/vad_track_cache; made here if missing), ~85 boxes a frame of which ~9 score >= 0.4.

Per tracker: ByteTracker (optimal and greedy assignment, default parameters; "+ colours": given the frame, as
the pipeline gives it, so that it also samples each box's colours and compares them: the synthetic scenes on
a frame of random pixels, vtest on its own frames) and the old IouTracker (score threshold 0.4 applied before
it, as the pipeline does). Reported: the median and mean time of update() over
all frames after 20 warm-up frames, in microseconds, measured with time.perf_counter around the call (input
arrays prepared before). The plain-Python rows swap numba's functions for their Python originals (the path
without numba installed).

    python bench/bench_tracker.py [--people 100] [--frames 300] [--no-plain] [--out bench/results_tracker.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))

from vad_ros.reasoning import kernels  # noqa: E402
from vad_ros.reasoning.tracker import ByteTracker, IouTracker  # noqa: E402

KERNELS = ('motion_update', 'candidate_pairs', 'assign_pairs', 'hungarian', '_root', '_scale', '_kalman_update',
           'update_tracks', 'greedy_iou_match', 'box_appearance', 'appearance_distance', '_unoccluded')
WARM_UP = 20


def synthetic(people: int, frames: int, seed: int = 0, fps: float = 10.0) -> list[tuple]:
    """(stamp, boxes, scores, labels) per frame, as described in the module doc."""
    rng = np.random.default_rng(seed)
    width, height_px = 1920.0, 1080.0
    pos = rng.uniform([0, 0], [width, height_px], (people, 2))
    height = rng.uniform(40, 200, people)
    vel = rng.normal(0, 0.5, (people, 2)) * height[:, None]
    out = []
    for i in range(frames):
        t = i / fps
        centre = (pos + vel * t) % [width, height_px]
        box = np.column_stack([centre[:, 0] - 0.2 * height, centre[:, 1] - 0.5 * height,
                               centre[:, 0] + 0.2 * height, centre[:, 1] + 0.5 * height])
        box += rng.normal(0, 0.03, box.shape) * height[:, None]
        seen = rng.random(people) > 0.1
        clutter = rng.uniform([0, 0], [width, height_px], (people // 10, 2))
        clutter_h = rng.uniform(40, 200, len(clutter))
        junk = np.column_stack([clutter[:, 0], clutter[:, 1], clutter[:, 0] + 0.4 * clutter_h,
                                clutter[:, 1] + clutter_h])
        boxes = np.vstack([box[seen], junk])
        scores = rng.uniform(0.05, 1.0, len(boxes))
        out.append((t, np.ascontiguousarray(boxes), scores, np.zeros(len(boxes), np.int64)))
    return out


def vtest(frames: int | None) -> list[tuple]:
    from bench_tracking_ids import load_detections
    det = load_detections(1.0)
    out = [(i / det.fps, b.astype(np.float64), s.astype(np.float64), lab)
           for i, (b, s, lab) in enumerate(det.frames)]
    return out[:frames] if frames else out


def noise_frames(count: int, size=(1920, 1080)):
    """The same frame of random pixels `count` times (the synthetic scenes' image)."""
    image = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return (image for _ in range(count))


def vtest_frames(count: int):
    import cv2
    capture = cv2.VideoCapture(str(REPO / 'data' / 'vtest.avi'))
    for _ in range(count):
        ok, frame = capture.read()
        yield frame if ok else np.zeros((576, 768, 3), np.uint8)
    capture.release()


def time_tracker(make, frames: list[tuple], old: bool, images=None) -> tuple[float, float, int]:
    """(median us, mean us, ids given) of update() per frame after WARM_UP frames; images: an iterator of the
    frames' images, for the tracker's colours (None: motion only)."""
    tracker = make()
    times, ids = [], set()
    for i, (stamp, boxes, scores, labels) in enumerate(frames):
        image = next(images) if images is not None else None
        if old:
            keep = scores >= 0.4
            b, lab = np.ascontiguousarray(boxes[keep]), np.ascontiguousarray(labels[keep])
            t = time.perf_counter()
            got = tracker.update(b, lab)
        else:
            t = time.perf_counter()
            got = tracker.update(boxes, scores, labels, stamp, image)
        elapsed = time.perf_counter() - t
        ids.update(got.tolist())
        if i >= WARM_UP:
            times.append(elapsed * 1e6)
    return statistics.median(times), statistics.fmean(times), len(ids - {-1})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--people', type=int, default=100)
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--plain-frames', type=int, default=60, help='frames for the (slow) plain-Python rows')
    parser.add_argument('--no-plain', action='store_true')
    parser.add_argument('--no-vtest', action='store_true')
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_tracker.json'))
    args = parser.parse_args()
    kernels.warm_up()
    scenes = {f'synthetic {args.people}': synthetic(args.people, args.frames),
              'synthetic 13': synthetic(13, args.frames)}
    if not args.no_vtest:
        scenes['vtest (NanoDet)'] = vtest(None)
    trackers = {'ByteTracker + colours': (lambda: ByteTracker(), False),
                'ByteTracker optimal': (lambda: ByteTracker(), False),
                'ByteTracker greedy': (lambda: ByteTracker(assignment='greedy'), False),
                'IouTracker (old)': (lambda: IouTracker(0.3, 5), True)}
    load_before = os.getloadavg()
    rows = []
    for plain in ([False] if args.no_plain else [False, True]):
        saved = {name: getattr(kernels, name) for name in KERNELS}
        try:
            if plain:
                for name in KERNELS:
                    setattr(kernels, name, saved[name].py_func)
                import vad_ros.reasoning.tracker as tracker_module
                tracker_module.update_tracks = kernels.update_tracks
            for scene, frames in scenes.items():
                per_frame = np.mean([len(f[1]) for f in frames])
                use = frames[:WARM_UP + args.plain_frames] if plain else frames
                for name, (make, old) in trackers.items():
                    images = None
                    if 'colours' in name:
                        images = vtest_frames(len(use)) if scene.startswith('vtest') else noise_frames(len(use))
                    median, mean, ids = time_tracker(make, use, old, images)
                    rows.append({'scene': scene, 'detections_per_frame': round(float(per_frame), 1),
                                 'tracker': name, 'path': 'plain Python' if plain else 'numba',
                                 'median_us': round(median, 1), 'mean_us': round(mean, 1),
                                 'frames': len(use) - WARM_UP, 'ids': ids})
                    print(f"{scene:18s} {per_frame:6.1f}/frame  {name:20s} {rows[-1]['path']:12s} "
                          f'median {median:9.1f} us  mean {mean:9.1f} us  ids {ids}', flush=True)
        finally:
            for name, function in saved.items():
                setattr(kernels, name, function)
            import vad_ros.reasoning.tracker as tracker_module
            tracker_module.update_tracks = saved['update_tracks']
    result = {'rows': rows, 'load_before': load_before, 'load_after': os.getloadavg(),
              'machine': platform.processor() or platform.machine(), 'cpus': os.cpu_count(),
              'time': time.strftime('%Y-%m-%d %H:%M')}
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f'load average before {load_before}, after {result["load_after"]}; written {args.out}')


if __name__ == '__main__':
    main()
