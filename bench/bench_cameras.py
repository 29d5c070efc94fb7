"""1 vs 4 cameras through one set of models: frames per second per camera and peak memory.

Each configuration runs in its own process (peak RSS is per process), the way vad_node serves cameras: one
detector and one segmenter shared by N per-camera pipelines (own scene map state, tracker, events), and each
round the newest frame of every camera goes through one detector pass (pipeline.detect_all) and then each
camera's pipeline. For comparison, "separate" loads one set of models per camera in the same process, which is
what N vad_node processes (the old cameras:= behaviour) cost in memory at least.

    python bench/bench_cameras.py [--rounds 12] [--models default|mm] [--out bench/results_cameras.json]

`default` is config/demo_vtest.yaml's perception (the embedded default); `mm` is RTMDet-tiny + SegFormer-B0 with
random weights built from the shipped configs (timing only). Frames: vtest.avi, a different frame per camera.
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


def params_for(models: str, tmp: str) -> dict:
    from vad_ros import params as vparams
    base = vparams.read_params_file(str(REPO / 'config' / 'demo_vtest.yaml'))
    if models == 'mm':
        from vad_ros.devtools.random_checkpoints import make_random_checkpoint
        det_config, det_checkpoint = make_random_checkpoint('det', tmp)
        seg_config, seg_checkpoint = make_random_checkpoint('seg', tmp)
        base.update({'detector.backend': 'mmdet', 'detector.config': det_config, 'detector.checkpoint': det_checkpoint,
                     'segmenter.backend': 'mmseg', 'segmenter.config': seg_config,
                     'segmenter.checkpoint': seg_checkpoint, 'detector.device': 'cpu', 'segmenter.device': 'cpu'})
    return vparams.resolve(base)


def run_one(cameras: int, shared: bool, models: str, rounds: int) -> dict:
    """In this process: build, warm up, time `rounds` rounds; report per-camera fps and peak RSS."""
    import cv2
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.pipeline import build_pipeline, detect_all
    params = params_for(models, tempfile.mkdtemp())
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
            found = detect_all(pipelines[0].detector, images)
            for pipeline, image, detections in zip(pipelines, images, found):
                pipeline.process(image, detections=detections)
        else:
            for pipeline, image in zip(pipelines, images):
                pipeline.process(image)

    for r in range(2):
        one_round(r)
    start = time.perf_counter()
    for r in range(2, rounds + 2):
        one_round(r)
    seconds = time.perf_counter() - start
    return {'cameras': cameras, 'shared_models': shared, 'models': models, 'rounds': rounds,
            'round_ms': 1e3 * seconds / rounds, 'fps_per_camera': rounds / seconds,
            'fps_total': cameras * rounds / seconds,
            'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            'detector': pipelines[0].detector.name,
            'segmenter': pipelines[0].segmenter.name if pipelines[0].segmenter else 'none'}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rounds', type=int, default=12)
    parser.add_argument('--models', default='default', choices=('default', 'mm'))
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_cameras.json'))
    parser.add_argument('--one', help=argparse.SUPPRESS)      # internal: run one configuration, print JSON
    args = parser.parse_args()
    if args.one:
        cameras, shared = args.one.split(':')
        print(json.dumps(run_one(int(cameras), shared == 'shared', args.models, args.rounds)))
        return 0
    rows = []
    for cameras, shared in ((1, True), (4, True), (4, False)):
        out = subprocess.run([sys.executable, __file__, '--one', f'{cameras}:{"shared" if shared else "separate"}',
                              '--models', args.models, '--rounds', str(args.rounds)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    load = os.getloadavg()
    report = {'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores',
              'load_avg_1_5_15': [round(x, 2) for x in load], 'rows': rows}
    Path(args.out).write_text(json.dumps(report, indent=2) + '\n')
    lines = [f'# 1 vs 4 cameras, models: {args.models} ({rows[0]["detector"]} + {rows[0]["segmenter"]})', '',
             f'Machine: {report["machine"]}; load average during the run {report["load_avg_1_5_15"]}.', '',
             '| cameras | models | round ms | fps per camera | fps total | peak RSS MB |',
             '| --- | --- | --- | --- | --- | --- |']
    for r in rows:
        lines.append(f"| {r['cameras']} | {'one set, shared' if r['shared_models'] else 'one set per camera'} | "
                     f"{r['round_ms']:.0f} | {r['fps_per_camera']:.2f} | {r['fps_total']:.2f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    Path(args.out).with_suffix('.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
