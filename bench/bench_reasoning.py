"""Cost per frame of what turns detections into events, for 100 people: tracking, object ids and confirmation
(persistence.ObjectIdentities), and the rule engine with persistence and events (one background rule that about
half of the people break), each timed on its own and together; plus the pipeline's whole `reason` (with the
background vote) for context. Target: tracking + confirmation + events at most 1 ms per frame.

The people walk at constant velocities with a stand-in detector: scores between 0.3 and 0.9 that wobble, a
missed detection now and then (5 %) and a box that jumps (2 %: the IoU tracker starts a new track, which the
object ids re-acquire). Times are medians over the frames after a warm-up, wall clock and CPU time of this
thread (what other load on the machine adds to the wall clock does not count in the CPU time).

    python bench/bench_reasoning.py [--frames 300] [--objects 100] [--out bench/results_reasoning.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vad_ros import params as vparams  # noqa: E402
from vad_ros.pipeline import build_pipeline  # noqa: E402
from vad_ros.reasoning import kernels  # noqa: E402
from vad_ros.reasoning.engine import ObjectArrays, RuleEngine  # noqa: E402
from vad_ros.reasoning.persistence import ObjectIdentities  # noqa: E402
from vad_ros.reasoning.rules import parse_rules  # noqa: E402
from vad_ros.reasoning.tracker import IouTracker  # noqa: E402
from vad_ros.types import Detections, ObjectReport  # noqa: E402

SIZE = (1280, 720)
FPS = 10.0
RULE = 'rules:\n  - {id: lawn, objects: [person], forbidden: [grass], sentence: keep off the grass}\n'


class Walkers:
    """A stand-in detector: n people walking at constant velocities (wrapping around the frame), with
    wobbling scores, missed detections and jumping boxes."""
    name, device, class_names = 'walkers', 'cpu', ('person',)

    def __init__(self, n: int, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.w, self.h = SIZE
        self.n = n
        self.pos = self.rng.uniform([0, 0], [self.w, self.h], size=(n, 2))
        self.vel = self.rng.uniform(-6, 6, size=(n, 2))             # px per frame
        self.size = self.rng.uniform([20, 60], [50, 120], size=(n, 2))
        self.base = self.rng.uniform(0.3, 0.9, n)

    def detect(self, image=None) -> Detections:
        self.pos = (self.pos + self.vel) % [self.w, self.h]
        jump = self.rng.random(self.n) < 0.02
        x = self.pos[:, 0] + jump * self.size[:, 0] * 1.2               # no overlap with the last box
        y = self.pos[:, 1]
        keep = self.rng.random(self.n) >= 0.05
        boxes = np.column_stack([x - self.size[:, 0] / 2, y - self.size[:, 1], x + self.size[:, 0] / 2, y])[keep]
        scores = np.clip(self.base + self.rng.normal(0, 0.08, self.n), 0.3, 1.0)[keep]
        return Detections(boxes.astype(np.float32), np.zeros(len(boxes), np.int64), scores.astype(np.float32),
                          self.class_names)


def timed(function, *args):
    w, c = time.perf_counter(), time.thread_time()
    out = function(*args)
    return out, (time.perf_counter() - w) * 1e3, (time.thread_time() - c) * 1e3


def stages(objects: int, frames: int, tracker_name: str, warmup: int = 30) -> dict:
    """Median ms per stage (wall, CPU), with the IoU tracker or the ByteTracker."""
    if tracker_name == 'byte':
        from vad_ros.reasoning.tracker import ByteTracker
        tracker = ByteTracker(high_score=0.3, low_score=0.1, fps=FPS)
        track = lambda b, lab, s, t: tracker.update(b, s, lab, t)           # noqa: E731
    else:
        tracker = IouTracker(0.3, 5)
        track = lambda b, lab, s, t: tracker.update(b, lab)                 # noqa: E731
    identities = ObjectIdentities()
    engine = RuleEngine(parse_rules(RULE, 'r.yaml'), None, grace_seconds=1.0)
    walkers = Walkers(objects)
    bg_vocab = ('road', 'grass')
    wall = {k: [] for k in ('track', 'confirm', 'events', 'total')}
    cpu = {k: [] for k in wall}
    counts = {'objects': 0, 'confirmed': 0, 'anomalies': 0, 'events_started': 0}
    for i in range(warmup + frames):
        d = walkers.detect()
        stamp = 1_764_000_000.0 + i / FPS
        boxes, labels, scores = d.boxes.astype(np.float64), d.labels, d.scores.astype(np.float64)
        ids, w1, c1 = timed(track, boxes, labels, scores, stamp)
        tracked = ids > 0
        boxes, labels, scores, ids = boxes[tracked], labels[tracked], scores[tracked], ids[tracked]
        (object_ids, confirmed), w2, c2 = timed(identities.update, ids, labels, boxes, scores, stamp, i)
        grass = (boxes[:, 0] < SIZE[0] / 2).astype(np.int64)                  # left half of the frame: a lawn
        sel = np.flatnonzero(confirmed)
        reports = [ObjectReport('person', s, tuple(b), bg_vocab[g], 1.0, t, True) for b, s, g, t in
                   zip(boxes[sel].tolist(), scores[sel].tolist(), grass[sel].tolist(), object_ids[sel].tolist())]
        arrays = ObjectArrays(boxes[sel], scores[sel], np.ones(len(sel)), object_ids[sel], ('person',), labels[sel],
                              bg_vocab, grass[sel])
        result, w3, c3 = timed(engine.evaluate, reports, i, stamp, SIZE, arrays)
        if i >= warmup:
            for k, wv, cv in (('track', w1, c1), ('confirm', w2, c2), ('events', w3, c3)):
                wall[k].append(wv)
                cpu[k].append(cv)
            wall['total'].append(w1 + w2 + w3)
            cpu['total'].append(c1 + c2 + c3)
            counts['objects'] += len(ids)
            counts['confirmed'] += int(confirmed.sum())
            counts['anomalies'] += len(result.anomalies)
            counts['events_started'] += sum(e.state == 'started' for e in result.events)
    return {'tracker': tracker_name, 'wall_median_ms': {k: round(statistics.median(v), 3) for k, v in wall.items()},
            'cpu_median_ms': {k: round(statistics.median(v), 3) for k, v in cpu.items()},
            'wall_p90_ms_total': round(sorted(wall['total'])[int(0.9 * (len(wall['total']) - 1))], 3),
            'per_frame': {k: round(v / frames, 1) for k, v in counts.items() if k != 'events_started'},
            'events_started': counts['events_started'], 'objects_remembered': identities.count}


def whole_reason(objects: int, frames: int, warmup: int = 30) -> dict:
    """The pipeline's `reason` timing (threshold, tracking, ids and confirmation, background vote on a two-class
    scene map, rule engine, persistence and events), default parameters."""
    w, h = SIZE
    folder = Path(tempfile.mkdtemp())
    (folder / 'scene.yaml').write_text(f'image_size: [{w}, {h}]\nregions:\n  - label: road\n    polygon: [[0, 0], '
                                       f'[{w}, 0], [{w}, {h}], [0, {h}]]\n  - label: grass\n    polygon: [[0, 0], '
                                       f'[{w // 2}, 0], [{w // 2}, {h}], [0, {h}]]\n')
    (folder / 'rules.yaml').write_text(RULE)
    params = vparams.resolve({'scene_map_file': str(folder / 'scene.yaml'), 'rules_file': str(folder / 'rules.yaml')})
    pipeline = build_pipeline(params, Walkers(objects))
    image = np.zeros((h, w, 3), np.uint8)
    times = []
    for i in range(warmup + frames):
        result = pipeline.process(image, stamp=1_764_000_000.0 + i / FPS)
        if i >= warmup:
            times.append(result.timings_ms['reason'])
    return {'wall_median_ms': round(statistics.median(times), 3)}


def uptime() -> str:
    load = os.getloadavg()
    return f'load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} on {os.cpu_count()} cores'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--objects', type=int, default=100)
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_reasoning.json'))
    args = parser.parse_args(argv)
    kernels.warm_up()
    load_before = uptime()
    trackers = ['iou']
    try:
        from vad_ros.reasoning.tracker import ByteTracker  # noqa: F401
        trackers.append('byte')
    except ImportError:
        pass
    rows = [stages(args.objects, args.frames, name) for name in trackers]
    reason = whole_reason(args.objects, args.frames)
    load_after = uptime()
    lines = [f'machine: {platform.platform()}, numba: {kernels.COMPILED}, {load_before} (before), {load_after} '
             f'(after); {args.objects} people, {args.frames} frames', '',
             '| tracker | track ms | ids + confirmation ms | rule engine + events ms | together ms (p90) | '
             'CPU together ms | tracked / confirmed / anomalies per frame | events started |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        m, c, f = r['wall_median_ms'], r['cpu_median_ms'], r['per_frame']
        lines.append(f"| {r['tracker']} | {m['track']:.3f} | {m['confirm']:.3f} | {m['events']:.3f} | "
                     f"{m['total']:.3f} ({r['wall_p90_ms_total']:.3f}) | {c['total']:.3f} | {f['objects']} / "
                     f"{f['confirmed']} / {f['anomalies']} | {r['events_started']} |")
    lines += ['', f"the pipeline's whole `reason` (IoU tracker, background vote, default parameters): "
                  f"{reason['wall_median_ms']:.3f} ms median"]
    print('\n'.join(lines))
    Path(args.out).with_suffix('.md').write_text('\n'.join(lines) + '\n')
    Path(args.out).write_text(json.dumps({'machine': platform.platform(), 'load_before': load_before,
                                          'load_after': load_after, 'stages': rows, 'reason': reason}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
