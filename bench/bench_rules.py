"""Cost of the reasoning (threshold, ignore masks, tracking, background vote, rule engine, persistence) per
frame, measured as the pipeline's own `reason` timing with a stand-in detector, in one run:

- the existing figure: 20 still people, one rule, a two-class scene map (bench_pipeline.reasoning_only);
- the rule language at scale: 100 moving people, 20 rules using every kind of condition, 10 zones,
  5 tripwires, an ignore mask and a ground-plane calibration (target: under 2 ms).

    python bench/bench_rules.py [--frames 200] [--out bench/results_rules.json]

Writes results_rules.{json,md} with the machine's load (uptime) at the start and the end.
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
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))

from bench_pipeline import SIZES, reasoning_only  # noqa: E402
from vad_ros import params as vparams  # noqa: E402
from vad_ros.pipeline import build_pipeline  # noqa: E402
from vad_ros.types import Detections  # noqa: E402

RULES = [
    {'id': 'lawn', 'objects': ['person'], 'forbidden': ['grass'], 'sentence': 'keep off the grass'},
    {'id': 'lawn-dwell', 'objects': ['person'], 'forbidden': ['grass'], 'min_duration': 2, 'sentence': 'dwell'},
    {'id': 'paved', 'objects': ['person'], 'allowed': ['road'], 'min_fraction': 0.5, 'sentence': 'off the road'},
    {'id': 'road-cool', 'objects': ['person'], 'forbidden': ['road'], 'in_zone': 'z3', 'cooldown': 5,
     'sentence': 'on the road'},
    {'id': 'z0', 'objects': ['person'], 'in_zone': 'z0', 'sentence': 'in {zone}'},
    {'id': 'z1-dwell', 'objects': ['person'], 'in_zone': ['z1', 'z2'], 'min_duration': 1, 'sentence': 'loiter'},
    {'id': 'not-z3', 'objects': ['person'], 'in_zone': 'z4', 'not_in_zone': ['z3'], 'min_frames': 3,
     'sentence': 'outside'},
    {'id': 'z5-night', 'objects': ['person'], 'in_zone': 'z5', 'active': ['22:00-06:00'], 'sentence': 'night'},
    {'id': 'z6-week', 'objects': ['person'], 'in_zone': 'z6',
     'active': {'hours': ['00:00-24:00'], 'days': ['mon-fri'], 'timezone': 'Europe/Berlin'}, 'sentence': 'week'},
    {'id': 'line0', 'objects': ['person'], 'crossing': 'l0', 'direction': 'in', 'sentence': 'in'},
    {'id': 'line1', 'objects': ['person'], 'crossing': 'l1', 'sentence': 'crossed'},
    {'id': 'line2-count', 'objects': ['person'], 'crossing': 'l2', 'min_count': 3, 'window': 10,
     'sentence': 'busy'},
    {'id': 'crowd-z7', 'objects': ['person'], 'in_zone': 'z7', 'min_count': 5, 'sentence': 'crowd'},
    {'id': 'empty-z8', 'objects': ['person'], 'in_zone': 'z8', 'max_count': 1, 'sentence': 'unguarded'},
    {'id': 'big', 'objects': ['person'], 'min_area': 5000, 'sentence': 'big'},
    {'id': 'slim', 'objects': ['person'], 'max_ratio': 0.2, 'sentence': 'slim'},
    {'id': 'fast-px', 'objects': ['person'], 'min_speed': '105 px/s', 'sentence': 'fast'},
    {'id': 'fast-m', 'objects': ['person'], 'min_speed': '2 m/s', 'in_zone': 'z9', 'sentence': 'fast'},
    {'id': 'east', 'objects': ['person'], 'direction': [80, 100], 'min_frames': 2, 'sentence': 'east'},
    {'id': 'to-z0', 'objects': ['person'], 'direction': 'towards z0', 'in_zone': 'z5', 'sentence': 'approaching'},
]


def scene_document(w: int, h: int, busy: bool = True) -> dict:
    """A lawn patch on a road; 10 zones, 5 tripwires, a mask, a ground plane. busy: zones of ~3 % of the frame
    each and a lawn of ~5 % (about half the people break a rule in every frame); else zones of ~0.6 % and a
    lawn of ~1 % (about one in ten)."""
    zw, zh, lw, lh = (0.125, 0.25, 0.22, 0.25) if busy else (0.06, 0.1, 0.1, 0.1)
    def rect(x0, y0, x1, y1):
        return [[x0 * w, y0 * h], [x1 * w, y0 * h], [x1 * w, y1 * h], [x0 * w, y1 * h]]
    zones = [{'name': f'z{i}', 'polygon': rect(0.02 + (i % 5) * 0.2, 0.1 + (i // 5) * 0.5,
                                               0.02 + (i % 5) * 0.2 + zw, 0.1 + (i // 5) * 0.5 + zh)}
             for i in range(10)]
    wires = [{'name': f'l{k}', 'points': [[(k + 0.5) * w / 5, 0], [(k + 0.5) * w / 5, h / 2],
                                          [(k + 0.6) * w / 5, h]]} for k in range(5)]
    return {'image_size': [w, h],
            'regions': [{'label': 'road', 'polygon': rect(0, 0, 1, 1)},
                        {'label': 'grass', 'polygon': rect(0.4, 0.35, 0.4 + lw, 0.35 + lh)}],
            'zones': zones, 'tripwires': wires,
            'ignore': [{'name': 'corner', 'polygon': [[0, 0], [w / 20, 0], [w / 20, h / 20]]}],
            'calibration': [{'image': [0, h], 'ground': [0, 0]}, {'image': [w, h], 'ground': [20, 0]},
                            {'image': [w * 0.8, 0], 'ground': [20, 30]}, {'image': [w * 0.2, 0], 'ground': [0, 30]}]}


class Walkers:
    """A stand-in detector: `n` people walking at constant velocities, wrapping around the frame."""
    name, device, class_names = 'walkers', 'cpu', ('person',)

    def __init__(self, n: int, size: tuple[int, int], seed: int = 0):
        rng = np.random.default_rng(seed)
        self.w, self.h = size
        self.pos = rng.uniform([0, 0], [self.w, self.h], size=(n, 2))
        self.vel = rng.uniform(-8, 8, size=(n, 2))            # px per frame
        self.size = rng.uniform([20, 60], [50, 120], size=(n, 2))
        self.n = n

    def detect(self, image):
        self.pos = (self.pos + self.vel) % [self.w, self.h]
        x, y = self.pos[:, 0], self.pos[:, 1]                 # ground point
        boxes = np.column_stack([x - self.size[:, 0] / 2, y - self.size[:, 1], x + self.size[:, 0] / 2, y])
        return Detections(boxes.astype(np.float32), np.zeros(self.n, np.int64),
                          np.full(self.n, 0.9, np.float32), self.class_names)


def rules_at_scale(size: tuple[int, int], frames: int, busy: bool, objects: int = 100, warmup: int = 20) -> dict:
    """Median and p90 ms (wall clock) and median CPU ms of the pipeline's reasoning, and how much the rules
    fired."""
    w, h = size
    folder = Path(tempfile.mkdtemp())
    (folder / 'scene.yaml').write_text(yaml.safe_dump(scene_document(w, h, busy)))
    (folder / 'rules.yaml').write_text(yaml.safe_dump({'rules': RULES}, sort_keys=False))
    params = vparams.resolve({'scene_map_file': str(folder / 'scene.yaml'),
                              'rules_file': str(folder / 'rules.yaml'), 'tracking.max_missed': 2})
    pipeline = build_pipeline(params, Walkers(objects, size))
    image = np.zeros((h, w, 3), np.uint8)
    times, cpu, anomalies, events, tracked = [], [], 0, 0, 0
    reason = pipeline.reason

    def timed_reason(*args, **kwargs):                       # CPU time of this thread: what other load adds
        t = time.thread_time()                               # to the wall clock does not count
        out = reason(*args, **kwargs)
        cpu.append((time.thread_time() - t) * 1e3)
        return out
    pipeline.reason = timed_reason
    start = 1_764_000_000.0                                  # a Monday afternoon, UTC
    for i in range(warmup + frames):
        result = pipeline.process(image, stamp=start + i * 0.1)
        if i >= warmup:
            times.append(result.timings_ms['reason'])
            anomalies += len(result.anomalies)
            events += len(result.events_started)
            tracked += len(result.objects)
    times.sort()
    return {'median_ms': statistics.median(times), 'p90_ms': times[int(0.9 * (len(times) - 1))],
            'min_ms': times[0], 'cpu_median_ms': statistics.median(cpu[warmup:]),
            'objects_per_frame': tracked / frames, 'anomalies_per_frame': anomalies / frames,
            'events_started': events, 'rules': len(RULES), 'zones': 10, 'tripwires': 5}


def uptime() -> str:
    try:
        load = os.getloadavg()
        return f'load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} on {os.cpu_count()} cores'
    except OSError:
        return 'load unknown'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_rules.json'))
    args = parser.parse_args(argv)
    load_before = uptime()
    results = {}
    for name, size in SIZES.items():
        results[name] = {'reasoning_20_people_1_rule_ms': reasoning_only(size),
                         'typical': rules_at_scale(size, args.frames, busy=False),
                         'busy': rules_at_scale(size, args.frames, busy=True)}
    load_after = uptime()
    lines = [f'machine: {platform.platform()}, {load_before} (before), {load_after} (after)', '',
             '| size | 20 people, 1 rule: median ms | scene | 100 people, 20 rules, 10 zones, 5 lines: median ms '
             '| min ms | p90 ms | CPU median ms | anomalies/frame | events started |',
             '|---|---|---|---|---|---|---|---|---|']
    for name, r in results.items():
        for scene in ('typical', 'busy'):
            s = r[scene]
            lines.append(f"| {name} | {r['reasoning_20_people_1_rule_ms']:.2f} | {scene} | {s['median_ms']:.2f} | "
                         f"{s['min_ms']:.2f} | {s['p90_ms']:.2f} | {s['cpu_median_ms']:.2f} | "
                         f"{s['anomalies_per_frame']:.1f} | {s['events_started']} |")
    print('\n'.join(lines))
    Path(args.out).with_suffix('.md').write_text('\n'.join(lines) + '\n')
    Path(args.out).write_text(json.dumps({'machine': platform.platform(), 'load_before': load_before,
                                          'load_after': load_after, 'frames': args.frames,
                                          'results': results}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
