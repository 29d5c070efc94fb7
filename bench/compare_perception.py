"""Every perception backend's outputs on real frames, written down so that two versions of the package can be
compared: the same detections and label maps before and after a refactor (issue 24's "behaviour unchanged").

    python bench/compare_perception.py prepare /tmp/cmp_models          # random-weight OpenMMLab checkpoints
                                                                        # (RTMDet with lively scores, SegFormer-B0)
                                                                        # and their vad-export ONNX files, once
    python bench/compare_perception.py run /tmp/cmp_models new.json      # this checkout's backends
    PYTHONPATH=/path/to/old/checkout python bench/compare_perception.py run /tmp/cmp_models old.json
    python bench/compare_perception.py compare old.json new.json

`run` builds each backend through vad_ros.perception.factory (the one API every version has) from params, so the
same script runs against an older checkout; the frames are vtest.avi's (data/vtest.avi, `tools/setup.sh data`).
Backends: hog; nanodet on ONNX Runtime fp32 and int8 and on torch; mmdet with the pipeline's threshold in the
model and with keep_low_scores (the package's decoding); mmseg; the exported detector and segmenter on ONNX
Runtime. NanoDet's rows need its fetched model (`tools/setup.sh nanodet`), the others torch and the OpenMMLab
packages (`tools/setup.sh models`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
FRAMES = range(0, 795, 53)          # 15 frames of vtest.avi, spread over the clip


def frames(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    found = []
    for index in range(max(FRAMES) + 1):
        ok, frame = capture.read()
        if not ok:
            break
        if index in FRAMES:
            found.append(frame)
    capture.release()
    if len(found) != len(FRAMES):
        sys.exit(f"{video}: needs {max(FRAMES) + 1} frames (tools/setup.sh data)")
    return found


def prepare(models: Path) -> None:
    """Random-weight checkpoints and their exported ONNX files, written by this checkout."""
    from vad_ros.devtools.random_checkpoints import lively_rtmdet, make_random_checkpoint
    from vad_ros.perception.onnx.export import export
    models.mkdir(parents=True, exist_ok=True)
    det_config, det_checkpoint = make_random_checkpoint('det', str(models))
    lively = lively_rtmdet(det_config, det_checkpoint, frames(REPO / 'data' / 'vtest.avi')[3],
                           str(models / 'rtmdet_lively.pth'))
    seg_config, seg_checkpoint = make_random_checkpoint('seg', str(models))
    export('detector', det_config, lively, str(models / 'det.onnx'), (768, 576))
    export('segmenter', seg_config, seg_checkpoint, str(models / 'seg.onnx'), (768, 576))
    (models / 'models.json').write_text(json.dumps({'det': [det_config, lively], 'seg': [seg_config, seg_checkpoint]}))


def backends(models: Path) -> dict[str, dict]:
    """Backend name -> the params overrides that build it."""
    files = json.loads((models / 'models.json').read_text())
    det = {'detector.backend': 'mmdet', 'detector.config': files['det'][0], 'detector.checkpoint': files['det'][1],
           'detector.device': 'cpu'}
    return {
        'hog': {'detector.backend': 'hog'},
        'nanodet onnx fp32': {'detector.backend': 'nanodet', 'detector.nanodet.runner': 'onnx'},
        'nanodet onnx int8': {'detector.backend': 'nanodet', 'detector.nanodet.runner': 'onnx',
                              'detector.nanodet.precision': 'int8'},
        'nanodet torch': {'detector.backend': 'nanodet', 'detector.nanodet.runner': 'torch'},
        'mmdet': det,
        'mmdet keep_low_scores': {**det, 'detector.keep_low_scores': True},
        'onnx detector': {'detector.backend': 'onnx', 'detector.checkpoint': str(models / 'det.onnx'),
                          'detector.device': 'cpu'},
        'mmseg segmenter': {'segmenter.backend': 'mmseg', 'segmenter.config': files['seg'][0],
                  'segmenter.checkpoint': files['seg'][1], 'segmenter.device': 'cpu'},
        'onnx segmenter': {'segmenter.backend': 'onnx', 'segmenter.checkpoint': str(models / 'seg.onnx'),
                           'segmenter.device': 'cpu'},
    }


def run(models: Path, out: Path) -> None:
    import vad_ros
    from vad_ros.params import resolve
    from vad_ros.perception.factory import build_detector, build_segmenter
    images = frames(REPO / 'data' / 'vtest.avi')
    results: dict[str, list] = {'_package': [str(Path(vad_ros.__file__).parent)]}
    for name, overrides in backends(models).items():
        params = resolve(overrides)
        if 'segmenter.backend' in overrides:
            segmenter = build_segmenter(params)
            maps = [segmenter.segment(image).labels for image in images]
            results[name] = [{'sha256': hashlib.sha256(m.tobytes()).hexdigest(), 'shape': list(m.shape),
                              'classes': np.unique(m).tolist()} for m in maps]
        else:
            detector = build_detector(params)
            results[name] = [{'boxes': d.boxes.tolist(), 'scores': d.scores.tolist(), 'labels': d.labels.tolist()}
                             for d in map(detector.detect, images)]
        print(f'{name}: {len(images)} frames', flush=True)
    out.write_text(json.dumps(results))


def compare(old: Path, new: Path) -> int:
    """Frames whose outputs are identical (JSON keeps every float exactly), backend by backend; exit 1 if any differ."""
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    print(f"old: {a.pop('_package')[0]}\nnew: {b.pop('_package')[0]}")
    differing = 0
    for name, frames_a in a.items():
        frames_b = b.get(name, [])
        same = sum(x == y for x, y in zip(frames_a, frames_b))
        detections = '' if 'segmenter' in name else f", {sum(len(f['scores']) for f in frames_a)} detections in all"
        print(f'{name}: {same}/{len(frames_a)} frames identical{detections}')
        differing += same != len(frames_a) or len(frames_b) != len(frames_a)
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('prepare').add_argument('models', type=Path)
    runner = sub.add_parser('run')
    runner.add_argument('models', type=Path)
    runner.add_argument('out', type=Path)
    comparer = sub.add_parser('compare')
    comparer.add_argument('old', type=Path)
    comparer.add_argument('new', type=Path)
    args = parser.parse_args(argv)
    if args.command == 'prepare':
        prepare(args.models)
        return 0
    if args.command == 'run':
        run(args.models, args.out)
        return 0
    return compare(args.old, args.new)


if __name__ == '__main__':
    sys.exit(main())
