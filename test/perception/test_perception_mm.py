"""The MMDetection / MMSegmentation backends through the user's code path (params -> factory), with small
models built from configs shipped in the packages, random weights saved as real checkpoints, real frames,
and the network cut off (any connection attempt is recorded and fails the test)."""
from __future__ import annotations

import contextlib
import socket

import cv2
import numpy as np
import pytest

pytest.importorskip('torch', reason='the OpenMMLab backends need torch (tools/setup.sh models)')
pytest.importorskip('mmdet', reason='needs onedl-mmdetection (tools/setup.sh models)')
pytest.importorskip('mmseg', reason='needs onedl-mmsegmentation (tools/setup.sh models)')

import torch  # noqa: E402

from vad_ros import params as vparams  # noqa: E402
from vad_ros.perception.base import PerceptionError  # noqa: E402
from vad_ros.perception.factory import build_detector, build_segmenter  # noqa: E402
from vad_ros.devtools.random_checkpoints import make_random_checkpoint  # noqa: E402


@contextlib.contextmanager
def network_cut():
    """Python sockets cannot connect; yields the list of attempts."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError('network access is cut off in this test')

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, 'connect', refuse)
        mp.setattr(socket.socket, 'connect_ex', refuse)
        mp.setattr(socket, 'create_connection', refuse)
        yield attempts


@pytest.fixture(scope='session')
def checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp('models')
    with network_cut() as attempts:
        made = {'det': make_random_checkpoint('det', str(out)), 'seg': make_random_checkpoint('seg', str(out))}
    assert attempts == [], 'building the random checkpoints tried to reach the network'
    return made


@pytest.fixture(scope='module', autouse=True)
def network_attempts():
    with network_cut() as attempts:
        yield attempts


@pytest.fixture(autouse=True)
def no_network_used(network_attempts):
    yield
    assert network_attempts == [], f'network access attempted: {network_attempts}'


def mm_params(checkpoints, **overrides):
    """keep_low_scores: the random heads score ~0.0015 everywhere, below the deployment threshold."""
    (dc, dk), (sc, sk) = checkpoints['det'], checkpoints['seg']
    return vparams.resolve({'detector.backend': 'mmdet', 'detector.config': dc, 'detector.checkpoint': dk,
                            'detector.device': 'cpu', 'detector.keep_low_scores': True,
                            'segmenter.backend': 'mmseg', 'segmenter.config': sc,
                            'segmenter.checkpoint': sk, 'segmenter.device': 'cpu', **overrides})


@pytest.fixture(scope='module')
def models(network_attempts, checkpoints):
    p = mm_params(checkpoints)
    return build_detector(p), build_segmenter(p)


def test_vocabularies_come_from_the_checkpoints(models):
    detector, segmenter = models
    assert len(detector.class_names) == 80 and detector.class_names[0] == 'person' and 'car' in detector.class_names
    assert len(segmenter.class_names) == 150
    assert {'road', 'grass', 'sidewalk'} <= set(segmenter.class_names)
    assert detector.device == segmenter.device == 'cpu'
    assert detector.name.startswith('mmdet:') and segmenter.name.startswith('mmseg:')
    assert detector._graphs is None and segmenter._graphs is None     # CUDA graphs: on GPUs only


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


def test_boxes_match_the_toolbox_result(models, vtest_frames, monkeypatch):
    """Our pipeline (built once, image in memory) gives the toolbox's own inference_detector result. With
    MMDetection's decoding: this random head scores every anchor alike, and among exact ties MMDetection's
    unstable sort and the package's stable one keep different boxes (the package's decoding against
    MMDetection's on a head with real candidates: test_onnx.py)."""
    from mmdet.apis import inference_detector

    from vad_ros.perception.openmmlab.toolbox import scope
    detector, _ = models
    monkeypatch.setattr(detector, '_dense', None)
    frame = cv2.resize(vtest_frames[1], (640, 480))
    ours = detector.detect(frame)
    cfg = detector.model.cfg.copy()                 # inference_detector rewrites the pipeline in place
    with scope('mmdet'):
        ref = inference_detector(detector.model, frame).pred_instances
    detector.model.cfg = cfg
    np.testing.assert_allclose(ours.boxes, np.clip(ref.bboxes.numpy(), 0, [640, 480, 640, 480]), atol=1e-3)
    np.testing.assert_array_equal(ours.labels, ref.labels.numpy())


