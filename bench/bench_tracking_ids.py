"""Id switches and fragmentations per person on vtest.avi: the old IouTracker vs ByteTracker, against tracks
labelled by eye (bench/labels/vtest_tracks.json; format and how they were made: bench/labels/README.md), for the
trackers alone and for the object ids the pipeline reports.

The detections are NanoDet's (the package's detector, detector.backend nanodet, CPU) on every frame, with
every box down to its floor score 0.1; they are computed once per image scale (~30 s on 2 quiet cores; 20 min
with the cores shared by other heavy jobs) and cached in $VAD_TRACK_CACHE (default /tmp/vad_track_cache).
Each tracker then runs on them:
- IouTracker (today's pipeline): detections with score >= 0.4 (the demo's score_threshold), iou_threshold 0.3,
  max_missed 5 (the parameter defaults);
- ByteTracker: every detection, the class defaults (first pass 0.5) with the frames (its colour cue) or without
  them (motion only), and with the first pass at 0.4 as before (or the variants of --sweep);
- pipeline, iou / pipeline, byte: what an operator sees, the object ids of the pipeline's objects (ObjectReport
  track_id, ~/anomalies: the tracker, then persistence.ObjectIdentities, whose re-acquisition gives a new track
  the id of a lost object close by), every reported person, confirmed or not. The pipeline runs with the
  parameter defaults (score_threshold 0.3) and tracking.tracker iou (the default before issue 23) or byte (the
  default since; PIPELINES lists the variants), on the same cached detections (a replay detector: the same
  objects as `vad-video` on the same frames) and the video's frames, with the demo camera's scene map and
  rule file.

Runs: every frame (10 fps, stamps i / 10 s), every second frame (5 fps, the same stamps), and the video
scaled to half size (384x288, NanoDet run on the small frames, labels halved), to show that nothing depends
on this camera's frame rate or pixel sizes.

Per labelled person, over the frames of the run where it is labelled (boxes interpolated between key frames):
- matched: a tracked detection (id >= 1) of class person has IoU >= 0.5 with the label (one-to-one, highest
  IoU first);
- id switches: the matched id differs from the id matched last time (CLEAR-MOT's IDSW);
- fragmentations: a matched run resumes after frames without a match (CLEAR-MOT's Frag);
- ids: distinct ids matched to the person;
- main id: labelled frames matched to the person's most frequent id (an IDF1-like share: a one-frame swap
  and back counts 2 switches but costs 1 frame here).

    python bench/bench_tracking_ids.py [--sweep] [--out bench/results_tracking_ids.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vad_ros import params as vparams  # noqa: E402
from vad_ros.boxes import iou_matrix  # noqa: E402
from vad_ros.reasoning.tracker import ByteTracker, IouTracker  # noqa: E402

VIDEO = REPO / 'data' / 'vtest.avi'
LABELS = REPO / 'bench' / 'labels' / 'vtest_tracks.json'
PERSON = 0                          # COCO
SCORE_THRESHOLD = 0.4               # config/demo_vtest.yaml
MATCH_IOU = 0.5


class VideoDetections(NamedTuple):
    frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]]    # per frame: boxes (N, 4), scores, labels
    fps: float
    size: tuple[int, int]


def cache_path(scale: float) -> Path:
    folder = Path(os.environ.get('VAD_TRACK_CACHE', '/tmp/vad_track_cache'))
    return folder / f'vtest_nanodet_x{scale:g}.npz'


def load_detections(scale: float) -> VideoDetections:
    """NanoDet's detections on every frame of vtest.avi resized by `scale` (cached, see the module doc)."""
    path = cache_path(scale)
    if not path.exists():
        detect_video(scale, path)
    data = np.load(path)
    ends = np.cumsum(data['counts'])
    starts = ends - data['counts']
    frames = [(data['boxes'][a:b], data['scores'][a:b], data['labels'][a:b]) for a, b in zip(starts, ends)]
    return VideoDetections(frames, float(data['fps']), tuple(int(v) for v in data['size']))


