"""The model path on a GPU: real-size detector + segmenter at 1080p, per stage and through the pipeline.

For a lent GPU machine (bench/gpu/run_on_device.sh prepares one and runs this). Models: a real-size detector and
segmenter (default RTMDet-l and SegFormer-B5, built from the configs shipped in mmdet / mmseg with random
weights: timing only, the outputs are meaningless) on vtest.avi frames scaled to --size. Rows, each for float32
and float16 (autocast, detector.half / segmenter.half), eager and from CUDA graphs (detector.cuda_graph /
segmenter.cuda_graph, vad_ros/perception/openmmlab/cuda_graphs.py):
- stages: medians of prepare / network / decode / to_host of detect() and segment() (bench_models' Clock, which
  waits for the GPU before each reading);
- pipeline: one camera through build_pipeline (detect + segment + reasoning + messages), means as
  bench_pipeline.py reports them, segmentation_interval 1 and 10;
- cameras: 1 vs N cameras through one model set (pipeline.detect_all: one batched forward pass per round), as
  bench_cameras.py runs them, with the GPU memory the process allocated at its peak.
With --compile, also float16 + CUDA graphs with the networks compiled (detector.compile / segmenter.compile; not
yet run on a GPU). With --speedups, also float16 with the load-time speed-ups forced on (channels-last, folded
norms; off by default on GPUs; no gain in the first H200 run). Then the embedded default detector (NanoDet) on
the GPU, which ONNX Runtime execution providers load there, and, where CUDA's does (onnxruntime-gpu: the lent
machines have only the CPU build; bench/gpu/make_ortkit.sh carries one there) or on a CPU run, the same rows
through the ONNX Runtime backends (the checkpoints exported by vad-export for --size frames; --no-onnx skips
them). Results are written after each row, so a run cut short keeps its rows.

    python bench/bench_gpu.py [--frames 30] [--size 1920x1080] [--det-config NAME] [--seg-config NAME]
                              [--cameras 4] [--quick] [--torch-threads N] [--profile] [--speedups] [--compile]
                              [--no-onnx]
                              [--out bench/results_gpu.json]

--quick: float16 with CUDA graphs only, no camera rows; --torch-threads N: torch's CPU threads (the node's
torch_threads); --profile: the top GPU kernels of the segmenter's eager pass. An 'interleaved stages' row times
detect() and segment() stage by stage per frame, as the pipeline alternates them.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))

from bench_cameras import timed_rounds  # noqa: E402
from bench_models import (Clock, onnx_detector_frame, onnx_segmenter_frame, torch_detector_frame,  # noqa: E402
                          torch_segmenter_frame)
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
        env.update(onnxruntime=onnxruntime.__version__, onnxruntime_providers=onnxruntime.get_available_providers(),
                   onnxruntime_from=str(Path(onnxruntime.__file__).parent))
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


def interleaved_stages(detector, segmenter, frames, device: str) -> dict[str, float]:
    """Per frame detect() then segment(), stage by stage, as the pipeline interleaves them (the stage rows above
    run all detector frames, then all segmenter frames)."""
    rows = []
    for i, frame in enumerate(frames):
        det = Clock(device)
        torch_detector_frame(detector, frame, det)
        seg = Clock(device)                 # started after the detector's frame
        torch_segmenter_frame(segmenter, frame, seg)
        if i >= WARMUP:
            rows.append({**{f'det_{k}': v for k, v in det.stages.items()},
                         **{f'seg_{k}': v for k, v in seg.stages.items()}})
    return medians(rows)


def top_kernels(fn, count: int = 12) -> dict[str, float]:
    """The GPU kernels that take the most time in one call of fn (torch.profiler), ms each."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    def device_ms(e) -> float:
        return (getattr(e, 'device_time_total', None) or getattr(e, 'cuda_time_total', 0)) / 1e3
    events = sorted(prof.key_averages(), key=device_ms, reverse=True)
    out = {'cpu_total_ms': sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e3}
    for e in events:
        if len(out) > count:
            break
        if device_ms(e) > 0 and not e.key.startswith(('aten::', 'cuda')):
            out[e.key[:80]] = device_ms(e)
    return out