def test_label_map_matches_the_toolbox_on_both_paths(models, vtest_frames):
    """The low-resolution argmax (default for SegFormer) and the generic path (argmax after the toolbox's
    own upsampling) both agree with the toolbox's inference_model except along class borders."""
    from mmseg.apis import inference_model

    from vad_ros.perception.openmmlab.toolbox import scope
    _, segmenter = models
    frame = cv2.resize(vtest_frames[2], (640, 480))
    assert segmenter.low_resolution_argmax
    fast = segmenter.segment(frame).labels
    segmenter.low_resolution_argmax = False
    try:
        generic = segmenter.segment(frame).labels
    finally:
        segmenter.low_resolution_argmax = True
    cfg = segmenter.model.cfg.copy()
    with scope('mmseg'):
        ref = inference_model(segmenter.model, frame).pred_sem_seg.data[0].numpy()
    segmenter.model.cfg = cfg
    assert len(np.unique(ref)) > 5        # random weights still give a map with many classes and borders
    assert (generic == ref).mean() > 0.99
    assert (fast == ref).mean() > 0.9


def test_the_pipeline_runs_on_the_mm_backends(checkpoints, vtest_frames, monkeypatch):
    from vad_ros.pipeline import build_pipeline
    pipeline = build_pipeline(mm_params(checkpoints, segmentation_interval=2))
    segmented = []
    segment = pipeline.segmenter.segment
    monkeypatch.setattr(pipeline.segmenter, 'segment', lambda image: segmented.append(1) or segment(image))
    results = [pipeline.process(f) for f in vtest_frames[:3]]
    assert all(r.class_map is not None and r.class_map.shape == (576, 768) for r in results)
    assert all(r.timings_ms['detect'] > 0 for r in results)
    assert len(segmented) == 2          # frames 0 and 2; frame 1 reuses the map


def test_missing_files_and_mismatches_are_named(checkpoints, tmp_path):
    dc, dk = checkpoints['det']
    with pytest.raises(PerceptionError, match="detector.config '/nope/model.py' does not exist"):
        build_detector(mm_params(checkpoints, **{'detector.config': '/nope/model.py'}))
    with pytest.raises(PerceptionError, match="detector.checkpoint '/nope/w.pth' does not exist"):
        build_detector(mm_params(checkpoints, **{'detector.checkpoint': '/nope/w.pth'}))
    with pytest.raises(PerceptionError, match=r"segmenter.checkpoint '.*rtmdet.*' does not fit segmenter.config"):
        build_segmenter(mm_params(checkpoints, **{'segmenter.checkpoint': dk}))
    with pytest.raises(PerceptionError, match=r"segmenter.config '.*rtmdet.*' cannot be built as a mmseg model"):
        build_segmenter(mm_params(checkpoints, **{'segmenter.config': dc}))
    with pytest.raises(PerceptionError, match='detector.checkpoint is empty'):
        build_detector(mm_params(checkpoints, **{'detector.checkpoint': ''}))
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint')
    with pytest.raises(PerceptionError, match='cannot be read as a torch checkpoint'):
        build_detector(mm_params(checkpoints, **{'detector.checkpoint': str(garbage)}))


def test_metadata_that_does_not_fit_the_head_is_refused(checkpoints, tmp_path):
    ckpt = torch.load(checkpoints['det'][1], map_location='cpu', weights_only=True)
    ckpt['meta']['dataset_meta']['classes'] = ['person', 'bicycle', 'car']
    wrong = tmp_path / 'three_classes.pth'
    torch.save(ckpt, wrong)
    with pytest.raises(PerceptionError, match='outputs 80 classes but its metadata names 3'):
        build_detector(mm_params(checkpoints, **{'detector.checkpoint': str(wrong)}))


def test_unknown_model_name_offline_is_one_clear_error(checkpoints):
    with pytest.raises(PerceptionError, match="mmdet model 'no_such_model_xyz' could not be resolved"):
        build_detector(mm_params(checkpoints, **{'detector.config': 'no_such_model_xyz',
                                                  'detector.checkpoint': ''}))
    with pytest.raises(PerceptionError, match="mmseg model 'no_such_seg_model' could not be resolved"):
        build_segmenter(mm_params(checkpoints, **{'segmenter.config': 'no_such_seg_model',
                                                   'segmenter.checkpoint': ''}))


def test_model_name_with_a_local_checkpoint_uses_the_shipped_config(checkpoints):
    detector = build_detector(mm_params(checkpoints, **{'detector.config': 'rtmdet_tiny_8xb32-300e_coco'}))
    assert len(detector.class_names) == 80


