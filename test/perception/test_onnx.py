"""vad-export + the ONNX Runtime backends against the PyTorch backends on the same checkpoints: RTMDet-tiny and
SegFormer-B0 built from the configs shipped in mmdet / mmseg with random weights, real frames.
Targets (issue 15): boxes within 1 px, scores within 1e-3, label maps >= 99 % equal."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip('torch', reason='exporting needs torch (tools/setup.sh models)')
pytest.importorskip('mmdet', reason='needs onedl-mmdetection (tools/setup.sh models)')
pytest.importorskip('mmseg', reason='needs onedl-mmsegmentation (tools/setup.sh models)')
pytest.importorskip('onnxruntime', reason='needs onnxruntime (tools/setup.sh models)')

import torch  # noqa: E402

from vad_ros import params as vparams  # noqa: E402
from vad_ros.devtools.random_checkpoints import lively_rtmdet, make_random_checkpoint  # noqa: E402
from vad_ros.perception.base import PerceptionError  # noqa: E402
from vad_ros.perception.factory import build_detector, build_segmenter  # noqa: E402
from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector  # noqa: E402
from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter  # noqa: E402
from vad_ros.perception.onnx.detector import OnnxDetector  # noqa: E402
from vad_ros.perception.onnx.export import export, main as export_main  # noqa: E402
from vad_ros.perception.onnx.segmenter import OnnxSegmenter  # noqa: E402
from vad_ros.perception.base import runtime_report  # noqa: E402
from vad_ros.pipeline import build_pipeline, detect_all  # noqa: E402


@pytest.fixture(scope='module')
def models(tmp_path_factory, vtest_frames):
    out = tmp_path_factory.mktemp('onnx_models')
    dc, dk = make_random_checkpoint('det', str(out))
    sc, sk = make_random_checkpoint('seg', str(out))
    dk_lively = lively_rtmdet(dc, dk, vtest_frames[0], str(out / 'rtmdet_lively.pth'))
    det_onnx, det_meta = export('detector', dc, dk_lively, str(out / 'det.onnx'))
    seg_onnx, seg_meta = export('segmenter', sc, sk, str(out / 'seg.onnx'))
    return {'det': (dc, dk_lively), 'seg': (sc, sk), 'det_onnx': det_onnx, 'seg_onnx': seg_onnx,
            'det_meta': det_meta, 'seg_meta': seg_meta}


def assert_same_detections(ours, ref):
    """Same count and labels; boxes within 1 px, scores within 1e-3 (both sorted by score)."""
    assert len(ours) == len(ref)
    a, b = np.argsort(-ours.scores, kind='stable'), np.argsort(-ref.scores, kind='stable')
    np.testing.assert_allclose(ours.scores[a], ref.scores[b], atol=1e-3)
    np.testing.assert_allclose(ours.boxes[a], ref.boxes[b], atol=1.0)
    assert (ours.labels[a] == ref.labels[b]).mean() == 1.0


def assert_same_set(ours, ref):
    """As assert_same_detections, but boxes whose scores tie within float noise may come in either order:
    every box is matched to its own counterpart (same label, score within 1e-3, corners within 1 px)."""
    assert len(ours) == len(ref)
    free = np.ones(len(ref), bool)
    for box, score, label in zip(ours.boxes, ours.scores, ours.labels):
        ok = free & (ref.labels == label) & (np.abs(ref.scores - score) <= 1e-3) \
            & (np.abs(ref.boxes - box).max(axis=1) <= 1.0)
        assert ok.any(), f'no counterpart for {box} {score} {label}'
        free[np.flatnonzero(ok)[np.argmin(np.abs(ref.boxes[ok] - box).max(axis=1))]] = False


def test_export_writes_the_network_and_its_metadata(models):
    import json
    meta = json.loads(open(models['det_meta']).read())
    assert meta['role'] == 'detector' and meta['decoder'] == 'dense' and len(meta['class_names']) == 80
    assert meta['input_shape'] == [1, 3, 640, 640] and meta['outputs'][:2] == ['scores_0', 'boxes_0']
    assert meta['dynamic_batch'] is True
    with open(models['seg_meta']) as f:
        assert 'dynamic_batch' not in json.load(f)
    assert meta['test_cfg']['score_thr'] == 0.001 and meta['test_cfg']['iou_threshold'] == 0.65
    meta = json.loads(open(models['seg_meta']).read())
    assert meta['role'] == 'segmenter' and meta['decoder'] == 'label_map' and len(meta['class_names']) == 150
    assert meta['preprocess']['scale'] == [2048, 512] and meta['preprocess']['bgr_to_rgb'] is True


def test_the_detector_graph_reads_no_shape_off_the_head(models, tmp_path):
    """The levels' sizes are fixed at export: the priors are constants, no Shape node reads a convolution's
    output (on CPU each costs a full conversion out of onnxruntime's blocked layout), and the class scores'
    sigmoid sits right on the convolution, where onnxruntime's optimiser fuses it."""
    import onnx
    import onnxruntime as ort
    graph = onnx.load(models['det_onnx']).graph
    made_by = {out: node for node in graph.node for out in node.output}
    shape_of = [made_by.get(node.input[0]) for node in graph.node if node.op_type == 'Shape']
    assert not [n.name for n in shape_of if n is not None and n.op_type in ('Conv', 'Sigmoid', 'Transpose')]
    sigmoid_inputs = [made_by[n.input[0]].name for n in graph.node if n.op_type == 'Sigmoid'
                      and 'rtm_cls' in made_by[n.input[0]].name]
    assert len(sigmoid_inputs) == 3                    # one per level, on rtm_cls.<i>'s output
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / 'optimised.onnx')
    ort.InferenceSession(models['det_onnx'], options, providers=['CPUExecutionProvider'])
    optimised = onnx.load(str(tmp_path / 'optimised.onnx')).graph
    fused = [n for n in optimised.node if 'rtm_cls' in n.name and n.op_type == 'FusedConv']
    assert len(fused) == 3 and all(onnx.helper.get_attribute_value(a) == b'Sigmoid'
                                   for n in fused for a in n.attribute if a.name == 'activation')


