"""The model path on a GPU: real-size detector + segmenter at 1080p, per stage and through the pipeline.

For a lent GPU machine (bench/gpu/run_on_device.sh prepares one and runs this). Models: a real-size detector and
segmenter (default RTMDet-l and SegFormer-B5, built from the configs shipped in mmdet / mmseg with random
weights: timing only, the outputs are meaningless) on vtest.avi frames scaled to --size. Rows, each for float32
and float16 (autocast, detector.half / segmenter.half):
- stages: medians of prepare / network / decode / to_host of detect() and segment() (bench_models' Clock, which
  waits for the GPU before each reading);
- pipeline: one camera through build_pipeline (detect + segment + reasoning + messages), means as
  bench_pipeline.py reports them, segmentation_interval 1 and 10;
- cameras: 1 vs N cameras through one model set (pipeline.detect_all: one batched forward pass per round), as
  bench_cameras.py runs them, with the GPU memory the process allocated at its peak.
Then float16 with the load-time speed-ups forced on (channels-last, folded norms; off by default on GPUs), the
embedded default detector (NanoDet) on the GPU, and which ONNX Runtime execution providers load there (the
ONNX Runtime CUDA / TensorRT rows need onnxruntime-gpu, which the lent machines do not have: see RESULTS.md). Results are written after each row, so a run cut short keeps its rows.

    python bench/bench_gpu.py [--frames 30] [--size 1920x1080] [--det-config NAME] [--seg-config NAME]
                              [--cameras 4] [--out bench/results_gpu.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))

from bench_models import Clock, torch_detector_frame, torch_segmenter_frame  # noqa: E402
from bench_pipeline import frames_of, time_config  # noqa: E402

DET = 'rtmdet_l_8xb32-300e_coco'
SEG = 'segformer_mit-b5_8xb2-160k_ade20k-640x640'
WARMUP = 5


def environment(device: str) -> dict:
    import torch
    env = {'machine': platform.platform(), 'python': platform.python_version(), 'torch': torch.__version__,
           'cuda': torch.version.cuda, 'cudnn': torch.backends.cudnn.version()}
    if device.startswith('cuda'):
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                   multiprocessors=props.multi_processor_count)
    try:
        import mmcv
        from mmcv.ops import get_compiling_cuda_version
        env.update(mmcv=mmcv.__version__, mmcv_ops_cuda=get_compiling_cuda_version())
    except Exception as e:  # noqa: BLE001 - reported, the rows say what could not run
        env['mmcv'] = f'unavailable: {e}'
    try:
        import onnxruntime
        env.update(onnxruntime=onnxruntime.__version__, onnxruntime_providers=onnxruntime.get_available_providers())
    except ImportError as e:
        env['onnxruntime'] = f'unavailable: {e}'
    try:
        import tensorrt
        env['tensorrt'] = tensorrt.__version__
    except ImportError:
        env['tensorrt'] = 'not installed'
    return env


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    out = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    out['total'] = statistics.median(sum(r.values()) for r in rows)
    return out


def stage_times(frame_fn, backend, frames, device: str) -> dict[str, float]:
    rows = []
    for i, frame in enumerate(frames):
        clock = Clock(device)
        frame_fn(backend, frame, clock)
        if i >= WARMUP:
            rows.append(dict(clock.stages))
    return medians(rows)


def cameras_row(params: dict, detector, segmenter, frames, cameras: int, rounds: int) -> dict:
    """Rounds of the newest frame of each camera through one detect_all + each camera's pipeline."""
    from vad_ros.pipeline import build_pipeline, detect_all
    pipelines = [build_pipeline(params, detector, segmenter) for _ in range(cameras)]

    def one_round(r: int) -> None:
        images = [frames[(r * cameras + c) % len(frames)] for c in range(cameras)]
        for pipeline, image, found in zip(pipelines, images, detect_all(detector, images)):
            pipeline.process(image, detections=found)

    for r in range(3):
        one_round(r)
    start = time.perf_counter()
    for r in range(3, rounds + 3):
        one_round(r)
    seconds = time.perf_counter() - start
    return {'cameras': cameras, 'round_ms': 1e3 * seconds / rounds, 'fps_per_camera': rounds / seconds,
            'fps_total': cameras * rounds / seconds}


class Report:
    def __init__(self, out: str, meta: dict):
        self.path = Path(out)
        self.data = {**meta, 'rows': []}

    def add(self, row: dict) -> None:
        self.data['rows'].append(row)
        print(json.dumps(row), flush=True)
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=2))
        self.path.with_suffix('.md').write_text(markdown(self.data))