def detect_video(scale: float, path: Path) -> None:
    import cv2
    from vad_ros import params as vparams
    from vad_ros.perception.factory import build_detector
    params = vparams.resolve({'detector.backend': 'nanodet', 'detector.device': 'cpu'})
    detector = build_detector(params)
    if not detector.name.startswith('nanodet'):
        raise SystemExit(f'NanoDet is not available (got {detector.name}): run tools/setup.sh nanodet')
    capture = cv2.VideoCapture(str(VIDEO))
    fps = capture.get(cv2.CAP_PROP_FPS)
    boxes, scores, labels, counts, size = [], [], [], [], None
    start = time.perf_counter()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if scale != 1.0:
            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        size = frame.shape[1::-1]
        found = detector.detect(frame)
        boxes.append(found.boxes)
        scores.append(found.scores)
        labels.append(found.labels)
        counts.append(len(found))
    print(f'{detector.name}: {len(counts)} frames at x{scale:g} in {time.perf_counter() - start:.0f} s',
          file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, counts=np.array(counts), boxes=np.concatenate(boxes), scores=np.concatenate(scores),
             labels=np.concatenate(labels), fps=fps, size=np.array(size))


def labelled_tracks(scale: float = 1.0) -> dict[str, dict[int, np.ndarray]]:
    """Per labelled person: frame -> box (xyxy, scaled), key frames interpolated linearly; a null key frame
    means not visible from there up to the next key frame."""
    doc = json.loads(LABELS.read_text())
    out = {}
    for person in doc['people']:
        keys = sorted((int(f), box) for f, box in person['keyframes'].items())
        boxes = {}
        for (f0, b0), (f1, b1) in zip(keys, keys[1:]):
            if b0 is None or b1 is None:
                continue
            for f in range(f0, f1 + 1):
                a = (f - f0) / (f1 - f0)
                boxes[f] = (1 - a) * np.array(b0, float) + a * np.array(b1, float)
        if keys[-1][1] is not None and keys[-1][0] not in boxes:
            boxes[keys[-1][0]] = np.array(keys[-1][1], float)
        out[person['name']] = {f: b * scale for f, b in boxes.items()}
    return out


class Replay:
    """A detector that returns the cached detections of the frame set in `frame` (COCO names, as NanoDet)."""
    name, device = 'nanodet (cached)', 'cpu'

    def __init__(self, detections: VideoDetections):
        from vad_ros.vocabulary import COCO_CLASSES
        self.detections, self.class_names, self.frame = detections, COCO_CLASSES, 0

    def detect(self, image):
        from vad_ros.types import Detections
        boxes, scores, labels = self.detections.frames[self.frame]
        return Detections(boxes.astype(np.float32), labels.astype(np.int64), scores.astype(np.float32),
                          self.class_names)


SCENE_PARAMS = {'scene_map_file': str(REPO / 'config' / 'scene_vtest.yaml'),
                'rules_file': str(REPO / 'config' / 'rules_keep_off_grass.yaml')}


def video_frames(detections: VideoDetections, step: int):
    """(frame index, image) of frames 0, step, 2 step, ... of vtest.avi at the size the detections were made
    at (resized as detect_video does), for the trackers that compare colours."""
    import cv2
    capture = cv2.VideoCapture(str(VIDEO))
    index = 0
    try:
        while index < len(detections.frames):
            ok, frame = capture.read()
            if not ok:
                raise SystemExit(f'{VIDEO}: frame {index} cannot be read ({len(detections.frames)} cached)')
            if index % step == 0:
                if frame.shape[1::-1] != tuple(detections.size):
                    frame = cv2.resize(frame, tuple(detections.size), interpolation=cv2.INTER_AREA)
                yield index, frame
            index += 1
    finally:
        capture.release()