@pytest.mark.parametrize('size', [(640, 480), (768, 576), (500, 333)])
def test_numpy_preprocessing_equals_the_toolbox_pipeline(models, vtest_frames, size):
    frame = cv2.resize(vtest_frames[3], size)
    det = MMDetDetector(*models['det'], device='cpu')
    onnx_det = OnnxDetector(models['det_onnx'], device='cpu')
    np.testing.assert_allclose(onnx_det.preprocess(frame), det.prepare(frame)[0].numpy(), atol=1e-4)
    seg = MMSegSegmenter(*models['seg'], device='cpu')
    onnx_seg = OnnxSegmenter(models['seg_onnx'], device='cpu')
    np.testing.assert_allclose(onnx_seg.preprocess(frame), seg.prepare(frame)[0].numpy(), atol=1e-4)


@pytest.mark.parametrize('min_score', [None, 0.3])
def test_detections_equal_the_pytorch_path(models, vtest_frames, min_score):
    """None: the config's COCO settings (hundreds of boxes through NMS); 0.3: the deployment settings."""
    det = MMDetDetector(*models['det'], device='cpu', min_score=min_score, package_decode=False)   # MMDetection's
    onnx_det = OnnxDetector(models['det_onnx'], device='cpu', min_score=min_score)
    counts = []
    for frame in (vtest_frames[0], cv2.resize(vtest_frames[4], (640, 480))):
        ref, ours = det.detect(frame), onnx_det.detect(frame)
        assert_same_detections(ours, ref)
        counts.append(len(ref))
    assert min(counts) >= (30 if min_score is None else 3)      # the comparison is not vacuous


