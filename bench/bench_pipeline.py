"""Per-stage timing of the node's hot path, on real frames of vtest.avi.

Stages: image conversion (sensor_msgs/Image bgr8 buffer -> BGR array), detection, segmentation,
background vote + rules ('reason'), building what the node publishes ('message': the AnomalyArray and the event
updates it sends), debug drawing. Frames carry image stamps (i / 10 s, vtest.avi's rate), as a camera's do.
Reported as means over --frames consecutive frames after 2 warm-up frames (means, so that a segmentation every
10th frame counts), per configuration: the embedded default (NanoDet, HOG where its model is missing, + the
vtest scene map) and the OpenMMLab backends (default: RTMDet-tiny + SegFormer-B0 with random weights, built from
the shipped configs), at 640x480 and 1920x1080, with segmentation_interval 1 and 10. overhead_pct = our own
work (convert + reason + message, + segment where no segmenter runs: the scene map) / total.

    python bench/bench_pipeline.py [--frames 10] [--device cpu|cuda:0] [--det-config NAME --seg-config NAME]
                                   [--out bench/results_pipeline.json]

On a GPU machine, pass real-size configs (e.g. --det-config rtmdet_l_8xb32-300e_coco --seg-config
segformer_mit-b5_8xb2-160k_ade20k-640x640); random weights are fine for timing.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vad_ros import params as vparams  # noqa: E402
from vad_ros.media import image_codec  # noqa: E402
from vad_ros.rendering.drawing import draw_result  # noqa: E402
from vad_ros.perception.factory import build_detector, build_segmenter  # noqa: E402
from vad_ros.pipeline import Pipeline, build_pipeline  # noqa: E402
from vad_ros.types import Detections  # noqa: E402

SIZES = {'640x480': (640, 480), '1920x1080': (1920, 1080)}
FPS = 10.0                      # vtest.avi's rate: frames carry image stamps i / FPS, as a camera's headers do


def frames_of(n: int, size: tuple[int, int], start: int = 600) -> list[np.ndarray]:
    """n consecutive frames of vtest.avi from `start` (people on the road and the lawn), as a camera stream
    gives them to the node: tracks continue from frame to frame."""
    cap = cv2.VideoCapture(str(REPO / 'data' / 'vtest.avi'))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(cv2.resize(frame, size))
    return out


def message_builder():
    """Everything vad_node publishes per frame: the AnomalyArray (objects + anomalies) and the event updates
    it sends (vad_ros.event_updates, at the default events.update_period)."""
    try:
        from std_msgs.msg import Header
        from vad_ros.ros.messages import anomaly_array, anomaly_event
    except ImportError:        # messages not built: report n/a
        return None
    from vad_ros.event_updates import EventUpdates
    updates = EventUpdates(vparams.defaults()['events.update_period'])

    def build(result):
        header = Header()
        anomaly_array(result, header)
        for event in updates.select(result.events):
            anomaly_event(event, header)
    return build


def time_config(pipeline: Pipeline, frames: list[np.ndarray], warmup: int = 2) -> dict[str, float]:
    build = message_builder()
    samples: dict[str, list[float]] = {k: [] for k in ('convert', 'detect', 'segment', 'reason', 'message',
                                                       'draw', 'total')}
    for i, frame in enumerate(frames):
        h, w, step, data = image_codec.from_bgr(frame)
        t0 = time.perf_counter()
        image = image_codec.to_bgr('bgr8', h, w, step, data)
        t1 = time.perf_counter()
        result = pipeline.process(image, stamp=i / FPS)
        t2 = time.perf_counter()
        if build is not None:
            build(result)
        t3 = time.perf_counter()
        draw_result(image, result)
        t4 = time.perf_counter()
        if i < warmup:
            continue
        samples['convert'].append((t1 - t0) * 1e3)
        for k in ('detect', 'segment', 'reason'):
            samples[k].append(result.timings_ms[k])
        samples['message'].append((t3 - t2) * 1e3 if build else float('nan'))
        samples['draw'].append((t4 - t3) * 1e3)
        samples['total'].append((t3 - t0) * 1e3)
    out = {k: statistics.fmean(v) for k, v in samples.items()}
    out['fps'] = 1e3 / out['total']
    own = out['convert'] + out['reason'] + (0 if np.isnan(out['message']) else out['message'])
    if pipeline.segmenter is None:      # no model in 'segment': laying the scene map is our own work too
        own += out['segment']
    out['overhead_pct'] = 100 * own / out['total']
    return out


def reasoning_only(size: tuple[int, int], objects: int = 20, repeats: int = 50) -> float:
    """Median ms of the pipeline's own reasoning for `objects` people on a full-frame class map."""
    rng = np.random.default_rng(0)
    w, h = size
    xy = rng.uniform([0, 0], [w - 80, h - 200], size=(objects, 2))
    boxes = np.column_stack([xy, xy + [60, 180]]).astype(np.float32)

    class Fixed:   # a stand-in detector: fixed boxes, so that only our own code is timed
        name, device, class_names = 'fixed', 'cpu', ('person',)

        def detect(self, image):
            return Detections(boxes, np.zeros(objects, np.int64), np.full(objects, 0.9, np.float32),
                              self.class_names)

    scene = Path(tempfile.mkdtemp()) / 'scene.yaml'
    scene.write_text(f'image_size: [{w}, {h}]\nregions:\n  - label: grass\n    polygon: [[0, 0], [{w}, 0], '
                     f'[{w}, {h // 2}], [0, {h // 2}]]\n  - label: road\n    polygon: [[0, {h // 2}], [{w}, '
                     f'{h // 2}], [{w}, {h}], [0, {h}]]\n')
    p = vparams.resolve({'scene_map_file': str(scene), 'rules_file': ''})
    rules = Path(tempfile.mkdtemp()) / 'r.yaml'
    rules.write_text('rules:\n  - {id: g, objects: [person], forbidden: [grass], sentence: keep off}\n')
    p['rules_file'] = str(rules)
    pipeline = build_pipeline(p, Fixed())
    image = np.zeros((h, w, 3), np.uint8)
    times = []
    for _ in range(repeats):
        result = pipeline.process(image)
        times.append(result.timings_ms['reason'])
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    from vad_ros.host_memory import keep_freed_memory
    keep_freed_memory()                 # as the node and vad-video run (vad_ros/host_memory.py)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=20)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--det-config', default=None, help='shipped mmdet model name (default RTMDet-tiny)')
    parser.add_argument('--seg-config', default=None, help='shipped mmseg model name (default SegFormer-B0)')
    parser.add_argument('--half', action='store_true')
    parser.add_argument('--skip-hog', action='store_true')
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results_pipeline.json'))
    args = parser.parse_args(argv)

    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    models = tempfile.mkdtemp()
    dc, dk = make_random_checkpoint('det', models, args.det_config)
    sc, sk = make_random_checkpoint('seg', models, args.seg_config)
    mm = vparams.resolve({'detector.backend': 'mmdet', 'detector.config': dc, 'detector.checkpoint': dk,
                          'detector.device': args.device, 'detector.half': args.half, 'segmenter.backend': 'mmseg',
                          'segmenter.config': sc, 'segmenter.checkpoint': sk, 'segmenter.device': args.device,
                          'segmenter.half': args.half})
    detector, segmenter = build_detector(mm), build_segmenter(mm)
    # The embedded default: the default detector (NanoDet, HOG where its model is missing) + the vtest scene map.
    hog_params = vparams.resolve({'scene_map_file': str(REPO / 'config' / 'scene_vtest.yaml'),
                                  'rules_file': str(REPO / 'config' / 'rules_keep_off_grass.yaml')})
    hog = build_detector(hog_params)

    results = []
    for size_name, size in SIZES.items():
        frames = frames_of(args.frames + 2, size)
        if not args.skip_hog:
            pipeline = build_pipeline(hog_params, hog)
            results.append({'config': f'{hog.name} + scene map', 'size': size_name, 'interval': '-',
                            **time_config(pipeline, frames)})
        for interval in (1, 10):
            pipeline = build_pipeline({**mm, 'segmentation_interval': interval}, detector, segmenter)
            results.append({'config': f'{detector.name} + {segmenter.name}', 'size': size_name,
                            'interval': interval, **time_config(pipeline, frames)})
        print(f'{size_name}: done', file=sys.stderr)
    reasoning = {name: reasoning_only(size) for name, size in SIZES.items()}

    header = ('config', 'size', 'interval', 'convert', 'detect', 'segment', 'reason', 'message', 'draw', 'total',
              'fps', 'overhead_pct')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in results:
        lines.append('| ' + ' | '.join(f'{r[k]:.2f}' if isinstance(r[k], float) else str(r[k]) for k in header) + ' |')
    lines.append('')
    lines.append('reasoning only, 20 people on a full-frame map (ms): ' +
                 ', '.join(f'{k}: {v:.2f}' for k, v in reasoning.items()))
    print('\n'.join(lines))
    (Path(args.out).with_suffix('.md')).write_text('\n'.join(lines) + '\n')
    Path(args.out).write_text(json.dumps({'machine': platform.platform(), 'device': args.device,
                                          'frames': args.frames, 'results': results,
                                          'reasoning_only_ms': reasoning}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