def run_pipeline(params: dict, detections: VideoDetections, step: int, on_result=None, tracker: dict | None = None
                 ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """frame -> (boxes of the person objects the pipeline reports, their object ids), for frames 0, step, ...
    (run frame k = video frame k x step, stamp k x step / fps). on_result(video frame, FrameResult) sees every
    result, for callers that score more than ids. tracker: attributes set on the pipeline's tracker (those
    without a parameter, e.g. appearance_scale 0 = motion only)."""
    from vad_ros.pipeline import build_pipeline
    replay = Replay(detections)
    pipeline = build_pipeline(vparams.resolve({**SCENE_PARAMS, **params}), replay)
    for name, value in (tracker or {}).items():
        setattr(pipeline._tracker, name, value)
    out = {}
    for k, (f, image) in enumerate(video_frames(detections, step)):
        replay.frame = f
        result = pipeline.process(image, frame_index=k, stamp=f / detections.fps)
        people = [o for o in result.objects if o.object_class == 'person']
        out[f] = (np.array([o.box for o in people], np.float64).reshape(-1, 4),
                  np.array([o.track_id for o in people], np.int64))
        if on_result is not None:
            on_result(f, result)
    if on_result is not None:
        on_result(None, pipeline.flush_events())
    return out


def run_tracker(make, detections: VideoDetections, step: int, old: bool, colours: bool = False
                ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """frame -> (person boxes that got an id, their ids), for frames 0, step, 2 step, ...; colours: the frames
    are given to the tracker (its colour cue), else motion only."""
    tracker = make()
    out = {}
    for f, image in (video_frames(detections, step) if colours else
                     ((f, None) for f in range(0, len(detections.frames), step))):
        boxes, scores, labels = detections.frames[f]
        boxes = boxes.astype(np.float64)
        if old:
            keep = scores >= SCORE_THRESHOLD
            boxes, labels = np.ascontiguousarray(boxes[keep]), np.ascontiguousarray(labels[keep])
            ids = tracker.update(boxes, labels)
        else:
            ids = tracker.update(boxes, scores.astype(np.float64), labels, f / detections.fps, image)
        person = (labels == PERSON) & (ids > 0)
        out[f] = (boxes[person], ids[person])
    return out


def score(tracked: dict[int, tuple[np.ndarray, np.ndarray]], people: dict[str, dict[int, np.ndarray]]) -> dict:
    """Per person: frames labelled, matched, id switches, fragmentations, ids (module doc)."""
    per = {name: {'frames': 0, 'matched': 0, 'switches': 0, 'fragmentations': 0, 'ids': set(), 'last': None,
                  'gap': False, 'history': []} for name in people}
    for f, (boxes, ids) in tracked.items():
        names = [n for n in people if f in people[n]]
        if not names:
            continue
        truth = np.array([people[n][f] for n in names])
        iou = iou_matrix(truth, boxes)
        taken_t, taken_d = set(), set()
        matched = {}
        for flat in np.argsort(-iou, axis=None, kind='stable'):
            t, d = divmod(int(flat), iou.shape[1]) if iou.shape[1] else (0, 0)
            if iou.size == 0 or iou[t, d] < MATCH_IOU:
                break
            if t not in taken_t and d not in taken_d:
                taken_t.add(t)
                taken_d.add(d)
                matched[names[t]] = int(ids[d])
        for n in names:
            p = per[n]
            p['frames'] += 1
            if n not in matched:
                p['gap'] = p['last'] is not None
                continue
            track_id = matched[n]
            p['matched'] += 1
            if p['last'] is not None and track_id != p['last']:
                p['switches'] += 1
            if p['gap']:
                p['fragmentations'] += 1
            p['gap'] = False
            p['last'] = track_id
            p['ids'].add(track_id)
            p['history'].append(track_id)
    for p in per.values():
        p['main_id_frames'] = max((p['history'].count(i) for i in p['ids']), default=0)
    return {n: {k: (sorted(v) if k == 'ids' else v) for k, v in p.items() if k not in ('last', 'gap', 'history')}
            for n, p in per.items()}


def totals(per_person: dict) -> dict:
    return {'frames': sum(p['frames'] for p in per_person.values()),
            'matched': sum(p['matched'] for p in per_person.values()),
            'switches': sum(p['switches'] for p in per_person.values()),
            'fragmentations': sum(p['fragmentations'] for p in per_person.values()),
            'ids': sum(len(p['ids']) for p in per_person.values()),
            'main_id_frames': sum(p['main_id_frames'] for p in per_person.values())}


TRACKERS = {   # name: (make, old interface, given the frames)
    'IouTracker (today)': (lambda: IouTracker(0.3, 5), True, False),
    'ByteTracker, first pass 0.4, motion only (before)': (lambda: ByteTracker(high_score=0.4), False, False),
    'ByteTracker, motion only': (lambda: ByteTracker(), False, False),
    'ByteTracker + colours (default)': (lambda: ByteTracker(), False, True),
}
# Object ids as the pipeline reports them (run_pipeline): name -> (params over the defaults, tracker attributes).
BEFORE = ({'tracking.high_score': 0.3, 'events.reacquire_seconds': 1.0}, {'appearance_scale': 0.0})
PIPELINES = {
    'pipeline, iou (old default)': ({'tracking.tracker': 'iou', 'events.reacquire_seconds': 1.0}, {}),
    'pipeline, byte before (first pass = score_threshold 0.3, motion only, reacquire 1 s)': BEFORE,
    'pipeline, byte, first pass 0.5, motion only': ({}, {'appearance_scale': 0.0}),
    'pipeline, byte, colours, first pass 0.3': ({'tracking.high_score': 0.3}, {}),
    'pipeline, byte (default: first pass 0.5, colours, reacquire 2 s)': ({}, {}),
}

SWEEP = {   # over the default ByteTracker, given the frames
    'ByteTracker first pass 0.4': dict(high_score=0.4),
    'ByteTracker first pass 0.45': dict(high_score=0.45),
    'ByteTracker first pass 0.55': dict(high_score=0.55),
    'ByteTracker first pass 0.6': dict(high_score=0.6),
    'ByteTracker appearance_scale 0.1': dict(appearance_scale=0.1),
    'ByteTracker appearance_scale 0.5': dict(appearance_scale=0.5),
    'ByteTracker appearance_seconds 1 (colours averaged over 1 s)': dict(appearance_seconds=1.0),
    'ByteTracker appearance_overlap 0.2 (colours also from boxes 20 % covered)': dict(appearance_overlap=0.2),
    'ByteTracker appearance_gate 0.2 (pairs farther apart in colour refused)': dict(appearance_gate=0.2),
    'ByteTracker greedy': dict(assignment='greedy'),
    'ByteTracker lost 2 s': dict(lost_seconds=2.0),
    'ByteTracker gate_sigmas 0': dict(gate_sigmas=0.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sweep', action='store_true', help='also run the parameter variants (SWEEP)')
    parser.add_argument('--per-person', action='store_true', help='print each person\'s numbers')
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_tracking_ids.json'))
    args = parser.parse_args()
    trackers = dict(TRACKERS)
    if args.sweep:
        trackers.update({name: ((lambda kw=kw: ByteTracker(**kw)), False, True) for name, kw in SWEEP.items()})
    runs = {'10 fps': (1.0, 1), '5 fps': (1.0, 2), 'half size, 10 fps': (0.5, 1)}
    results = []
    for run_name, (scale, step) in runs.items():
        detections = load_detections(scale)
        people = labelled_tracks(scale)
        runners = {name: (lambda make=make, old=old, c=c: run_tracker(make, detections, step, old, c))
                   for name, (make, old, c) in trackers.items()}
        runners.update({name: (lambda p=p, t=t: run_pipeline(p, detections, step, tracker=t))
                        for name, (p, t) in PIPELINES.items()})
        for name, run in runners.items():
            per_person = score(run(), people)
            total = totals(per_person)
            results.append({'run': run_name, 'tracker': name, 'total': total, 'people': per_person})
            print(f"{run_name:18s} {name:42s} matched {total['matched']:4d}/{total['frames']:4d}  "
                  f"switches {total['switches']:3d}  fragmentations {total['fragmentations']:3d}  "
                  f"ids {total['ids']:3d}  main id {total['main_id_frames'] / total['frames']:.3f}", flush=True)
            if args.per_person:
                for person, p in per_person.items():
                    print(f"    {person:22s} {p['matched']:3d}/{p['frames']:3d}  sw {p['switches']}  "
                          f"frag {p['fragmentations']}  main id {p['main_id_frames']}  ids {p['ids']}")
    Path(args.out).write_text(json.dumps({'results': results, 'time': time.strftime('%Y-%m-%d %H:%M')},
                                         indent=1))
    print(f'written {args.out}')


if __name__ == '__main__':
    main()
