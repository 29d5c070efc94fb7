"""1 vs 4 cameras through one set of models: frames per second per camera and peak memory.

Each configuration runs in its own process (peak RSS is per process), the way vad_node serves cameras: one
detector and one segmenter shared by N per-camera pipelines (own scene map state, tracker, events), and each
round the newest frame of every camera goes through one detector call (pipeline.detect_all: one batched
forward pass where the detector has detect_batch) and then each camera's pipeline. For comparison,
"one by one" calls detect() per camera on the shared detector, and "separate" loads one set of models per camera
in the same process, which is what N vad_node processes (the old cameras:= behaviour) cost in memory at least.

    python bench/bench_cameras.py [--rounds 12] [--models default|mm|onnx] [--no-segmenter] [--out ...json]

`default` is config/demo_vtest.yaml's perception (the embedded default); `mm` is RTMDet-tiny + SegFormer-B0 with
random weights built from the shipped configs (timing only), `onnx` the same two exported with vad-export and
run by ONNX Runtime (exported once by this process; the measured processes import no torch). --no-segmenter
leaves the segmenter out (the detector's share). Frames: vtest.avi, a different frame per camera.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (getrusage's ru_maxrss would carry the parent's peak across
    fork + exec, e.g. that of the torch export in the parent)."""
    try:
        with open('/proc/self/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_rounds(one_round, rounds: int, warmup: int) -> float:
    """Seconds that `rounds` calls one_round(r) take, after `warmup` calls that are not timed."""
    for r in range(warmup):
        one_round(r)
    start = time.perf_counter()
    for r in range(warmup, warmup + rounds):
        one_round(r)
    return time.perf_counter() - start


def export_onnx(tmp: str) -> dict:
    """RTMDet-tiny + SegFormer-B0 with random weights, exported with vad-export: the onnx params."""
    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    from vad_ros.perception.onnx.export import export
    det, _ = export('detector', *make_random_checkpoint('det', tmp), os.path.join(tmp, 'det.onnx'))
    seg, _ = export('segmenter', *make_random_checkpoint('seg', tmp), os.path.join(tmp, 'seg.onnx'))
    return {'detector.backend': 'onnx', 'detector.checkpoint': det, 'detector.config': '',
            'segmenter.backend': 'onnx', 'segmenter.checkpoint': seg, 'segmenter.config': '',
            'detector.device': 'cpu', 'segmenter.device': 'cpu'}


def params_for(models: str, tmp: str, onnx_params: str = '', segmenter: bool = True) -> dict:
    from vad_ros import params as vparams
    base = vparams.read_params_file(str(REPO / 'config' / 'demo_vtest.yaml'))
    if models == 'mm':
        from vad_ros.devtools.random_checkpoints import make_random_checkpoint
        det_config, det_checkpoint = make_random_checkpoint('det', tmp)
        seg_config, seg_checkpoint = make_random_checkpoint('seg', tmp)
        base.update({'detector.backend': 'mmdet', 'detector.config': det_config, 'detector.checkpoint': det_checkpoint,
                     'segmenter.backend': 'mmseg', 'segmenter.config': seg_config,
                     'segmenter.checkpoint': seg_checkpoint, 'detector.device': 'cpu', 'segmenter.device': 'cpu'})
    elif models == 'onnx':
        base.update(json.loads(onnx_params))
    if not segmenter:
        base['segmenter.backend'] = 'none'
    return vparams.resolve(base)


def run_one(cameras: int, mode: str, models: str, rounds: int, onnx_params: str = '',
            segmenter: bool = True) -> dict:
    """In this process: build, warm up, time `rounds` rounds; report per-camera fps and peak RSS.
    mode: 'batch' (shared models, detect_all), 'single' (shared models, detect() per camera), 'separate'."""
    import cv2
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.pipeline import build_pipeline, detect_all
    params = params_for(models, tempfile.mkdtemp(), onnx_params, segmenter)
    shared = mode != 'separate'
    cap = cv2.VideoCapture(str(REPO / 'data' / 'vtest.avi'))
    frames = []
    while len(frames) < 4 * (rounds + 2):
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    model_sets = [(build_detector(params), build_segmenter(params)) for _ in range(1 if shared else cameras)]
    pipelines = [build_pipeline(params, *model_sets[i % len(model_sets)]) for i in range(cameras)]

    def one_round(r: int) -> None:
        images = [frames[(r * 4 + c) % len(frames)] for c in range(cameras)]
        if shared:
            detector = pipelines[0].detector
            found = (detect_all(detector, images) if mode == 'batch' else [detector.detect(i) for i in images])
            for pipeline, image, detections in zip(pipelines, images, found):
                pipeline.process(image, detections=detections)
        else:
            for pipeline, image in zip(pipelines, images):
                pipeline.process(image)

    seconds = timed_rounds(one_round, rounds, warmup=2)
    return {'cameras': cameras, 'shared_models': shared, 'mode': mode, 'models': models, 'rounds': rounds,
            'batched': mode == 'batch' and hasattr(pipelines[0].detector, 'detect_batch') and cameras > 1,
            'round_ms': 1e3 * seconds / rounds, 'fps_per_camera': rounds / seconds,
            'fps_total': cameras * rounds / seconds,
            'peak_rss_mb': peak_rss_mb(),
            'detector': pipelines[0].detector.name,
            'segmenter': pipelines[0].segmenter.name if pipelines[0].segmenter else 'none'}


def main() -> int:
    from vad_ros.host_memory import keep_freed_memory
    keep_freed_memory()                 # as the node and vad-video run (vad_ros/host_memory.py)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rounds', type=int, default=12)
    parser.add_argument('--models', default='default', choices=('default', 'mm', 'onnx'))
    parser.add_argument('--no-segmenter', action='store_true', help='no segmenter (the detector only)')
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_cameras.json'))
    parser.add_argument('--one', help=argparse.SUPPRESS)      # internal: run one configuration, print JSON
    parser.add_argument('--onnx-params', default='', help=argparse.SUPPRESS)
    args = parser.parse_args()
    segmenter = not args.no_segmenter
    if args.one:
        cameras, mode = args.one.split(':')
        print(json.dumps(run_one(int(cameras), mode, args.models, args.rounds, args.onnx_params, segmenter)))
        return 0
    onnx_params = json.dumps(export_onnx(tempfile.mkdtemp())) if args.models == 'onnx' else ''
    rows = []
    loads = [os.getloadavg()]
    for cameras, mode in ((1, 'batch'), (4, 'batch'), (4, 'single'), (4, 'separate')):
        out = subprocess.run([sys.executable, __file__, '--one', f'{cameras}:{mode}', '--models', args.models,
                              '--rounds', str(args.rounds), '--onnx-params', onnx_params]
                             + (['--no-segmenter'] if args.no_segmenter else []),
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        loads.append(os.getloadavg())
        print(rows[-1], flush=True)
    report = {'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores',
              'load_avg_1_5_15': [round(x, 2) for x in loads[-1]],
              'load_avg_1min_before_each_and_after': [round(x[0], 2) for x in loads], 'rows': rows}
    Path(args.out).write_text(json.dumps(report, indent=2) + '\n')
    mode_names = {'batch': 'one set, shared, detect_all', 'single': 'one set, shared, detect() per camera',
                  'separate': 'one set per camera'}
    lines = [f'# 1 vs 4 cameras, models: {args.models} ({rows[0]["detector"]} + {rows[0]["segmenter"]})', '',
             f'Machine: {report["machine"]}; load average (1 min) before each configuration and after: '
             f'{report["load_avg_1min_before_each_and_after"]}.', '',
             '| cameras | models | batched forward pass | round ms | fps per camera | fps total | peak RSS MB |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        lines.append(f"| {r['cameras']} | {mode_names[r['mode']]} | {'yes' if r['batched'] else 'no'} | "
                     f"{r['round_ms']:.0f} | {r['fps_per_camera']:.2f} | {r['fps_total']:.2f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    Path(args.out).with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