@pytest.mark.parametrize('package_decode', [False, True])
def test_deployment_settings_keep_every_detection_the_pipeline_uses(models, vtest_frames, package_decode):
    """score_threshold inside the model: the detections >= 0.3 are those of the config's settings (each decoder
    against itself: by default the package decodes with the config's settings, MMDetection with the pipeline's)."""
    config = MMDetDetector(*models['det'], device='cpu', package_decode=package_decode)
    deploy = MMDetDetector(*models['det'], device='cpu', min_score=0.3, package_decode=package_decode)
    assert config.package_decode == deploy.package_decode == package_decode
    assert deploy.model.bbox_head.test_cfg['nms_pre'] == 1000
    assert config.model.bbox_head.test_cfg['score_thr'] == 0.001
    for frame in vtest_frames[:2]:
        everything, fast = config.detect(frame), deploy.detect(frame)
        keep = everything.scores >= 0.3
        assert len(fast) == keep.sum() > 0 and fast.scores.min() >= 0.3
        np.testing.assert_array_equal(fast.boxes, everything.boxes[keep])
        np.testing.assert_array_equal(fast.scores, everything.scores[keep])


@pytest.mark.parametrize('size', [(640, 480), (768, 576)])
def test_label_maps_equal_the_pytorch_path(models, vtest_frames, size):
    """Exported for 640x480 frames: 768x576 gives the same network input (683x512)."""
    seg = MMSegSegmenter(*models['seg'], device='cpu')
    onnx_seg = OnnxSegmenter(models['seg_onnx'], device='cpu')
    frame = cv2.resize(vtest_frames[5], size)
    ref, ours = seg.segment(frame).labels, onnx_seg.segment(frame).labels
    assert ours.shape == ref.shape == (size[1], size[0]) and ours.dtype == np.uint16
    assert len(np.unique(ref)) > 5
    assert (ours == ref).mean() >= 0.99


def test_onnx_backends_through_the_parameters(models, vtest_frames):
    p = vparams.resolve({'detector.backend': 'onnx', 'detector.checkpoint': models['det_onnx'],
                         'detector.device': 'auto', 'segmenter.backend': 'onnx',
                         'segmenter.checkpoint': models['seg_onnx'], 'segmenter.device': 'cpu'})
    detector, segmenter = build_detector(p), build_segmenter(p)
    assert detector.name == 'onnx:RTMDet' and segmenter.name == 'onnx:EncoderDecoder'
    assert detector.device == 'cpu' and 'CPUExecutionProvider' in detector.providers
    line = runtime_report(segmenter).line()                      # what the start-up line says
    assert line == 'onnx:EncoderDecoder on cpu; network: ONNX Runtime CPUExecutionProvider', line
    assert detector.test_cfg.score_thr == pytest.approx(0.3) and detector.class_names[0] == 'person'
    det = detector.detect(vtest_frames[6])
    assert det.boxes.dtype == np.float32 and det.labels.dtype == np.int64 and (det.scores >= 0.3).all()
    assert (det.boxes[:, 2] <= 768).all() and (det.boxes[:, 3] <= 576).all()
    assert segmenter.segment(vtest_frames[6]).labels.shape == (576, 768)
    pipeline = build_pipeline({**p, 'tracking.tracker': 'iou'}, detector, segmenter)   # tracks >= score_threshold
    assert detector.test_cfg.score_thr == pytest.approx(0.3)
    pipeline.update_params({'score_threshold': 0.2})            # lowered at runtime: applied in the model
    assert detector.test_cfg.score_thr == pytest.approx(0.2)
    pipeline.update_params({'score_threshold': 0.5})            # raised: the pipeline drops the rest
    assert detector.test_cfg.score_thr == pytest.approx(0.2)
    byte = build_detector(p)                  # the default tracker's second pass needs detections down to its floor
    build_pipeline(p, byte, None)
    assert byte.test_cfg.score_thr == pytest.approx(vparams.SPECS['tracking.low_score'].default)
    keep_low = build_detector({**p, 'detector.keep_low_scores': True})
    assert keep_low.test_cfg.score_thr == 0.001 and keep_low.test_cfg.nms_pre == 30000


