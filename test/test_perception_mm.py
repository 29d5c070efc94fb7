"""The MMDetection / MMSegmentation backends through the user's code path (params -> factory), with small
models built from configs shipped in the packages, random weights saved as real checkpoints, real frames,
and the network cut off."""
from __future__ import annotations

import socket

import cv2
import numpy as np
import pytest

from vad_ros import params as vparams
from vad_ros.perception.base import PerceptionError
from vad_ros.perception.factory import build_detector, build_segmenter
from vad_ros.perception.random_checkpoints import make_random_checkpoint


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection attempt fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f'network access attempted: {args[:2]}')
    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)


@pytest.fixture(scope='session')
def checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp('models')
    return {'det': make_random_checkpoint('det', str(out)), 'seg': make_random_checkpoint('seg', str(out))}


def mm_params(checkpoints, **overrides):
    (dc, dk), (sc, sk) = checkpoints['det'], checkpoints['seg']
    return vparams.resolve({'detector.backend': 'mmdet', 'detector.config': dc, 'detector.checkpoint': dk,
                            'detector.device': 'cpu', 'segmenter.backend': 'mmseg', 'segmenter.config': sc,
                            'segmenter.checkpoint': sk, 'segmenter.device': 'cpu', **overrides})


@pytest.fixture(scope='session')
def models(checkpoints):
    p = mm_params(checkpoints)
    return build_detector(p), build_segmenter(p)


def test_vocabularies_come_from_the_checkpoints(models):
    detector, segmenter = models
    assert len(detector.class_names) == 80 and detector.class_names[0] == 'person' and 'car' in detector.class_names
    assert len(segmenter.class_names) == 150
    assert {'road', 'grass', 'sidewalk'} <= set(segmenter.class_names)
    assert detector.device == segmenter.device == 'cpu'
    assert detector.name.startswith('mmdet:') and segmenter.name.startswith('mmseg:')


@pytest.mark.parametrize('size', [None, (640, 480)])
def test_outputs_on_real_frames(models, vtest_frames, size):
    detector, segmenter = models
    for frame in vtest_frames[:2]:
        if size:
            frame = cv2.resize(frame, size)
        h, w = frame.shape[:2]
        det = detector.detect(frame)
        assert det.boxes.dtype == np.float32 and det.boxes.shape == (len(det), 4) and len(det) > 0
        assert det.labels.dtype == np.int64 and det.scores.dtype == np.float32
        assert (det.boxes[:, 0] >= 0).all() and (det.boxes[:, 2] <= w).all()
        assert (det.boxes[:, 1] >= 0).all() and (det.boxes[:, 3] <= h).all()
        assert (det.boxes[:, 2] >= det.boxes[:, 0]).all() and (det.boxes[:, 3] >= det.boxes[:, 1]).all()
        assert ((det.scores >= 0) & (det.scores <= 1)).all()
        assert set(det.names()) <= set(detector.class_names)
        seg = segmenter.segment(frame)
        assert seg.labels.shape == (h, w) and seg.labels.dtype == np.uint16
        assert int(seg.labels.max()) < 150 and seg.class_names == segmenter.class_names


def test_the_pipeline_runs_on_the_mm_backends(checkpoints, vtest_frames):
    from vad_ros.factory import build_pipeline
    pipeline = build_pipeline(mm_params(checkpoints, segmentation_interval=2))
    results = [pipeline.process(f) for f in vtest_frames[:3]]
    assert all(r.class_map is not None and r.class_map.shape == (576, 768) for r in results)
    assert all(r.timings_ms['detect'] > 0 for r in results)
    assert results[1].timings_ms['segment'] < results[0].timings_ms['segment']   # map reused


def test_missing_files_and_mismatches_are_named(checkpoints, tmp_path):
    (dc, dk), (sc, sk) = checkpoints['det'], checkpoints['seg']
    with pytest.raises(PerceptionError, match="detector.config '/nope/model.py' does not exist"):
        build_detector(mm_params(checkpoints, **{'detector.config': '/nope/model.py'}))
    with pytest.raises(PerceptionError, match="detector.checkpoint '/nope/w.pth' does not exist"):
        build_detector(mm_params(checkpoints, **{'detector.checkpoint': '/nope/w.pth'}))
    with pytest.raises(PerceptionError, match=r"segmenter.checkpoint '.*rtmdet.*' does not fit segmenter.config"):
        build_segmenter(mm_params(checkpoints, **{'segmenter.checkpoint': dk}))
    with pytest.raises(PerceptionError, match='detector.checkpoint is empty'):
        build_detector(mm_params(checkpoints, **{'detector.checkpoint': ''}))
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint')
    with pytest.raises(PerceptionError, match='cannot be read as a torch checkpoint'):
        build_detector(mm_params(checkpoints, **{'detector.checkpoint': str(garbage)}))


def test_unknown_model_name_offline_is_one_clear_error(checkpoints):
    with pytest.raises(PerceptionError, match="mmdet model 'no_such_model_xyz' could not be resolved"):
        build_detector(mm_params(checkpoints, **{'detector.config': 'no_such_model_xyz',
                                                  'detector.checkpoint': ''}))


def test_model_name_with_a_local_checkpoint_uses_the_shipped_config(checkpoints):
    detector = build_detector(mm_params(checkpoints, **{'detector.config': 'rtmdet_tiny_8xb32-300e_coco'}))
    assert len(detector.class_names) == 80


def test_half_on_cpu_is_ignored_with_float32(checkpoints, vtest_frames):
    detector = build_detector(mm_params(checkpoints, **{'detector.half': True}))
    assert detector.half is False and len(detector.detect(vtest_frames[0])) > 0