def test_relative_paths_are_taken_from_the_current_directory(checkpoints, monkeypatch):
    import os
    (sc, sk) = checkpoints['seg']
    monkeypatch.chdir(os.path.dirname(sc))
    segmenter = build_segmenter(mm_params(checkpoints, **{'segmenter.config': os.path.basename(sc),
                                                           'segmenter.checkpoint': os.path.basename(sk)}))
    assert len(segmenter.class_names) == 150


def test_half_on_cpu_is_ignored_with_float32(checkpoints, vtest_frames, caplog):
    detector = build_detector(mm_params(checkpoints, **{'detector.half': True}))
    assert detector.half is False and len(detector.detect(vtest_frames[0])) > 0
    assert 'detector.half applies on a GPU only' in caplog.text


def _conv_weights_channels_last(model) -> bool:
    weights = [p for p in model.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    return all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)


def _norms(model) -> int:
    from torch.nn.modules.batchnorm import _BatchNorm
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def test_cpu_speedups_give_the_models_own_outputs(models, checkpoints, vtest_frames):
    """On CPU both backends switch to channels-last memory at load and the detector folds its batch norms into
    the convolutions (the segmenter where asked: it gains < 5 %), each checked there, and on real frames their
    raw outputs and label maps are those of the model as loaded, within float rounding."""
    from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector
    from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter
    from vad_ros.perception.openmmlab.segformer_head import factored_head
    detector, default_segmenter = models
    (dc, dk), (sc, sk) = checkpoints['det'], checkpoints['seg']
    assert default_segmenter.channels_last and not default_segmenter.folded_norms
    assert default_segmenter.runtime_report().line() == ('mmseg:EncoderDecoder on cpu (float32); prepare: toolbox '
                                                         'pipeline; network: channels_last')
    segmenter = MMSegSegmenter(sc, sk, 'cpu', fold_norms=True)
    plain_det = MMDetDetector(dc, dk, 'cpu', channels_last=False, fold_norms=False)
    plain_seg = MMSegSegmenter(sc, sk, 'cpu', channels_last=False, fold_norms=False)
    for fast, plain in ((detector, plain_det), (segmenter, plain_seg)):
        assert fast.channels_last and fast.folded_norms
        assert not plain.channels_last and not plain.folded_norms
        assert _conv_weights_channels_last(fast.model) and not _conv_weights_channels_last(plain.model)
        assert _norms(fast.model) < _norms(plain.model)
    assert factored_head(segmenter.model.decode_head)    # SegFormer's head with its fusion norm folded
    assert detector.runtime_report().line() == ('mmdet:RTMDet on cpu (float32); prepare: toolbox pipeline; network: '
                                                'fold_norms, channels_last; decode: package')   # keep_low_scores
    assert segmenter.runtime_report().line() == ('mmseg:EncoderDecoder on cpu (float32); prepare: toolbox pipeline; '
                                                 'network: fold_norms, channels_last')
    assert [o.state for o in detector.variants.outcomes.values()] == ['kept', 'kept', 'kept', 'off', 'off']
    assert plain_det.runtime_report().line().endswith('; network: as loaded; decode: package')
    for frame in vtest_frames[:2]:
        for fast, plain in ((detector, plain_det), (segmenter, plain_seg)):
            inputs = fast.prepare(frame)[0]
            ours, ref = fast.probe_outputs(inputs), plain.probe_outputs(inputs)
            assert len(ours) == len(ref) > 0
            for a, b in zip(ours, ref):
                assert a.shape == b.shape
                assert float((a - b).abs().max()) <= 1e-4 * max(1.0, float(b.abs().max()))
        assert (segmenter.segment(frame).labels == plain_seg.segment(frame).labels).mean() > 0.999


class FailsChannelsLast:
    """Stand-in for a model whose code breaks on channels-last tensors (the shipped RTMDet and SegFormer
    configs do not; exotic third-party ops can): its raw outputs raise in that layout."""
    rejected = 'channels_last'

    def probe_outputs(self, inputs):
        if self.channels_last:
            raise RuntimeError('view size is not compatible with input tensor\'s size and stride')
        return super().probe_outputs(inputs)


class DiffersChannelsLast:
    """Stand-in for a model whose outputs change with the memory layout (a custom op that reads raw
    strides): its raw outputs move by 1 % of their range in channels-last."""
    rejected = 'channels_last'

    def probe_outputs(self, inputs):
        out = super().probe_outputs(inputs)
        return [o + 0.01 * o.abs().max() for o in out] if self.channels_last else out


