"""The model path per stage, PyTorch (mmdet / mmseg) vs ONNX Runtime, on real frames of vtest.avi.

Models: RTMDet-tiny and SegFormer-B0 built from the configs shipped in mmdet / mmseg with random weights
(vad_ros.devtools.random_checkpoints), exported with vad-export; timing only, the outputs are meaningless.
Stages: prepare (frame -> network input on the device), network (the forward pass; the segmenter's includes
the argmax over classes), decode (detector: priors, boxes, score filter, NMS), to_host (copy to numpy and,
for the segmenter, the label map resized to the frame). Medians over --frames frames after 3 warm-up frames;
every frame goes through all backends in turn, each run after GAP_S of idle. The rows are the product paths
(what detector.backend: onnx / mmdet builds, with their session options and load-time speed-ups; the stages
are exactly detect() / segment()), plus PyTorch as loaded ('pytorch-plain': no load-time speed-ups), compiled
('pytorch-compiled': detector.compile / segmenter.compile, opt-in) and with the decoding forced to the package's ('pytorch-package-decode', deploy) or to
MMDetection's ('pytorch-mmdet-decode', config): the variants that are off by default; both runtimes get the same
frames, checkpoint and threads (torch's default and onnxruntime's default are both one thread per core here;
--threads N sets both). The process applies the node's memory setting (vad_ros/host_memory.py).
Detector settings: 'deploy' = the pipeline's score_threshold 0.3 inside the model (detector.keep_low_scores
false, the default); 'config' = the config's COCO test settings (score_thr 0.001, 30000 candidates; the
random head scores every anchor 0.0015, so NMS sees 8400 candidates, like a trained model's few thousand).

    python bench/bench_models.py [--frames 20] [--size 640x480] [--device cpu] [--threads N]
                                 [--out bench/results_models]
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
# Pause before each run. PyTorch's OpenMP threads spin-wait for a while after each parallel region; a run of
# the other runtime started right then shares the 2 cores with them (measured: ONNX Runtime RTMDet-tiny 57.5 ms
# alone, 60.5 ms right after a PyTorch op, 58.4 ms after one with OMP_WAIT_POLICY=PASSIVE). In a node, frames
# come at the camera's rate and each run starts from idle, so every run here does too.
GAP_S = 0.05


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
    """Stage timer for one frame; on a GPU it waits for the device before each reading."""

    def __init__(self, device: str):
        self.sync = lambda: None
        if device.startswith('cuda'):
            import torch
            self.sync = torch.cuda.synchronize
        self.stages: dict[str, float] = {}
        self.sync()
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        self.sync()
        now = time.perf_counter()
        self.stages[stage] = (now - self._t) * 1e3
        self._t = now


def torch_detector_frame(detector, frame, clock: Clock) -> None:
    inputs, samples = detector.prepare(frame)
    clock.lap('prepare')
    raw = detector.network(inputs, samples)
    clock.lap('network')
    pred = detector.decode(raw, samples)
    clock.lap('decode')
    detector.to_host(pred, frame)
    clock.lap('to_host')


def torch_segmenter_frame(segmenter, frame, clock: Clock) -> None:
    inputs, metas = segmenter.prepare(frame)
    clock.lap('prepare')
    labels = segmenter.network(inputs, metas)
    clock.lap('network')
    segmenter.to_host(labels, inputs, metas, frame)
    clock.lap('to_host')


def onnx_detector_frame(detector, frame, clock: Clock) -> None:
    blob = detector.prepare(frame)
    clock.lap('prepare')
    outputs = detector.run(blob)
    clock.lap('network')
    detector.decode(outputs, frame)
    clock.lap('decode')


def onnx_segmenter_frame(segmenter, frame, clock: Clock) -> None:
    blob = segmenter.prepare(frame)
    clock.lap('prepare')
    labels = segmenter.run(blob)[0]
    clock.lap('network')
    segmenter.to_frame(labels, blob, frame)
    clock.lap('to_host')


# 'pytorch' is the product's PyTorch path with its default variants (vad_ros/perception/openmmlab/backend.py PLAN: on
# CPU norms folded and channels-last memory; the package's decoding with the config's test settings);
# 'pytorch-plain' the same models as loaded (default layout, norms apart), as that path ran before them;
# 'pytorch-compiled' the product's path with detector.compile / segmenter.compile (torch.compile, opt-in);
# 'pytorch-package-decode' / 'pytorch-mmdet-decode' with the
# package's / MMDetection's decoding forced (variants that are off by default in some settings)
FRAME_TIMERS = {('pytorch', 'RTMDet-tiny'): torch_detector_frame, ('pytorch', 'SegFormer-B0'): torch_segmenter_frame,
                ('pytorch-plain', 'RTMDet-tiny'): torch_detector_frame,
                ('pytorch-plain', 'SegFormer-B0'): torch_segmenter_frame,
                ('pytorch-compiled', 'RTMDet-tiny'): torch_detector_frame,
                ('pytorch-mmdet-decode', 'RTMDet-tiny'): torch_detector_frame,
                ('pytorch-package-decode', 'RTMDet-tiny'): torch_detector_frame,
                ('pytorch-compiled', 'SegFormer-B0'): torch_segmenter_frame,
                ('onnxruntime', 'RTMDet-tiny'): onnx_detector_frame,
                ('onnxruntime', 'SegFormer-B0'): onnx_segmenter_frame}


def build_models(models_dir: str, device: str, threads: int,
                 frame_size: tuple[int, int] = (640, 480)) -> dict[str, object]:
    """The backends: {torch, onnx} x {detector deploy, detector config, segmenter}, PyTorch's detector (deploy)
    and segmenter as loaded (no load-time speed-ups), and compiled (torch.compile),
    and PyTorch's detector decoded by the package (deploy) and by MMDetection (config); threads: CPU threads of
    each (0 = each runtime's default); the ONNX files are exported for frames of frame_size."""
    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector
    from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter
    from vad_ros.perception.onnx.detector import OnnxDetector
    from vad_ros.perception.onnx.export import export
    from vad_ros.perception.onnx.segmenter import OnnxSegmenter

    dc, dk = make_random_checkpoint('det', models_dir)
    sc, sk = make_random_checkpoint('seg', models_dir)
    det_onnx, _ = export('detector', dc, dk, os.path.join(models_dir, 'det.onnx'), frame_size)
    seg_onnx, _ = export('segmenter', sc, sk, os.path.join(models_dir, 'seg.onnx'), frame_size)
    if threads:
        import torch
        torch.set_num_threads(threads)
    return {
        ('pytorch', 'RTMDet-tiny', 'deploy'): MMDetDetector(dc, dk, device, min_score=0.3),
        ('pytorch', 'RTMDet-tiny', 'config'): MMDetDetector(dc, dk, device),
        ('pytorch', 'SegFormer-B0', ''): MMSegSegmenter(sc, sk, device),
        ('pytorch-plain', 'RTMDet-tiny', 'deploy'): MMDetDetector(dc, dk, device, min_score=0.3, channels_last=False,
                                                                fold_norms=False),
        ('pytorch-plain', 'SegFormer-B0', ''): MMSegSegmenter(sc, sk, device, channels_last=False, fold_norms=False),
        ('pytorch-compiled', 'RTMDet-tiny', 'deploy'): MMDetDetector(dc, dk, device, min_score=0.3,
                                                                   compile_network=True),
        ('pytorch-package-decode', 'RTMDet-tiny', 'deploy'): MMDetDetector(dc, dk, device, min_score=0.3,
                                                                         package_decode=True),
        ('pytorch-mmdet-decode', 'RTMDet-tiny', 'config'): MMDetDetector(dc, dk, device, package_decode=False),
        ('pytorch-compiled', 'SegFormer-B0', ''): MMSegSegmenter(sc, sk, device, compile_network=True),
        ('onnxruntime', 'RTMDet-tiny', 'deploy'): OnnxDetector(det_onnx, device=device, threads=threads,
                                                               min_score=0.3),
        ('onnxruntime', 'RTMDet-tiny', 'config'): OnnxDetector(det_onnx, device=device, threads=threads),
        ('onnxruntime', 'SegFormer-B0', ''): OnnxSegmenter(seg_onnx, device=device, threads=threads),
    }


def measure(models: dict, frames: list[np.ndarray], device: str, gap_s: float = GAP_S) -> list[dict]:
    """Each frame goes through every backend in turn (interleaved, so that the load of other processes on a
    shared machine falls on all of them alike), each run starting from idle after gap_s (see GAP_S);
    medians per stage and of the total, and the best total."""
    samples: dict[tuple, list[dict[str, float]]] = {key: [] for key in models}
    for i, frame in enumerate(frames):
        for key, backend in models.items():
            time.sleep(gap_s)
            clock = Clock(device if key[0].startswith('pytorch') else 'cpu')
            FRAME_TIMERS[key[:2]](backend, frame, clock)
            if i >= WARMUP:
                samples[key].append(clock.stages)
    rows = []
    for (runtime, model, setting), runs in samples.items():
        t = {stage: statistics.median(r[stage] for r in runs) for stage in runs[0]}
        totals = [sum(r.values()) for r in runs]
        t.update(total=statistics.median(totals), best_total=min(totals),
                 overhead_pct=100 * statistics.median((sum(r.values()) - r['network']) / r['network'] for r in runs))
        rows.append({'runtime': runtime, 'model': model, 'setting': setting,
                     'device': models[(runtime, model, setting)].device, **t})
        print(f'{runtime} {model} {setting}: {t["total"]:.1f} ms', file=sys.stderr)
    return rows


def table(rows: list[dict]) -> list[str]:
    header = ('runtime', 'model', 'setting', 'device', 'prepare', 'network', 'decode', 'to_host', 'total',
              'best_total', 'overhead_pct')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in rows:
        cells = [f'{r[k]:.1f}' if isinstance(r.get(k), float) else str(r.get(k, '-')) for k in header]
        lines.append('| ' + ' | '.join(cells) + ' |')
    speed = {}
    for r in rows:
        speed.setdefault((r['model'], r['setting']), {})[r['runtime']] = r['total']
    lines.append('')
    for (model, setting), t in speed.items():
        if 'pytorch' in t and 'onnxruntime' in t:
            line = f'{model} {setting}: ONNX Runtime {t["pytorch"] / t["onnxruntime"]:.2f}x faster than PyTorch'
            if 'pytorch-plain' in t:
                line += (f' ({t["pytorch-plain"] / t["onnxruntime"]:.2f}x than PyTorch with the model as loaded; '
                         f'the load-time speed-ups made PyTorch {t["pytorch-plain"] / t["pytorch"]:.2f}x faster)')
            if 'pytorch-compiled' in t:
                line += (f'; compiled, PyTorch takes {t["pytorch-compiled"]:.1f} ms: '
                         f'{t["pytorch"] / t["pytorch-compiled"]:.2f}x faster than uncompiled, ONNX Runtime '
                         f'{t["pytorch-compiled"] / t["onnxruntime"]:.2f}x faster than it')
            lines.append(line)
    return lines


def load() -> str:
    return subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    from vad_ros.host_memory import keep_freed_memory
    keep_freed_memory()                 # as the node and vad-video run (vad_ros/host_memory.py)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=20)
    parser.add_argument('--size', default='640x480')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--gap-ms', type=float, default=GAP_S * 1e3,
                        help='idle pause before each run, so that no runtime meets the other one\'s spinning threads '
                             f'(default {GAP_S * 1e3:.0f}; 0: back to back)')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads per runtime (0: their defaults)')
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_models'))
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split('x'))
    frames = frames_of(args.frames + WARMUP, size)
    models = build_models(tempfile.mkdtemp(prefix='vad_bench_models_'), args.device, args.threads, size)
    before = load()
    rows = measure(models, frames, args.device, args.gap_ms / 1e3)
    after = load()
    import torch
    lines = [f'{args.size}, {len(frames) - WARMUP} frames, device {args.device}, threads: torch '
             f'{torch.get_num_threads()}, onnxruntime {args.threads or "default"}; {args.gap_ms:.0f} ms idle before '
             f'each run; load before: {before}; '
             f'after: {after}', ''] + table(rows)
    print('\n'.join(lines))
    Path(args.out).with_suffix('.md').write_text('\n'.join(lines) + '\n')
    Path(args.out).with_suffix('.json').write_text(json.dumps(
        {'machine': platform.platform(), 'size': args.size, 'threads': args.threads, 'gap_ms': args.gap_ms,
         'frames': len(frames) - WARMUP, 'load_before': before,
         'load_after': after, 'results': rows}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
