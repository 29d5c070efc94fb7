"""The model path per stage, PyTorch (mmdet / mmseg) vs ONNX Runtime, on real frames of vtest.avi.

Models: RTMDet-tiny and SegFormer-B0 built from the configs shipped in mmdet / mmseg with random weights
(vad_ros.devtools.random_checkpoints), exported with vad-export; timing only, the outputs are meaningless.
Stages: prepare (frame -> network input on the device), network (the forward pass; the segmenter's includes
the argmax over classes), decode (detector: priors, boxes, score filter, NMS), to_host (copy to numpy and,
for the segmenter, the label map resized to the frame). Medians over --frames frames after 3 warm-up frames.
Detector settings: 'deploy' = the pipeline's score_threshold 0.3 inside the model (detector.keep_low_scores
false, the default); 'config' = the config's COCO test settings (score_thr 0.001, 30000 candidates; the
random head scores every anchor 0.0015, so NMS sees 8400 candidates, like a trained model's few thousand).

    python bench/bench_models.py [--frames 20] [--size 640x480] [--device cpu] [--out bench/results_models]
"""
from __future__ import annotations

import argparse
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

WARMUP = 3


def frames_of(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(REPO / 'data' / 'vtest.avi'))
    out, i = [], 0
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        if i % 20 == 0:
            out.append(cv2.resize(frame, size))
        i += 1
    return out


class Clock:
    """Stage timer; on a GPU it waits for the device before each reading."""

    def __init__(self, device: str):
        self.sync = lambda: None
        if device.startswith('cuda'):
            import torch
            self.sync = torch.cuda.synchronize
        self.samples: dict[str, list[float]] = {}
        self._t = 0.0

    def start(self) -> None:
        self.sync()
        self._t = time.perf_counter()

    def lap(self, stage: str, keep: bool) -> None:
        self.sync()
        now = time.perf_counter()
        if keep:
            self.samples.setdefault(stage, []).append((now - self._t) * 1e3)
        self._t = now

    def medians(self) -> dict[str, float]:
        out = {k: statistics.median(v) for k, v in self.samples.items()}
        out['total'] = statistics.median([sum(s) for s in zip(*self.samples.values())])
        return out


def time_torch_detector(detector, frames, device) -> dict[str, float]:
    clock = Clock(device)
    for i, frame in enumerate(frames):
        keep = i >= WARMUP
        clock.start()
        inputs, samples = detector.prepare(frame)
        clock.lap('prepare', keep)
        raw = detector.network(inputs, samples)
        clock.lap('network', keep)
        pred = detector.decode(raw, samples)
        clock.lap('decode', keep)
        detector.to_host(pred, frame)
        clock.lap('to_host', keep)
    return clock.medians()


def time_torch_segmenter(segmenter, frames, device) -> dict[str, float]:
    clock = Clock(device)
    for i, frame in enumerate(frames):
        keep = i >= WARMUP
        clock.start()
        inputs, metas = segmenter.prepare(frame)
        clock.lap('prepare', keep)
        labels = segmenter.network(inputs, metas)
        clock.lap('network', keep)
        segmenter.to_host(labels, inputs, metas, frame)
        clock.lap('to_host', keep)
    return clock.medians()


def time_onnx_detector(detector, frames) -> dict[str, float]:
    clock = Clock('cpu')
    for i, frame in enumerate(frames):
        keep = i >= WARMUP
        clock.start()
        blob = detector.prepare(frame)
        clock.lap('prepare', keep)
        outputs = detector.run(blob)
        clock.lap('network', keep)
        detector.decode(outputs, frame)
        clock.lap('decode', keep)
    return clock.medians()


def time_onnx_segmenter(segmenter, frames) -> dict[str, float]:
    clock = Clock('cpu')
    for i, frame in enumerate(frames):
        keep = i >= WARMUP
        clock.start()
        blob = segmenter.prepare(frame)
        clock.lap('prepare', keep)
        labels = segmenter.run(blob)[0]
        clock.lap('network', keep)
        segmenter.to_frame(labels, blob, frame)
        clock.lap('to_host', keep)
    return clock.medians()


