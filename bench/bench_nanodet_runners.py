"""The default pipeline (config/demo_vtest.yaml: NanoDet + the vtest scene map + the keep-off-the-grass rule) with
each NanoDet runner, in one run on the same frames: the torch pipeline of commit BASELINE (issue 25's reference)
and of LATER (the same with the compiled NMS), their nanodet.py loaded from git; the torch runner of today (lean
pre/post-processing), ONNX Runtime float32 (the default), the same with the ONNX file as exported before
nanodet_onnx.streamline() rewrites it ('plain export'), and int8. Speed-ups are against BASELINE.

Per variant, per frame (variants take turns in blocks of --block frames, so that load from other processes hits
all alike, and a runner's thread pool, still spinning after its last run, slows only the first frame of the next
variant's block; every variant sees every frame):
pre-processing, network, decoding + NMS ('post'), the detector's whole call, the scene map ('segment'), the
reasoning, and the pipeline's total; reported as medians over --frames frames after --warmup. Detections of each
variant are compared with the baseline's frame by frame: 'equal' = the same detections one to one (same label, box
within 1 px, score within 1e-3) (float32 variants must be equal on every frame); for int8 the share of the baseline's
detections at score >= 0.4 matched (same label, IoU >= 0.5) and the extra ones.

    python bench/bench_nanodet_runners.py [--frames 200] [--warmup 5] [--device cpu|cuda:0]
                                          [--out bench/results_nanodet_runners]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vad_ros import params as vparams  # noqa: E402
from vad_ros.boxes import iou_matrix  # noqa: E402
from vad_ros.perception.base import PerceptionError  # noqa: E402
from vad_ros.pipeline import build_pipeline  # noqa: E402
from vad_ros.types import Detections  # noqa: E402

DEMO_PARAMS = REPO / 'config' / 'demo_vtest.yaml'
BASELINE = 'b950450'          # issue 25's reference: NanoDet on torch, NMS on an IoU matrix in numpy
LATER = '17636fb'             # the last commit before the ONNX runner: BASELINE with the compiled NMS
FPS = 10.0
STAGES = ('pre', 'network', 'post', 'detect', 'segment', 'reason', 'total')


MOVED = {'vad_ros.reasoning.vocabulary': 'vad_ros.vocabulary',      # modules the old nanodet.py imports, moved since
         'vad_ros.perception.tfjs_graph': 'vad_ros.perception.nanodet.tfjs_graph',
         'vad_ros.perception.nms': 'vad_ros.perception.dense'}


def baseline_module(commit: str):
    """nanodet.py of a commit, loaded from git as a module (it imports today's tfjs_graph, nms and types; moved
    modules under their old names)."""
    for old, new in MOVED.items():
        if importlib.util.find_spec(old.rpartition('.')[0]) and old not in sys.modules:
            try:
                importlib.import_module(old)
            except ImportError:
                sys.modules[old] = importlib.import_module(new)
    source = subprocess.run(['git', '-C', str(REPO), 'show', f'{commit}:vad_ros/perception/nanodet.py'],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / f'nanodet_{commit}.py'
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f'nanodet_{commit}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TimedBaseline:
    """The baseline detector, with its stages timed from outside: network = graph.run, pre = raw_outputs
    without the network, post = the rest of detect."""

    def __init__(self, detector):
        self.detector, self.name, self.device = detector, detector.name, detector.device
        self.class_names = detector.class_names
        self.stage_ms = {}
        run, raw = detector.graph.run, detector.raw_outputs

        def timed_run(*args, **kwargs):
            t = time.perf_counter()
            out = run(*args, **kwargs)
            self.stage_ms['network'] = (time.perf_counter() - t) * 1e3
            return out

        def timed_raw(*args, **kwargs):
            t = time.perf_counter()
            out = raw(*args, **kwargs)
            self.stage_ms['raw'] = (time.perf_counter() - t) * 1e3
            return out
        detector.graph.run, detector.raw_outputs = timed_run, timed_raw

    def detect(self, image):
        t = time.perf_counter()
        found = self.detector.detect(image)
        whole = (time.perf_counter() - t) * 1e3
        self.stage_ms = {'pre': self.stage_ms['raw'] - self.stage_ms['network'], 'network': self.stage_ms['network'],
                         'post': whole - self.stage_ms['raw']}
        return found


class Recording:
    """A detector that keeps its last detections (the pipeline's result does not carry them)."""

    def __init__(self, detector):
        self.detector, self.name, self.device = detector, detector.name, detector.device
        self.class_names = detector.class_names
        self.runner = getattr(detector, 'runner', 'torch')
        self.precision = getattr(detector, 'precision', 'fp32')
        self.last = None

    @property
    def stage_ms(self) -> dict:
        return self.detector.stage_ms

    def detect(self, image):
        self.last = self.detector.detect(image)
        return self.last


def variants(device: str) -> dict:
    from vad_ros.perception.nanodet.detector import NanoDetDetector
    built = {}
    for commit in (BASELINE, LATER):
        try:
            built[f'torch @{commit}'] = TimedBaseline(baseline_module(commit).NanoDetDetector(device=device))
        except (OSError, subprocess.CalledProcessError) as e:   # a copy without .git (the GPU machine's)
            print(f'torch @{commit}: skipped, no git history here ({e}); speed-ups are against the first row',
                  file=sys.stderr)
    for key, runner, precision in (('torch runner', 'torch', 'fp32'), ('onnx fp32 (default)', 'auto', 'fp32'),
                                   ('onnx int8', 'onnx', 'int8')):
        try:
            built[key] = NanoDetDetector(device=device, runner=runner, precision=precision)
        except PerceptionError as e:          # e.g. onnx on a GPU without onnxruntime-gpu
            print(f'{key}: skipped ({e})', file=sys.stderr)
    if device == 'cpu' and 'onnx fp32 (default)' in built:
        built['onnx fp32, plain export'] = plain_export_detector(device)
    return {key: Recording(detector) for key, detector in built.items()}


def plain_export_detector(device: str):
    """The default detector with the ONNX file as exported before streamlining (nanodet_onnx.streamline): what
    the rewrites of the graph gain."""
    from vad_ros.perception.onnx import runtime as onnx_runtime
    from vad_ros.perception.nanodet.detector import NanoDetDetector
    from vad_ros.perception.nanodet.onnx_file import export_fp32
    detector = NanoDetDetector(device=device, runner='onnx')
    path = os.path.join(tempfile.mkdtemp(), 'nanodet-plain.onnx')
    export_fp32(detector.model_path, path, streamlined=False)
    detector.network.session = onnx_runtime.start_session('detector', 'cpu', False, path)[2]
    return detector


def frames_of(n: int, start: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(REPO / 'data' / 'vtest.avi'))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    if len(out) < n:
        sys.exit(f'data/vtest.avi has {start + len(out)} frames; asked for {n} from {start}')
    return out


def equal(a: Detections, b: Detections) -> bool:
    """The same detections in any order (two with equal scores may swap): one to one, same label, box within
    1 px, score within 1e-3."""
    if len(a) != len(b):
        return False
    free = np.ones(len(b), bool)
    for box, label, score in zip(a.boxes, a.labels, a.scores):
        fits = free & (b.labels == label) & (np.abs(b.scores - score) <= 1e-3) & \
            (np.abs(b.boxes - box).max(axis=1, initial=0) <= 1.0)
        if not fits.any():
            return False
        free[np.argmax(fits)] = False
    return True


def agreement(reference, other, min_score: float = 0.4, min_iou: float = 0.5) -> tuple[int, int, int]:
    """The accuracy check of a lower-precision runner against float32 on one frame: (reference detections with
    score >= min_score, how many of them `other` matches one to one (same label, IoU >= min_iou, best IoU first),
    detections of `other` with score >= min_score that match none). Detections objects of vad_ros.types."""
    ref, oth = reference.scores >= min_score, other.scores >= min_score
    ref_boxes, ref_labels = reference.boxes[ref], reference.labels[ref]
    other_boxes, other_labels = other.boxes[oth], other.labels[oth]
    if not len(ref_boxes) or not len(other_boxes):
        return len(ref_boxes), 0, len(other_boxes)
    iou = iou_matrix(ref_boxes, other_boxes) * (ref_labels[:, None] == other_labels[None, :])
    pairs = sorted(zip(*np.nonzero(iou >= min_iou)), key=lambda pair: -iou[pair])
    used_ref, used_other = set(), set()
    for r, o in pairs:
        if r not in used_ref and o not in used_other:
            used_ref.add(r)
            used_other.add(o)
    return len(ref_boxes), len(used_ref), len(other_boxes) - len(used_other)



def run(frame_count: int, warmup: int, start: int, device: str = 'cpu', block: int = 10) -> dict:
    params = vparams.read_params_file(str(DEMO_PARAMS))
    detectors = variants(device)
    pipelines = {k: build_pipeline(params, d) for k, d in detectors.items()}
    frames = frames_of(frame_count + warmup, start)
    samples = {k: {s: [] for s in STAGES} for k in detectors}
    compare = {k: {'equal_frames': 0, 'reference': 0, 'matched': 0, 'extra': 0} for k in detectors}
    load_before = ' '.join(f'{v:.2f}' for v in os.getloadavg())
    t0 = time.perf_counter()
    baseline = next(iter(detectors))
    found: dict[str, list] = {key: [None] * len(frames) for key in detectors}
    for first in range(0, len(frames), block):
        for key, pipeline in pipelines.items():
            for i in range(first, min(first + block, len(frames))):
                t = time.perf_counter()
                result = pipeline.process(frames[i], stamp=i / FPS)
                total = (time.perf_counter() - t) * 1e3
                found[key][i] = detectors[key].last
                if i < warmup:
                    continue
                stage = detectors[key].stage_ms
                for name, value in (('pre', stage['pre']), ('network', stage['network']), ('post', stage['post']),
                                    ('detect', result.timings_ms['detect']),
                                    ('segment', result.timings_ms['segment']),
                                    ('reason', result.timings_ms['reason']), ('total', total)):
                    samples[key][name].append(value)
    for i in range(warmup, len(frames)):
        for key in detectors:
            c = compare[key]
            c['equal_frames'] += equal(found[key][i], found[baseline][i])
            ref, matched, extra = agreement(found[baseline][i], found[key][i])
            c['reference'] += ref
            c['matched'] += matched
            c['extra'] += extra
    rows = []
    base_total = statistics.median(samples[baseline]['total'])
    for key, detector in detectors.items():
        med = {s: round(statistics.median(v), 2) for s, v in samples[key].items()}
        c = compare[key]
        rows.append({'variant': key, 'device': detector.device, 'runner': getattr(detector, 'runner', 'torch'),
                     'precision': getattr(detector, 'precision', 'fp32'), 'median_ms': med,
                     'mean_total_ms': round(statistics.fmean(samples[key]['total']), 2),
                     'fps': round(1e3 / med['total'], 1), 'speedup_vs_baseline': round(base_total / med['total'], 2),
                     'pre_post_pct_of_network': round(100 * (med['pre'] + med['post']) / med['network'], 1),
                     'equal_frames': c['equal_frames'], 'frames': frame_count,
                     'baseline_detections_at_0.4': c['reference'], 'matched': c['matched'], 'extra': c['extra']})
    import torch
    try:
        import onnxruntime
        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = 'not installed'
    return {'frames': frame_count, 'warmup': warmup, 'block': block, 'start_frame': start, 'frame_size': list(frames[0].shape[1::-1]),
            'params': str(DEMO_PARAMS.relative_to(REPO)), 'wall_s': round(time.perf_counter() - t0, 1),
            'machine': {'cpu_count': os.cpu_count(), 'processor': platform.processor() or platform.machine(),
                        'platform': platform.platform(), 'torch': torch.__version__, 'torch_threads':
                        torch.get_num_threads(), 'onnxruntime': ort_version,
                        'cuda': torch.cuda.get_device_name(0) if device.startswith('cuda') else None,
                        'load_before': load_before, 'load_after': ' '.join(f'{v:.2f}' for v in os.getloadavg())},
            'results': rows}


def markdown(report: dict) -> str:
    m = report['machine']
    w, h = report['frame_size']
    lines = [f"# NanoDet runners in the default pipeline ({report['params']}), vtest.avi {w}x{h}, "
             f"{report['frames']} frames from {report['start_frame']}, one run", '',
             f"Machine: {m['cpu_count']} cores ({m['processor']}), torch {m['torch']} ({m['torch_threads']} threads), "
             f"onnxruntime {m['onnxruntime']}" + (f", GPU {m['cuda']}" if m.get('cuda') else '') +
             f"; load average before {m['load_before']}, after {m['load_after']} "
             f"(shared machine); wall {report['wall_s']} s. Medians in ms.", '',
             '| variant | pre | network | post | detect | scene map | reason | total | fps | speed-up | '
             '(pre+post)/network | equal frames | baseline dets >= 0.4 matched | extra |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in report['results']:
        d = r['median_ms']
        lines.append(f"| {r['variant']} | {d['pre']} | {d['network']} | {d['post']} | {d['detect']} | "
                     f"{d['segment']} | {d['reason']} | {d['total']} | {r['fps']} | {r['speedup_vs_baseline']}x | "
                     f"{r['pre_post_pct_of_network']} % | {r['equal_frames']}/{r['frames']} | "
                     f"{r['matched']}/{r['baseline_detections_at_0.4']} | {r['extra']} |")
    return '\n'.join(lines) + '\n'


def main() -> None:
    from vad_ros.host_memory import keep_freed_memory
    keep_freed_memory()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--frames', type=int, default=200)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--start', type=int, default=400, help='first frame of vtest.avi')
    ap.add_argument('--block', type=int, default=10, help='frames each variant runs in a row')
    ap.add_argument('--device', default='cpu', help='cpu, or cuda:0 (onnx on the GPU needs onnxruntime-gpu)')
    ap.add_argument('--out', default=str(REPO / 'bench' / 'results_nanodet_runners'), help='writes OUT.json, OUT.md')
    args = ap.parse_args()
    report = run(args.frames, args.warmup, args.start, args.device, args.block)
    Path(args.out + '.json').write_text(json.dumps(report, indent=1) + '\n')
    Path(args.out + '.md').write_text(markdown(report))
    print(markdown(report))


if __name__ == '__main__':
    main()