class DiffersFolded:
    """Stand-in for a model where folding the norms changes the outputs (a batch norm that the module order
    puts after a convolution but the forward applies elsewhere): its raw outputs move once folded."""
    rejected = 'fold_norms'

    def probe_outputs(self, inputs):
        out = super().probe_outputs(inputs)
        return [o + 0.01 * o.abs().max() for o in out] if self.folded_norms else out


@pytest.mark.parametrize('stand_in', [FailsChannelsLast, DiffersChannelsLast, DiffersFolded])
def test_a_speedup_that_changes_the_outputs_is_not_kept(checkpoints, vtest_frames, stand_in):
    """The refusal, with its reason (the error, or the largest difference), is in the runtime report that the
    node's start-up line and /diagnostics print."""
    from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector
    from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter
    from vad_ros.perception.base import runtime_report
    (dc, dk), (sc, sk) = checkpoints['det'], checkpoints['seg']
    plain_norms = _norms(MMDetDetector(dc, dk, 'cpu', channels_last=False, fold_norms=False).model)
    detector = type('Det', (stand_in, MMDetDetector), {})(dc, dk, 'cpu')
    segmenter = type('Seg', (stand_in, MMSegSegmenter), {})(sc, sk, 'cpu', fold_norms=True)
    why = 'error: RuntimeError: view size' if stand_in is FailsChannelsLast else 'max difference 0.0'
    for backend in (detector, segmenter):
        if stand_in.rejected == 'channels_last':
            assert not backend.channels_last and not _conv_weights_channels_last(backend.model)
            assert backend.folded_norms                   # the other speed-up still applies
        else:
            assert not backend.folded_norms and backend.channels_last
        outcome = backend.variants.outcomes[stand_in.rejected]
        assert outcome.state == 'refused' and outcome.reason.startswith(why)
        line = runtime_report(backend).line()
        assert f'refused: {stand_in.rejected} ({why}' in line
        kept = 'fold_norms' if stand_in.rejected == 'channels_last' else 'channels_last'
        assert f'network: {kept};' in line
    assert (_norms(detector.model) == plain_norms) == (stand_in.rejected == 'fold_norms')
    assert len(detector.detect(vtest_frames[0])) > 0
    assert segmenter.segment(vtest_frames[0]).labels.shape == vtest_frames[0].shape[:2]


def test_segformer_head_in_the_cheaper_order_gives_the_heads_logits(models, vtest_frames):
    """The fusion applied per stage before the resize (vad_ros.perception.openmmlab.segformer_head) equals mmseg's own
    head.forward on real frames within float rounding, and the label maps are the same."""
    from vad_ros.perception.openmmlab.toolbox import scope
    from vad_ros.perception.openmmlab.segformer_head import factored_head, factored_logits
    _, segmenter = models
    head = segmenter.model.decode_head
    assert factored_head(head)
    for frame in vtest_frames[:3]:
        inputs = segmenter.as_layout(segmenter.prepare(frame)[0])
        with scope('mmseg'), torch.inference_mode():
            feats = segmenter.model.extract_feat(inputs)
            ours, ref = factored_logits(head, feats), head.forward(feats)
        assert ours.shape == ref.shape
        assert float((ours - ref).abs().max()) <= 1e-4 * max(1.0, float(ref.abs().max()))
        assert (ours.argmax(1) == ref.argmax(1)).float().mean() > 0.999


def test_segformer_head_in_training_mode_keeps_its_own_forward(checkpoints):
    """Batch norm with batch statistics cannot be folded: such a head is left to its own forward."""
    from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter
    from vad_ros.perception.openmmlab.segformer_head import factored_head
    segmenter = MMSegSegmenter(*checkpoints['seg'], 'cpu', fold_norms=False)
    assert factored_head(segmenter.model.decode_head)
    fusion = segmenter.model.decode_head.fusion_conv
    norm = getattr(fusion, fusion.norm_name)
    norm.train()
    try:
        assert not factored_head(segmenter.model.decode_head)
    finally:
        norm.eval()


def test_folding_is_not_tried_where_the_copy_would_be_too_large(checkpoints, monkeypatch):
    """Folding works on a copy of the model; above COPY_LIMIT_BYTES of parameters no copy is made and the
    norms stay (channels-last, tried in place, still applies)."""
    from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector
    from vad_ros.perception.openmmlab.backend import ModelBackend
    monkeypatch.setattr(ModelBackend, 'COPY_LIMIT_BYTES', 1024)
    detector = MMDetDetector(*checkpoints['det'], 'cpu')
    assert not detector.folded_norms and detector.channels_last
    assert _norms(detector.model) == _norms(MMDetDetector(*checkpoints['det'], 'cpu', fold_norms=False).model)
    outcome = detector.variants.outcomes['fold_norms']
    assert outcome.state == 'refused' and outcome.reason.startswith('not tried: ')