def test_a_frame_that_needs_another_input_size_names_the_fix(models, vtest_frames, tmp_path):
    segmenter = OnnxSegmenter(models['seg_onnx'], device='cpu')
    with pytest.raises(PerceptionError, match=r'a 1280x720 frame gives a 910x512 network input, but the model '
                                              r'was exported for 683x512 \(640x480 frames\).*--frame-size 1280x720'):
        segmenter.segment(cv2.resize(vtest_frames[0], (1280, 720)))
    wide, _ = export('segmenter', *models['seg'], str(tmp_path / 'wide.onnx'), frame_size=(1280, 720))
    assert OnnxSegmenter(wide).segment(cv2.resize(vtest_frames[0], (1280, 720))).labels.shape == (720, 1280)
    detector = OnnxDetector(models['det_onnx'], device='cpu')    # RTMDet pads every frame to 640x640
    assert detector.detect(cv2.resize(vtest_frames[0], (1280, 720))).boxes.shape[1] == 4


def test_wrong_files_are_named(models, tmp_path):
    with pytest.raises(PerceptionError, match="is an exported segmenter, not a detector"):
        OnnxDetector(models['seg_onnx'], config=models['seg_meta'])
    with pytest.raises(PerceptionError, match="segmenter.config '.*' cannot be read as JSON"):
        OnnxSegmenter(models['seg_onnx'], config=models['seg'][0])
    broken = tmp_path / 'broken.onnx'
    broken.write_bytes(b'not a model')
    (tmp_path / 'broken.json').write_text(open(models['det_meta']).read())
    with pytest.raises(PerceptionError, match="'.*broken.onnx' cannot be loaded by onnxruntime"):
        OnnxDetector(str(broken))
    with pytest.raises(PerceptionError, match='EncoderDecoder is not a plain single-stage dense detector'):
        export('detector', *models['seg'], str(tmp_path / 'x.onnx'))
    assert export_main(['segmenter', '--config', models['det'][0], '--checkpoint', models['det'][1],
                        '--out', str(tmp_path / 'y.onnx')]) == 1


def test_the_onnx_backends_run_without_torch_or_the_toolboxes(models):
    """What a robot needs: onnxruntime, numpy, OpenCV (torch, mmcv, mmengine, mmdet, mmseg made unimportable)."""
    code = f"""
import sys
for name in ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmdet', 'mmseg'):
    sys.modules[name] = None
import numpy as np
from vad_ros import params
from vad_ros.perception.factory import build_detector, build_segmenter
p = params.resolve({{'detector.backend': 'onnx', 'detector.checkpoint': {models['det_onnx']!r},
                     'detector.keep_low_scores': True, 'segmenter.backend': 'onnx',
                     'segmenter.checkpoint': {models['seg_onnx']!r}}})
frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
print(len(build_detector(p).detect(frame)), build_segmenter(p).segment(frame).labels.shape)
"""
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    count, shape = run.stdout.strip().split(' ', 1)
    assert int(count) > 0 and shape == '(480, 640)'


def batch_frames(vtest_frames) -> list[np.ndarray]:
    """Six cameras: four 768x576 frames, one 640x480, one 500x333 (RTMDet pads every frame to 640x640, so
    all six share one input size)."""
    return vtest_frames[:4] + [cv2.resize(vtest_frames[4], (640, 480)), cv2.resize(vtest_frames[5], (500, 333))]


def counting(backend, method: str) -> list[int]:
    """Wraps backend.<method> to record the batch size of each call; returns the record."""
    calls: list[int] = []
    inner = getattr(backend, method)

    def wrapper(data, *rest):
        calls.append(len(data))
        return inner(data, *rest)

    setattr(backend, method, wrapper)
    return calls


