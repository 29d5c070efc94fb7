"""The GPU ways of the detector's decoding where mmcv has no CUDA ops (the package's, dense_head.py) or has them
(MMDetection's, all on the GPU). They need a GPU: they run on a lent GPU machine (bench/gpu/run_on_device.sh runs
this file there) and are skipped elsewhere; their CPU twins are tested everywhere (test_onnx.py)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('mmdet', reason='needs onedl-mmdetection (tools/setup.sh models)')
pytest.importorskip('mmseg', reason='needs onedl-mmsegmentation (tools/setup.sh models)')

if not torch.cuda.is_available():
    pytest.skip('needs a CUDA GPU (run on a lent GPU machine)', allow_module_level=True)

from vad_ros.devtools.random_checkpoints import lively_rtmdet, make_random_checkpoint  # noqa: E402
from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector  # noqa: E402
from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter  # noqa: E402


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory, vtest_frames):
    out = tmp_path_factory.mktemp('gpu_models')
    dc, dk = make_random_checkpoint('det', str(out))
    return {'det': (dc, lively_rtmdet(dc, dk, vtest_frames[0], str(out / 'rtmdet_lively.pth'))),
            'seg': make_random_checkpoint('seg', str(out))}


def matched(got, expected, iou: float = 0.8) -> float:
    """The share of `got`'s boxes that have a box of the same label in `expected` overlapping by >= iou."""
    if not len(got):
        return 1.0 if not len(expected) else 0.0
    x1 = np.maximum(got.boxes[:, None, 0], expected.boxes[None, :, 0])
    y1 = np.maximum(got.boxes[:, None, 1], expected.boxes[None, :, 1])
    x2 = np.minimum(got.boxes[:, None, 2], expected.boxes[None, :, 2])
    y2 = np.minimum(got.boxes[:, None, 3], expected.boxes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])      # noqa: E731
    overlap = inter / (area(got.boxes)[:, None] + area(expected.boxes)[None, :] - inter)
    same = (overlap >= iou) & (got.labels[:, None] == expected.labels[None, :])
    return float(same.any(axis=1).mean())


@pytest.mark.parametrize('half', [False, True])
def test_the_gpu_backends_give_the_cpus_results(checkpoints, vtest_frames, half):
    """Detections (the package's decoding, and MMDetection's: on
    the GPU where mmcv has CUDA ops, else on the host) and label maps match the CPU's: in
    float32 box by box, in float16 (autocast moves scores across the threshold now and then) as sets."""
    frames = [cv2.resize(vtest_frames[2], (1920, 1080)), vtest_frames[3]]
    cpu_det = MMDetDetector(*checkpoints['det'], device='cpu', min_score=0.3)
    cpu_seg = MMSegSegmenter(*checkpoints['seg'], device='cpu')
    detectors = [MMDetDetector(*checkpoints['det'], device='cuda:0', half=half, min_score=0.3, package_decode=True),
                 MMDetDetector(*checkpoints['det'], device='cuda:0', half=half, min_score=0.3, package_decode=False)]
    assert detectors[0].package_decode and not detectors[1].package_decode
    segmenter = MMSegSegmenter(*checkpoints['seg'], device='cuda:0', half=half)
    for frame in frames:
        expected = cpu_det.detect(frame)
        assert len(expected) >= 3                 # 13 and 8 on the CPU here
        for detector in detectors:
            got = detector.detect(frame)
            if half:
                assert abs(len(got) - len(expected)) <= max(2, len(expected) // 5)
                assert matched(got, expected) >= 0.9
                continue
            assert len(got) == len(expected)
            a, b = np.argsort(-got.scores, kind='stable'), np.argsort(-expected.scores, kind='stable')
            np.testing.assert_allclose(got.scores[a], expected.scores[b], atol=1e-3)
            np.testing.assert_allclose(got.boxes[a], expected.boxes[b], atol=0.5)
        assert (segmenter.segment(frame).labels == cpu_seg.segment(frame).labels).mean() > (0.95 if half else 0.99)
        single = detectors[0].detect(frame)
        batched = detectors[0].detect_batch([frame, frame])
        assert all(matched(d, single) == 1.0 and len(d) == len(single) for d in batched)