def test_decoding_on_the_host_gives_the_same_detections(models, vtest_frames, monkeypatch):
    """mmcv without CUDA ops cannot run NMS on a GPU: the head's raw maps are then decoded on the CPU. Here the
    network is on the CPU too, so the host path must give exactly detect()'s detections; the raw maps arrive as
    float32 whatever precision the network ran in."""
    from vad_ros.perception.openmmlab.mmdet_detector import to_cpu
    detector, _ = models
    frame = cv2.resize(vtest_frames[1], (640, 480))
    monkeypatch.setattr(detector, '_dense', None)                 # MMDetection's decoding
    expected = detector.detect(frame)
    monkeypatch.setattr(detector, 'decode_on_host', True)
    got = detector.detect(frame)
    assert len(got) == len(expected) > 0
    np.testing.assert_array_equal(got.boxes, expected.boxes)
    np.testing.assert_array_equal(got.labels, expected.labels)
    raw = ([torch.ones(1, 2, 3, 3, dtype=torch.float16)], [torch.zeros(1, 4, 3, 3)], None)
    moved = to_cpu(raw)
    assert isinstance(moved, tuple) and isinstance(moved[0], list) and moved[2] is None
    assert moved[0][0].dtype == torch.float32 and moved[0][0].device.type == 'cpu'


def test_an_mmcv_without_cuda_ops_decodes_on_the_host_and_says_so(checkpoints, monkeypatch, caplog):
    from mmcv.ops import get_compiling_cuda_version

    from vad_ros.perception.openmmlab import mmdet_detector
    assert mmdet_detector.mmcv_ops_on('cpu')
    assert mmdet_detector.mmcv_ops_on('cuda:0') == (get_compiling_cuda_version() != 'not available')
    assert not build_detector(mm_params(checkpoints)).decode_on_host          # CPU: mmcv's own ops
    monkeypatch.setattr(mmdet_detector, 'mmcv_ops_on', lambda device: False)   # as on a GPU with a CPU build
    with caplog.at_level('WARNING', logger='vad_ros.perception'):
        detector = build_detector(mm_params(checkpoints))
    assert detector.decode_on_host and detector.package_decode        # RTMDet: the package decodes, no mmcv op
    assert 'mmcv was built without CUDA ops' not in caplog.text
    with caplog.at_level('WARNING', logger='vad_ros.perception'):
        mmdet_decoding = mmdet_detector.MMDetDetector(*checkpoints['det'], 'cpu', package_decode=False)
    assert mmdet_decoding.decode_on_host and not mmdet_decoding.package_decode
    assert 'mmcv was built without CUDA ops' in caplog.text and 'decoded on the CPU' in caplog.text


def test_compiled_networks_give_the_models_own_results(models, checkpoints, vtest_frames):
    """detector.compile / segmenter.compile (torch.compile, checked at load): detections and label maps as
    the uncompiled models' on real frames."""
    detector, segmenter = models
    p = mm_params(checkpoints, **{'detector.compile': True, 'segmenter.compile': True})
    compiled_detector, compiled_segmenter = build_detector(p), build_segmenter(p)
    assert compiled_detector.compiled and compiled_segmenter.compiled
    assert not detector.compiled and not segmenter.compiled
    for frame in vtest_frames[1:3]:
        frame = cv2.resize(frame, (640, 480))
        expected, got = detector.detect(frame), compiled_detector.detect(frame)
        assert len(got) == len(expected) > 0
        np.testing.assert_allclose(got.boxes, expected.boxes, atol=0.5)
        np.testing.assert_allclose(got.scores, expected.scores, atol=1e-3)
        assert (compiled_segmenter.segment(frame).labels == segmenter.segment(frame).labels).mean() > 0.999


def test_a_network_that_cannot_be_compiled_runs_uncompiled(checkpoints, vtest_frames, monkeypatch):
    def no_compiler(fn, **kwargs):
        raise RuntimeError('no C++ compiler here')
    monkeypatch.setattr(torch, 'compile', no_compiler)
    segmenter = build_segmenter(mm_params(checkpoints, **{'segmenter.compile': True}))
    assert not segmenter.compiled
    assert 'refused: compile (error: RuntimeError: no C++ compiler here)' in segmenter.runtime_report().line()
    assert segmenter.segment(cv2.resize(vtest_frames[1], (640, 480))).labels.shape == (480, 640)