@pytest.mark.parametrize('min_score', [None, 0.3])
def test_onnx_batch_detection_equals_one_by_one(models, vtest_frames, min_score):
    """One run for six cameras of three frame sizes; each camera's detections those of detect()."""
    detector = OnnxDetector(models['det_onnx'], device='cpu', min_score=min_score)
    assert detector.dynamic_batch
    frames = batch_frames(vtest_frames)
    single = [detector.detect(frame) for frame in frames]
    runs = counting(detector, 'run')
    batched = detector.detect_batch(frames)
    assert runs == [6]
    for ours, ref, frame in zip(batched, single, frames):
        assert_same_set(ours, ref)
        assert (ours.boxes[:, 2] <= frame.shape[1]).all() and (ours.boxes[:, 3] <= frame.shape[0]).all()
    assert min(len(d) for d in single) >= (30 if min_score is None else 3)     # not vacuous


def test_onnx_batches_are_capped_and_a_graph_without_batch_axis_runs_frame_by_frame(models, vtest_frames):
    frames = batch_frames(vtest_frames)
    detector = OnnxDetector(models['det_onnx'], device='cpu', min_score=0.3)
    single = [detector.detect(frame) for frame in frames]
    detector.MAX_BATCH = 4
    runs = counting(detector, 'run')
    for ours, ref in zip(detector.detect_batch(frames), single):
        assert_same_set(ours, ref)
    assert runs == [4, 2]
    detector.dynamic_batch = False           # what a file exported with a fixed batch of 1 gives
    runs.clear()
    for ours, ref in zip(detector.detect_batch(frames), single):
        assert_same_set(ours, ref)
    assert runs == [1] * 6


def test_onnx_batch_refuses_a_frame_the_export_does_not_fit(models, vtest_frames):
    detector = OnnxDetector(models['det_onnx'], device='cpu')
    detector.input_hw = (512, 640)          # as if exported for another input size
    with pytest.raises(PerceptionError, match='network input, but the model was exported for 640x512'):
        detector.detect_batch(vtest_frames[:2])


@pytest.mark.parametrize('min_score', [None, 0.3])
def test_mmdet_batch_detection_equals_one_by_one(models, vtest_frames, min_score):
    """The PyTorch backend: one forward pass and one post-processing call for six cameras."""
    detector = MMDetDetector(*models['det'], device='cpu', min_score=min_score)
    frames = batch_frames(vtest_frames)
    single = [detector.detect(frame) for frame in frames]
    passes = counting(detector, 'network')
    batched = detector.detect_batch(frames)
    assert passes == [6]
    for ours, ref in zip(batched, single):
        assert_same_set(ours, ref)
    assert min(len(d) for d in single) >= (30 if min_score is None else 3)


def test_detect_all_batches_the_cameras_and_matches_the_pytorch_path(models, vtest_frames):
    """pipeline.detect_all, the node's call for its cameras: ONNX batch == PyTorch one by one."""
    onnx_det = OnnxDetector(models['det_onnx'], device='cpu', min_score=0.3)
    torch_det = MMDetDetector(*models['det'], device='cpu', min_score=0.3)
    frames = vtest_frames[:4]
    runs = counting(onnx_det, 'run')
    for ours, ref in zip(detect_all(onnx_det, frames), [torch_det.detect(f) for f in frames]):
        assert_same_set(ours, ref)
    assert runs == [4]