def cameras_row(params: dict, detector, segmenter, frames, cameras: int, rounds: int) -> dict:
    """Rounds of the newest frame of each camera through one detect_all + each camera's pipeline."""
    from vad_ros.pipeline import build_pipeline, detect_all
    pipelines = [build_pipeline(params, detector, segmenter) for _ in range(cameras)]

    def one_round(r: int) -> None:
        images = [frames[(r * cameras + c) % len(frames)] for c in range(cameras)]
        for pipeline, image, found in zip(pipelines, images, detect_all(detector, images)):
            pipeline.process(image, detections=found)

    seconds = timed_rounds(one_round, rounds, warmup=3)
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
    parser.add_argument('--speedups', action='store_true', help='also a row with the load-time speed-ups forced on')
    parser.add_argument('--quick', action='store_true', help='float16 with CUDA graphs only, no camera rows')
    parser.add_argument('--torch-threads', type=int, default=0, help='torch CPU threads (0: its default)')
    parser.add_argument('--profile', action='store_true', help='also the top GPU kernels of the segmenter')
    parser.add_argument('--compile', action='store_true', help='also float16 + CUDA graphs with torch.compile')
    parser.add_argument('--no-onnx', action='store_true', help='no ONNX Runtime rows')
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_gpu.json'))
    args = parser.parse_args(argv)

    import torch

    from vad_ros import params as vparams
    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector
    from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter
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

    # (name, half, CUDA graphs, load-time speed-ups forced on)
    variants = [('fp32, eager', False, False, {}), ('fp32, CUDA graphs', False, True, {}),
                ('fp16, CUDA graphs', True, True, {}), ('fp16, eager', True, False, {})]
    if args.quick:
        variants = [v for v in variants if v[0] == 'fp16, CUDA graphs' or v[3]]  # and the extras asked for
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    report.data['torch_threads'] = torch.get_num_threads()
    if args.speedups:
        variants.append(('fp16, CUDA graphs, channels-last + folded norms', True, True,
                         {'channels_last': True, 'fold_norms': True}))
    if args.compile:
        variants.append(('fp16, CUDA graphs, compiled', True, True, {'compile_network': True}))
    for precision, half, graph, speedups in (variants if dc else []):
        name = f'{Path(dc).stem} + {Path(sc).stem}, {precision}'
        params = vparams.resolve({'detector.backend': 'mmdet', 'detector.config': dc, 'detector.checkpoint': dk,
                                  'detector.device': args.device, 'detector.half': half,
                                  'detector.cuda_graph': graph, 'segmenter.backend': 'mmseg', 'segmenter.config': sc,
                                  'segmenter.checkpoint': sk, 'segmenter.device': args.device,
                                  'segmenter.half': half, 'segmenter.cuda_graph': graph})
        try:
            if speedups:
                detector = MMDetDetector(dc, dk, args.device, half, min_score=params['score_threshold'],
                                         cuda_graph=graph, **speedups)
                segmenter = MMSegSegmenter(sc, sk, args.device, half, cuda_graph=graph, **speedups)
            else:
                detector, segmenter = build_detector(params), build_segmenter(params)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            report.add({'kind': 'load', 'config': name, 'error': f'{type(e).__name__}: {e}'})
            continue
        loaded = {'decode_on_host': getattr(detector, 'decode_on_host', False),
                  'package_decode': getattr(detector, 'package_decode', False),
                  'compiled': [detector.compiled, segmenter.compiled],
                  'cuda_graphs': [b._graphs is not None and b._graphs.enabled for b in (detector, segmenter)],
                  'channels_last': [detector.channels_last, segmenter.channels_last],
                  'folded_norms': [detector.folded_norms, segmenter.folded_norms]}
        attempt('detector stages (ms)', name,
                lambda: {**stage_times(torch_detector_frame, detector, frames, args.device), **loaded})
        attempt('segmenter stages (ms)', name,
                lambda: stage_times(torch_segmenter_frame, segmenter, frames, args.device))
        attempt('interleaved stages (ms)', name,
                lambda: interleaved_stages(detector, segmenter, frames, args.device))
        if args.profile and cuda:
            inputs = segmenter.prepare(frames[0])[0]

            def eager_pass():
                graphs, segmenter._graphs = segmenter._graphs, None
                try:
                    segmenter.run_network(inputs)
                finally:
                    segmenter._graphs = graphs
            attempt('segmenter network, top GPU kernels, eager (ms)', name, lambda: top_kernels(eager_pass))
        for interval in ((1,) if args.quick else (1, 10)):
            attempt(f'pipeline, segmentation_interval {interval} (ms)', name,
                    lambda: time_config(build_pipeline({**params, 'segmentation_interval': interval},
                                                       detector, segmenter), frames, warmup=WARMUP))
        if not speedups and not args.quick:
            for cameras in (1, args.cameras):
                attempt('cameras through one model set', name,
                        lambda: cameras_row(params, detector, segmenter, frames, cameras, args.rounds))
        detector = segmenter = None       # free the GPU memory before the next variant
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
    if not args.quick:
        attempt('embedded default pipeline (ms)', 'NanoDet + scene map', nanodet)

    providers = report.data['env'].get('onnxruntime_providers', [])
    for provider in ('CUDAExecutionProvider', 'TensorrtExecutionProvider'):
        if provider not in providers:
            report.add({'kind': 'onnxruntime', 'config': provider,
                        'error': f"not available: this onnxruntime ({report.data['env'].get('onnxruntime')}) "
                                 f'loads {providers}'})
    if dc and not args.no_onnx and (not cuda or 'CUDAExecutionProvider' in providers):
        onnx_rows(args, report, attempt, (dc, dk, sc, sk), frames, tmp)
    return 0