def build_models(models_dir: str, device: str) -> dict[str, object]:
    """The eight backends: {torch, onnx} x {detector deploy, detector config, segmenter}."""
    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    from vad_ros.perception.mmdet_detector import MMDetDetector
    from vad_ros.perception.mmseg_segmenter import MMSegSegmenter
    from vad_ros.perception.onnx_detector import OnnxDetector
    from vad_ros.perception.onnx_export import export
    from vad_ros.perception.onnx_segmenter import OnnxSegmenter

    dc, dk = make_random_checkpoint('det', models_dir)
    sc, sk = make_random_checkpoint('seg', models_dir)
    det_onnx, _ = export('detector', dc, dk, os.path.join(models_dir, 'det.onnx'))
    seg_onnx, _ = export('segmenter', sc, sk, os.path.join(models_dir, 'seg.onnx'))
    onnx_device = 'cpu' if device == 'cpu' else device
    return {
        ('pytorch', 'RTMDet-tiny', 'deploy'): MMDetDetector(dc, dk, device, min_score=0.3),
        ('pytorch', 'RTMDet-tiny', 'config'): MMDetDetector(dc, dk, device),
        ('pytorch', 'SegFormer-B0', ''): MMSegSegmenter(sc, sk, device),
        ('onnxruntime', 'RTMDet-tiny', 'deploy'): OnnxDetector(det_onnx, device=onnx_device, min_score=0.3),
        ('onnxruntime', 'RTMDet-tiny', 'config'): OnnxDetector(det_onnx, device=onnx_device),
        ('onnxruntime', 'SegFormer-B0', ''): OnnxSegmenter(seg_onnx, device=onnx_device),
    }


def measure(models: dict, frames: list[np.ndarray], device: str) -> list[dict]:
    rows = []
    for (runtime, model, setting), backend in models.items():
        if runtime == 'pytorch':
            timer = time_torch_detector if model.startswith('RTMDet') else time_torch_segmenter
            t = timer(backend, frames, device)
        else:
            t = (time_onnx_detector if model.startswith('RTMDet') else time_onnx_segmenter)(backend, frames)
        t['overhead_pct'] = 100 * (t['total'] - t['network']) / t['network']
        rows.append({'runtime': runtime, 'model': model, 'setting': setting, 'device': backend.device, **t})
        print(f'{runtime} {model} {setting}: {t["total"]:.1f} ms', file=sys.stderr)
    return rows


def table(rows: list[dict]) -> list[str]:
    header = ('runtime', 'model', 'setting', 'device', 'prepare', 'network', 'decode', 'to_host', 'total',
              'overhead_pct')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in rows:
        cells = [f'{r[k]:.1f}' if isinstance(r.get(k), float) else str(r.get(k, '-')) for k in header]
        lines.append('| ' + ' | '.join(cells) + ' |')
    speed = {}
    for r in rows:
        speed.setdefault((r['model'], r['setting']), {})[r['runtime']] = r['total']
    lines.append('')
    for (model, setting), t in speed.items():
        if len(t) == 2:
            lines.append(f'{model} {setting}: ONNX Runtime {t["pytorch"] / t["onnxruntime"]:.2f}x faster than PyTorch')
    return lines


def load() -> str:
    return subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=20)
    parser.add_argument('--size', default='640x480')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_models'))
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split('x'))
    frames = frames_of(args.frames + WARMUP, size)
    models = build_models(tempfile.mkdtemp(prefix='vad_bench_models_'), args.device)
    before = load()
    rows = measure(models, frames, args.device)
    after = load()
    lines = [f'{args.size}, {len(frames) - WARMUP} frames, device {args.device}; load before: {before}; '
             f'after: {after}', ''] + table(rows)
    print('\n'.join(lines))
    Path(args.out).with_suffix('.md').write_text('\n'.join(lines) + '\n')
    Path(args.out).with_suffix('.json').write_text(json.dumps(
        {'machine': platform.platform(), 'size': args.size, 'frames': len(frames) - WARMUP, 'load_before': before,
         'load_after': after, 'results': rows}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
