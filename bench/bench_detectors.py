"""NanoDet vs HOG on vtest.avi, in one run on the same frames, against the labels made by eye in
bench/labels/vtest_people.yaml (how they were made: bench/labels/README.md).

Measured per detector:
- per-person detection recall: labelled people (16 frames, 92 people) matched one-to-one by a 'person'
  detection with IoU >= 0.5 and score >= the pipeline's score_threshold; also for the unoccluded people and
  for the people on a lawn; 'extra person boxes' = person detections at that threshold that match nobody
  (false alarms, duplicates or badly placed boxes);
- the keep-off-the-grass rule per frame: every frame of the video goes through the real pipeline
  (vad_ros.pipeline, demo parameters config/demo_vtest.yaml: scene map, rule file, tracking, persistence);
  at the 80 labelled frames (every 10th) 'someone is on a lawn' is compared with the frame's anomaly flag:
  precision, recall, F1;
- speed: the detector's `detect` per frame (ms, median and mean), on this machine's cores (the load average
  is recorded before and after: the CPU may be shared).

Each detector runs once per frame; its detections are fed to one pipeline per score_threshold (0.3 and 0.4),
all other parameters from config/demo_vtest.yaml (HOG: its detector.hog settings there).

    python bench/bench_detectors.py [--device cpu|cuda:0] [--nanodet auto:fp32,onnx:int8]
                                    [--out bench/results_detectors]
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

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vad_ros import params as vparams  # noqa: E402
from vad_ros.boxes import iou_matrix  # noqa: E402
from vad_ros.errors import VadError  # noqa: E402
from vad_ros.files import read_yaml  # noqa: E402
from vad_ros.perception.hog import HogPeopleDetector  # noqa: E402
from vad_ros.pipeline import build_pipeline  # noqa: E402
from vad_ros.types import Detections  # noqa: E402

DEMO_PARAMS = REPO / 'config' / 'demo_vtest.yaml'
LABELS = REPO / 'bench' / 'labels' / 'vtest_people.yaml'
THRESHOLDS = (0.3, 0.4)          # HOG's score 0.3 = SVM margin 0.58 (its calibration, the demo's value before
                                 # NanoDet); 0.4 = the demo's value with NanoDet


class Replay:
    """A Detector that returns the detections it is handed (one detector run feeds several pipelines)."""

    def __init__(self, name: str, class_names: tuple[str, ...]):
        self.name, self.device, self.class_names = name, 'cpu', class_names
        self.current: Detections | None = None

    def detect(self, image_bgr: np.ndarray) -> Detections:
        return self.current


def load_labels() -> tuple[dict[int, list[dict]], dict[int, bool]]:
    doc = read_yaml(str(LABELS), 'labels file', 'run from a source checkout', VadError)
    sampled = doc['grass_frames']['sampled']
    positive = set(doc['grass_frames']['positive'])
    truth = {f: f in positive for f in range(sampled['start'], sampled['stop'] + 1, sampled['step'])}
    return {int(k): v for k, v in doc['people'].items()}, truth


def match_people(labelled: list[dict], detections: Detections, threshold: float) -> tuple[list[bool], int]:
    """Which labelled people are found (greedy one-to-one, best IoU first, IoU >= 0.5), and how many person
    detections >= threshold match nobody."""
    keep = (np.asarray(detections.names()) == 'person') & (detections.scores >= threshold)
    boxes = detections.boxes[keep]
    gt = np.array([p['box'] for p in labelled], np.float32)
    iou = iou_matrix(gt, boxes) if len(boxes) else np.zeros((len(gt), 0))
    found, used = [False] * len(gt), set()
    for g, d in sorted(((g, d) for g in range(len(gt)) for d in range(len(boxes)) if iou[g, d] >= 0.5),
                       key=lambda gd: -iou[gd]):
        if not found[g] and d not in used:
            found[g] = True
            used.add(d)
    return found, len(boxes) - len(used)


def person_recall(per_frame: dict[int, tuple[list[bool], int]], labels: dict[int, list[dict]]) -> dict:
    def rate(select) -> dict:
        hits = [ok for f, (found, _) in per_frame.items() for ok, p in zip(found, labels[f]) if select(p)]
        return {'found': sum(hits), 'labelled': len(hits), 'recall': round(sum(hits) / max(len(hits), 1), 3)}
    return {'all': rate(lambda p: True), 'unoccluded': rate(lambda p: not p.get('occluded')),
            'on_grass': rate(lambda p: p.get('on_grass', False)),
            'extra_person_boxes': sum(extra for _, extra in per_frame.values())}


def rule_scores(flags: dict[int, bool], truth: dict[int, bool]) -> dict:
    tp = sum(flags[f] and truth[f] for f in truth)
    fp = sum(flags[f] and not truth[f] for f in truth)
    fn = sum(truth[f] and not flags[f] for f in truth)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {'frames': len(truth), 'positive': sum(truth.values()), 'tp': tp, 'fp': fp, 'fn': fn,
            'precision': round(precision, 3), 'recall': round(recall, 3), 'f1': round(f1, 3),
            'false_alarm_frames': sorted(f for f in truth if flags[f] and not truth[f]),
            'missed_frames': sorted(f for f in truth if truth[f] and not flags[f])}


def load_average() -> str:
    return ' '.join(f'{v:.2f}' for v in os.getloadavg())


class Contender:
    """One detector, its timings, and the pipelines (one per score threshold) fed with its detections."""

    def __init__(self, label: str, detector, params: dict, thresholds: tuple[float, ...]):
        self.label, self.detector = label, detector
        self.replay = Replay(detector.name, tuple(detector.class_names))
        self.pipelines = {t: build_pipeline({**params, 'score_threshold': t}, self.replay) for t in thresholds}
        self.times_ms: list[float] = []
        self.flags: dict[float, dict[int, bool]] = {t: {} for t in thresholds}
        self.people: dict[float, dict[int, tuple[list[bool], int]]] = {t: {} for t in thresholds}

    def step(self, index: int, frame: np.ndarray, labels: dict, truth: dict) -> None:
        t0 = time.perf_counter()
        detections = self.detector.detect(frame)
        self.times_ms.append((time.perf_counter() - t0) * 1000)
        self.replay.current = detections
        for threshold, pipeline in self.pipelines.items():
            result = pipeline.process(frame)
            if index in truth:
                self.flags[threshold][index] = result.is_anomalous
            if index in labels:
                self.people[threshold][index] = match_people(labels[index], detections, threshold)

    def report(self, labels: dict, truth: dict, warmup: int = 3) -> list[dict]:
        times = self.times_ms[warmup:]
        speed = {'median_ms': round(statistics.median(times), 1), 'mean_ms': round(statistics.fmean(times), 1),
                 'frames': len(times)}
        return [{'detector': self.label, 'name': self.detector.name, 'device': self.detector.device,
                 'score_threshold': t, 'person_recall': person_recall(self.people[t], labels),
                 'keep_off_the_grass': rule_scores(self.flags[t], truth), 'speed': speed}
                for t in self.pipelines]


def contenders(device: str, nanodet_variants: list[str]) -> list[Contender]:
    """HOG with the demo's settings, and NanoDet as each 'runner:precision' variant (e.g. auto:fp32, onnx:int8)."""
    params = vparams.read_params_file(str(DEMO_PARAMS))
    hog = HogPeopleDetector.from_params(vparams.resolve(params))
    from vad_ros.perception.nanodet.detector import NanoDetDetector
    found = [Contender('hog (demo settings)', hog, params, THRESHOLDS)]
    for variant in nanodet_variants:
        runner, _, precision = variant.partition(':')
        nanodet = NanoDetDetector(device=device, runner=runner, precision=precision or 'fp32')
        label = 'nanodet' if len(nanodet_variants) == 1 else f'nanodet {nanodet.runner} {nanodet.precision}'
        found.append(Contender(label, nanodet, params, THRESHOLDS))
    return found