def onnx_rows(args, report, attempt, checkpoints, frames, tmp: str) -> None:
    """The same checkpoints exported by vad-export for --size frames, through the ONNX Runtime backends on the
    device (TensorRT first where its provider starts, else CUDA; float16 only through TensorRT): stages, the
    pipeline and the cameras rows, as for PyTorch."""
    import os

    from vad_ros import params as vparams
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.perception.onnx.export import export
    from vad_ros.pipeline import build_pipeline

    dc, dk, sc, sk = checkpoints
    size = tuple(int(v) for v in args.size.split('x'))
    try:
        det_onnx, _ = export('detector', dc, dk, os.path.join(tmp, 'det.onnx'), size)
        seg_onnx, _ = export('segmenter', sc, sk, os.path.join(tmp, 'seg.onnx'), size)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        report.add({'kind': 'onnx export', 'config': args.size, 'error': f'{type(e).__name__}: {e}'})
        return
    for half in (False, True):
        params = vparams.resolve({'detector.backend': 'onnx', 'detector.checkpoint': det_onnx,
                                  'detector.device': args.device, 'detector.half': half,
                                  'segmenter.backend': 'onnx', 'segmenter.checkpoint': seg_onnx,
                                  'segmenter.device': args.device, 'segmenter.half': half})
        try:
            detector, segmenter = build_detector(params), build_segmenter(params)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            report.add({'kind': 'onnxruntime load', 'config': f'half {half}', 'error': f'{type(e).__name__}: {e}'})
            return
        used = detector.providers[0]
        if half and used != 'TensorrtExecutionProvider':
            break                           # float16 engines are TensorRT's only
        name = f'{Path(dc).stem} + {Path(sc).stem}, onnxruntime {used}, {"fp16" if half else "fp32"}'
        loaded = {'providers': [list(detector.providers), list(segmenter.providers)]}
        attempt('onnxruntime detector stages (ms)', name,
                lambda: {**stage_times(onnx_detector_frame, detector, frames, 'cpu'), **loaded})
        attempt('onnxruntime segmenter stages (ms)', name,
                lambda: stage_times(onnx_segmenter_frame, segmenter, frames, 'cpu'))
        for interval in ((1,) if args.quick else (1, 10)):
            attempt(f'pipeline, segmentation_interval {interval} (ms)', name,
                    lambda: time_config(build_pipeline({**params, 'segmentation_interval': interval},
                                                       detector, segmenter), frames, warmup=WARMUP))
        if not args.quick:
            for cameras in (1, args.cameras):
                attempt('cameras through one model set', name,
                        lambda: cameras_row(params, detector, segmenter, frames, cameras, args.rounds))
        detector = segmenter = None


if __name__ == '__main__':
    sys.exit(main())