def test_cpu_sessions_spin_only_inside_a_run(models):
    """The product's session options (onnx_runtime.SESSION_CONFIG): threads spin during a run, not after it."""
    import os
    import time
    detector = OnnxDetector(models['det_onnx'], device='cpu')
    options = detector.session.get_session_options()
    assert options.get_session_config_entry('session.intra_op.allow_spinning') == '1'
    assert options.get_session_config_entry('session.force_spinning_stop') == '1'
    assert options.intra_op_num_threads == 0          # onnxruntime's default: one thread per physical core
    blob = np.zeros((1, 3, 640, 640), np.float32)
    detector.run(blob)
    cpu = os.times()
    time.sleep(0.2)                                   # idle after a run: the pool's threads must not spin
    used = sum(os.times()[:2]) - sum(cpu[:2])     # clock ticks of 10 ms; threads left spinning: ~0.03 s
    assert used < 0.02, f'{used:.3f} s of CPU in 0.2 s idle after a run'


@pytest.mark.parametrize('min_score', [None, 0.3])
def test_package_decoding_of_the_pytorch_detector_equals_mmdetections(models, vtest_frames, monkeypatch,
                                                                      min_score):
    """The PyTorch detector decodes with the package (dense_decode.py: the exported decoding module, candidates
    picked with torch, NMS in numpy), also where mmcv has no CUDA ops (no NMS on the GPU; here on the CPU, as such
    an mmcv looks to a GPU model): the detections are MMDetection's, one by one and batched, also after the score
    threshold is lowered at run time."""
    from vad_ros.perception.openmmlab import mmdet_detector
    reference = MMDetDetector(*models['det'], device='cpu', min_score=min_score, package_decode=False)
    monkeypatch.setattr(mmdet_detector, 'mmcv_ops_on', lambda device: False)
    detector = MMDetDetector(*models['det'], device='cpu', min_score=min_score)
    assert detector.decode_on_host and detector.package_decode
    frames = batch_frames(vtest_frames)
    expected = [reference.detect(frame) for frame in frames]
    for ours, ref in zip([detector.detect(frame) for frame in frames], expected):
        assert_same_detections(ours, ref)
    for ours, ref in zip(detector.detect_batch(frames), expected):
        assert_same_set(ours, ref)
    assert min(len(d) for d in expected) >= (30 if min_score is None else 3)       # not vacuous
    if min_score is not None:
        for backend in (detector, reference):
            backend.lower_min_score(0.2)
        assert detector._dense.cfg.score_thr == pytest.approx(0.2)
        ref = reference.detect(frames[0])
        assert len(ref) > len(expected[0])
        assert_same_detections(detector.detect(frames[0]), ref)


def test_heads_the_package_cannot_decode_keep_mmdetections_decoding_on_the_host(tmp_path, vtest_frames, monkeypatch,
                                                                                 caplog):
    """YOLOX's head has objectness (score factors), which the package's decoding does not apply: without mmcv's
    GPU NMS its raw maps are decoded by MMDetection on the host, said with a warning."""
    from vad_ros.perception.openmmlab import mmdet_detector
    config, checkpoint = make_random_checkpoint('det', str(tmp_path), 'yolox_tiny_8xb8-300e_coco')
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True)
    for name, value in ckpt['state_dict'].items():      # objects everywhere, persons only: boxes to decode
        if name.startswith('bbox_head.multi_level_conv_obj.') and name.endswith('bias'):
            value.fill_(5.0)
        elif name.startswith('bbox_head.multi_level_conv_cls.') and name.endswith('bias'):
            value.fill_(-12.0)
            value[0] = 0.0
    torch.save(ckpt, checkpoint)
    reference = MMDetDetector(config, checkpoint, device='cpu')
    monkeypatch.setattr(mmdet_detector, 'mmcv_ops_on', lambda device: False)
    with caplog.at_level('WARNING', logger='vad_ros.perception'):
        detector = MMDetDetector(config, checkpoint, device='cpu')
    assert detector.decode_on_host and not detector.package_decode
    assert 'decoded on the CPU' in caplog.text
    frame = cv2.resize(vtest_frames[1], (640, 480))
    ours, ref = detector.detect(frame), reference.detect(frame)
    assert len(ref) > 0
    np.testing.assert_array_equal(ours.boxes, ref.boxes)
    np.testing.assert_array_equal(ours.scores, ref.scores)