def run(video: Path, device: str, nanodet_variants: list[str] = ('auto:fp32',)) -> dict:
    labels, truth = load_labels()
    runners = contenders(device, list(nanodet_variants))
    load_before = load_average()
    cap = cv2.VideoCapture(str(video))
    index = 0
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        for runner in runners:
            runner.step(index, frame, labels, truth)
        index += 1
    cap.release()
    import torch
    return {'video': str(video.relative_to(REPO)) if video.is_relative_to(REPO) else str(video),
            'frames': index, 'wall_s': round(time.perf_counter() - t0, 1),
            'machine': {'cpu_count': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
                        'platform': platform.platform(), 'processor': platform.processor() or platform.machine(),
                        'load_before': load_before, 'load_after': load_average(),
                        'cuda': torch.cuda.get_device_name(0) if device.startswith('cuda') else None},
            'results': [row for runner in runners for row in runner.report(labels, truth)]}


def markdown(report: dict) -> str:
    m = report['machine']
    lines = [f"# NanoDet vs HOG on {report['video']} ({report['frames']} frames, one run)", '',
             f"Machine: {m['cpu_count']} cores ({m['processor']}), torch threads {m['torch_threads']}"
             + (f", GPU {m['cuda']}" if m['cuda'] else '') + f"; load average before {m['load_before']}, "
             f"after {m['load_after']}; wall {report['wall_s']} s.", '',
             '| detector | score thr. | person recall (all) | unoccluded | on a lawn | extra person boxes | '
             'rule precision | rule recall | rule F1 | detect ms (median / mean) |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in report['results']:
        p, g, s = r['person_recall'], r['keep_off_the_grass'], r['speed']
        lines.append(f"| {r['detector']} | {r['score_threshold']} | {p['all']['found']}/{p['all']['labelled']} = "
                     f"{p['all']['recall']} | {p['unoccluded']['recall']} | {p['on_grass']['found']}/"
                     f"{p['on_grass']['labelled']} | {p['extra_person_boxes']} | {g['precision']} | {g['recall']} | "
                     f"{g['f1']} | {s['median_ms']} / {s['mean_ms']} |")
    lines += ['', 'Rule errors (frames): ' + '; '.join(
        f"{r['detector']} @ {r['score_threshold']}: false alarms {r['keep_off_the_grass']['false_alarm_frames']}, "
        f"missed {r['keep_off_the_grass']['missed_frames']}" for r in report['results']), '']
    return '\n'.join(lines)


def main() -> None:
    from vad_ros.host_memory import keep_freed_memory
    keep_freed_memory()                 # as the node and vad-video run (vad_ros/host_memory.py)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--video', default=str(REPO / 'data' / 'vtest.avi'))
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--nanodet', default='auto:fp32', help='NanoDet variants as runner:precision, comma-separated '
                    '(runner auto|onnx|torch, precision fp32|int8), e.g. onnx:fp32,onnx:int8,torch:fp32')
    ap.add_argument('--out', default=str(REPO / 'bench' / 'results_detectors'),
                    help='writes OUT.json and OUT.md')
    args = ap.parse_args()
    report = run(Path(args.video).resolve(), args.device, args.nanodet.split(','))
    Path(args.out + '.json').write_text(json.dumps(report, indent=1) + '\n')
    Path(args.out + '.md').write_text(markdown(report))
    print(markdown(report))


if __name__ == '__main__':
    main()