def markdown(data: dict) -> str:
    lines = [f"{data['env'].get('gpu', data['device'])}, torch {data['env']['torch']} (CUDA {data['env']['cuda']}), "
             f"mmcv ops CUDA: {data['env'].get('mmcv_ops_cuda', 'n/a')}; {data['size']}, {data['frames']} frames",
             '']
    for row in data['rows']:
        kind = row['kind']
        values = ', '.join(f'{k} {v:.2f}' if isinstance(v, float) else f'{k} {v}'
                           for k, v in row.items() if k not in ('kind', 'config'))
        lines.append(f"- **{kind}** {row.get('config', '')}: {values}")
    return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> int:
    from vad_ros.host_memory import keep_freed_memory
    keep_freed_memory()                 # as the node and vad-video run (vad_ros/host_memory.py)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--size', default='1920x1080')
    parser.add_argument('--device', default='cuda:0')
    parser.add_argument('--det-config', default=DET)
    parser.add_argument('--seg-config', default=SEG)
    parser.add_argument('--cameras', type=int, default=4)
    parser.add_argument('--rounds', type=int, default=20)
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_gpu.json'))
    args = parser.parse_args(argv)

    import torch

    from vad_ros import params as vparams
    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.perception.mmdet_detector import MMDetDetector
    from vad_ros.perception.mmseg_segmenter import MMSegSegmenter
    from vad_ros.pipeline import build_pipeline

    size = tuple(int(v) for v in args.size.split('x'))
    report = Report(args.out, {'device': args.device, 'size': args.size, 'frames': args.frames,
                               'env': environment(args.device)})
    report.save()
    print(json.dumps(report.data['env']), flush=True)
    frames = frames_of(args.frames + WARMUP, size)
    cuda = args.device.startswith('cuda')

    def peak_gib() -> float:
        return round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if cuda else float('nan')

    def attempt(kind: str, config: str, fn) -> None:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        try:
            report.add({'kind': kind, 'config': config, **fn(), 'gpu_peak_gib': peak_gib()})
        except Exception as e:  # noqa: BLE001 - one failing row must not cost the others
            traceback.print_exc()
            report.add({'kind': kind, 'config': config, 'error': f'{type(e).__name__}: {e}'})

    tmp = tempfile.mkdtemp()
    try:
        (dc, dk), (sc, sk) = (make_random_checkpoint('det', tmp, args.det_config or None),
                              make_random_checkpoint('seg', tmp, args.seg_config or None))
    except Exception as e:  # noqa: BLE001 - no OpenMMLab models here: the NanoDet rows still run
        traceback.print_exc()
        report.add({'kind': 'models', 'config': 'OpenMMLab', 'error': f'{type(e).__name__}: {e}'})
        dc = None

    variants = [('fp32', False, {}), ('fp16', True, {}),
                ('fp16 + channels-last + folded norms', True, {'channels_last': True, 'fold_norms': True})]
    for precision, half, speedups in (variants if dc else []):
        name = f'{Path(dc).stem} + {Path(sc).stem}, {precision}'
        params = vparams.resolve({'detector.backend': 'mmdet', 'detector.config': dc, 'detector.checkpoint': dk,
                                  'detector.device': args.device, 'detector.half': half,
                                  'segmenter.backend': 'mmseg', 'segmenter.config': sc, 'segmenter.checkpoint': sk,
                                  'segmenter.device': args.device, 'segmenter.half': half})
        try:
            if speedups:
                detector = MMDetDetector(dc, dk, args.device, half, min_score=params['score_threshold'], **speedups)
                segmenter = MMSegSegmenter(sc, sk, args.device, half, **speedups)
            else:
                detector, segmenter = build_detector(params), build_segmenter(params)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            report.add({'kind': 'load', 'config': name, 'error': f'{type(e).__name__}: {e}'})
            continue
        loaded = {'decode_on_host': getattr(detector, 'decode_on_host', False),
                  'channels_last': [detector.channels_last, segmenter.channels_last],
                  'folded_norms': [detector.folded_norms, segmenter.folded_norms]}
        attempt('detector stages (ms)', name,
                lambda: {**stage_times(torch_detector_frame, detector, frames, args.device), **loaded})
        attempt('segmenter stages (ms)', name,
                lambda: stage_times(torch_segmenter_frame, segmenter, frames, args.device))
        for interval in ((1, 10) if not speedups else (1,)):
            attempt(f'pipeline, segmentation_interval {interval} (ms)', name,
                    lambda: time_config(build_pipeline({**params, 'segmentation_interval': interval},
                                                       detector, segmenter), frames, warmup=WARMUP))
        if not speedups:
            for cameras in (1, args.cameras):
                attempt('cameras through one model set', name,
                        lambda: cameras_row(params, detector, segmenter, frames, cameras, args.rounds))
        del detector, segmenter
        if cuda:
            torch.cuda.empty_cache()

    # The embedded default's detector (NanoDet, real weights from the npm package) on the GPU.
    def nanodet() -> dict:
        base = vparams.read_params_file(str(REPO / 'config' / 'demo_vtest.yaml'))
        params = vparams.resolve({**base, 'detector.device': args.device})
        detector = build_detector(params)
        if 'nanodet' not in detector.name.lower():
            raise RuntimeError(f'the default detector is {detector.name} here (NanoDet model not found)')
        return time_config(build_pipeline(params, detector), frames, warmup=WARMUP)
    attempt('embedded default pipeline (ms)', 'NanoDet + scene map', nanodet)

    providers = report.data['env'].get('onnxruntime_providers', [])
    for provider in ('CUDAExecutionProvider', 'TensorrtExecutionProvider'):
        if provider not in providers:
            report.add({'kind': 'onnxruntime', 'config': provider,
                        'error': f"not available: this onnxruntime ({report.data['env'].get('onnxruntime')}) "
                                 f'loads {providers}'})
    return 0


if __name__ == '__main__':
    sys.exit(main())
