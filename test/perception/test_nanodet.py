"""The NanoDet detector (vad_ros.perception.nanodet.detector) with the real shipped model (`tools/setup.sh nanodet`
fetches it; make test runs setup first) on real vtest.avi frames, checked against the boxes labelled by eye in
bench/labels/vtest_people.yaml (default runner: ONNX Runtime where installed); its decoding on hand-made outputs;
the torch executor's first layers against numpy. ONNX vs torch: test_nanodet_onnx.py."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, read_frames
from vad_ros.boxes import iou_matrix
from vad_ros.perception.base import Detector, PerceptionError
from vad_ros.perception.nanodet.detector import NanoDetDetector, candidates, decode_level, pair_outputs
from vad_ros.perception.nanodet.files import default_model_path
from vad_ros.perception.nanodet.preprocess import InputResizer, normalise
from vad_ros.perception.nanodet.tfjs_graph import read_model_json, read_weights

LABELS = yaml.safe_load((REPO / 'bench' / 'labels' / 'vtest_people.yaml').read_text())
MODEL = default_model_path()
needs_model = pytest.mark.skipif(not os.path.isfile(MODEL), reason=f'NanoDet model files absent ({MODEL}): run '
                                 '`tools/setup.sh nanodet` (make test does)')


@pytest.fixture(scope='module')
def detector():
    return NanoDetDetector(device='cpu')


@pytest.fixture(scope='module')
def torch_detector():
    return NanoDetDetector(device='cpu', runner='torch')


@pytest.fixture(scope='module')
def labelled_frames(vtest_path):
    frames = [550, 600, 700, 750]
    return dict(zip(frames, read_frames(vtest_path, frames)))


# ------------------------------------------------------------------------------------ real model, real frames

@needs_model
def test_is_a_detector_with_coco_vocabulary(detector):
    assert isinstance(detector, Detector)
    assert detector.device == 'cpu' and detector.input_size == 416 and detector.name == 'nanodet:nanodet.json'
    assert (detector.runner, detector.precision) == ('onnx', 'fp32')      # the default where onnxruntime is there
    assert len(detector.class_names) == 80 and detector.class_names[:3] == ('person', 'bicycle', 'car')


@needs_model
@pytest.mark.parametrize('frame', [550, 600, 700, 750])
def test_finds_every_labelled_person(detector, labelled_frames, frame):
    """Every unoccluded person at least 60 px tall (the small man by the far car in frame 750, 39 px, is missed:
    bench/RESULTS.md counts him)."""
    found = detector.detect(labelled_frames[frame])
    people = found.boxes[(found.labels == 0) & (found.scores >= 0.4)]
    for person in LABELS['people'][frame]:
        if person.get('occluded') or person['box'][3] - person['box'][1] < 60:
            continue
        best = iou_matrix(np.array([person['box']], np.float32), people).max(initial=0.0)
        assert best >= 0.5, f'frame {frame}: labelled person {person["box"]} found with IoU {best:.2f} only'


@needs_model
def test_people_on_the_lawn_are_found_with_high_scores(detector, labelled_frames):
    """The rule's evidence: the people labelled on_grass, each with score >= 0.5."""
    for frame, image in labelled_frames.items():
        found = detector.detect(image)
        for person in LABELS['people'][frame]:
            if person.get('on_grass'):
                iou = iou_matrix(np.array([person['box']], np.float32), found.boxes)[0]
                match = (iou >= 0.5) & (found.labels == 0)
                assert match.any() and found.scores[match].max() >= 0.5, (frame, person)


@needs_model
def test_parked_van_is_a_car_or_truck(detector, vtest_path):
    frame = read_frames(vtest_path, [0])[0]
    found = detector.detect(frame)
    van = np.array([LABELS['vehicles'][0][0]['box']], np.float32)
    iou = iou_matrix(van, found.boxes)[0]
    names = [found.class_names[i] for i in found.labels[(iou >= 0.5) & (found.scores >= 0.4)]]
    assert {'car', 'truck'} & set(names), f'van not found as car/truck; overlapping: {names}'


@needs_model
def test_boxes_are_inside_the_frame_and_sorted_types(detector, labelled_frames):
    found = detector.detect(labelled_frames[600])
    assert found.boxes.dtype == np.float32 and found.labels.dtype == np.int64 and found.scores.dtype == np.float32
    assert (found.boxes[:, :2] >= 0).all() and (found.boxes[:, 2] <= 768).all() and (found.boxes[:, 3] <= 576).all()
    assert (found.boxes[:, 2] > found.boxes[:, 0]).all() and found.scores.min() >= 0.1


@needs_model
def test_first_layers_match_numpy(torch_detector, labelled_frames):
    """Pad -> conv 3x3/2 -> bias -> LeakyReLU -> pad -inf -> max-pool 3x3/2 of the real graph, evaluated by the
    executor and by numpy from the raw weights of the .bin."""
    canvas, _ = InputResizer(416)(labelled_frames[600])
    x = normalise(canvas)
    out = torch_detector.network.graph.run({'input_1': torch.from_numpy(x)}, outputs=['PartitionedCall/MaxPool2d'])
    weights = read_weights(MODEL, read_model_json(MODEL)['weightsManifest'])
    w, b = weights['PartitionedCall/split'].astype(np.float64), weights['unknown_0'].astype(np.float64)
    nhwc = np.pad(x[0].transpose(1, 2, 0).astype(np.float64), ((1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(nhwc, (3, 3), axis=(0, 1))[::2, ::2]
    y = np.einsum('hwcij,ijco->hwo', win, w) + b
    y = np.pad(np.where(y > 0, y, 0.1 * y), ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    pooled = np.lib.stride_tricks.sliding_window_view(y, (3, 3), axis=(0, 1))[::2, ::2].max(axis=(-2, -1))
    np.testing.assert_allclose(out['PartitionedCall/MaxPool2d'][0].numpy(), pooled, atol=2e-3)


@needs_model
def test_cpu_runs_channels_last_with_the_default_layouts_detections(labelled_frames):
    """On the CPU the executor's convolutions run on channels-last memory (faster there); the detections on
    real frames are the default layout's up to float rounding."""
    fast, plain = NanoDetDetector(device='cpu', runner='torch'), NanoDetDetector(device='cpu', runner='torch')
    plain.network.graph.to('cpu', channels_last=False)
    assert fast.network.graph.channels_last and not plain.network.graph.channels_last
    for frame in labelled_frames.values():
        ours, ref = fast.detect(frame), plain.detect(frame)
        assert len(ours) == len(ref) > 0
        np.testing.assert_array_equal(ours.labels, ref.labels)
        np.testing.assert_allclose(ours.boxes, ref.boxes, atol=1e-2)
        np.testing.assert_allclose(ours.scores, ref.scores, atol=1e-5)
    conv = next(n for n in fast.network.graph._plan if n.op == 'Conv2D')
    assert conv.cache['weight'].is_contiguous(memory_format=torch.channels_last)


@needs_model
def test_rejects_non_bgr_images(detector):
    with pytest.raises(PerceptionError, match='expected a \\(H, W, 3\\) uint8 BGR image'):
        detector.detect(np.zeros((10, 10), np.uint8))


def test_missing_model_names_the_setup_command(tmp_path):
    with pytest.raises(PerceptionError, match=r"nope\.json' does not exist: run 'tools/setup.sh nanodet'"):
        NanoDetDetector(model_path=str(tmp_path / 'nope.json'), device='cpu')


# ------------------------------------------------------------------------------------ decoding, no model

def one_hot_logits(cells, bins_per_side):
    """(cells, 44) logits whose softmax puts (almost) all mass on the given bin of each side."""
    logits = np.full((cells, 4, 11), -30.0, np.float32)
    for side, b in enumerate(bins_per_side):
        logits[:, side, b] = 30.0
    return logits.reshape(cells, 44)


def test_decode_level_centres_and_distances():
    scores = np.zeros((4, 80), np.float32)
    scores[3, 2] = 0.9                                   # cell (x=1, y=1) of a 2x2 grid, class 'car'
    boxes, best, labels = decode_level(scores, one_hot_logits(4, [1, 2, 3, 0]), input_size=16)
    # stride 8, centre of cell (1, 1) = (12, 12); distances left 8, top 16, right 24, bottom 0
    np.testing.assert_allclose(boxes[3], [4, -4, 36, 12], atol=1e-3)
    np.testing.assert_allclose(boxes[0], [4 - 8, 4 - 16, 4 + 24, 4], atol=1e-3)
    assert labels[3] == 2 and best[3] == pytest.approx(0.9) and boxes.dtype == np.float32


def test_decode_level_keeps_only_cells_at_the_minimum_score_in_cell_order():
    scores = np.zeros((9, 80), np.float32)
    scores[7, 5], scores[2, 1], scores[2, 3], scores[4, 0] = 0.5, 0.2, 0.3, 0.09
    boxes, best, labels = decode_level(scores, one_hot_logits(9, [0, 0, 0, 0]), input_size=24, min_score=0.1)
    # cells 2 (x=2, y=0) and 7 (x=1, y=2) of a 3x3 grid, stride 8; all distances 0: boxes collapse on the centres
    np.testing.assert_allclose(boxes, [[20, 4, 20, 4], [12, 20, 12, 20]], atol=1e-3)
    np.testing.assert_allclose(best, [0.3, 0.5])
    assert labels.tolist() == [3, 5]


@pytest.mark.parametrize('compiled', [True, False])
def test_decode_level_keeps_the_rows_reaching_the_score_compiled_and_numpy(compiled, monkeypatch):
    from vad_ros.perception.nanodet import detector as nanodet
    monkeypatch.setattr(nanodet, 'COMPILED', compiled and nanodet.COMPILED)
    scores = np.random.default_rng(3).random((484, 80), dtype=np.float32) * 0.1
    scores[[7, 99, 400], [0, 79, 40]] = [0.1, 0.5, 0.0999]
    boxes, best, labels = decode_level(scores, one_hot_logits(484, [0] * 4), input_size=176, min_score=0.1)
    assert best.tolist() == [np.float32(0.1), 0.5] and labels.dtype == np.int64 and labels.tolist() == [0, 79]
    np.testing.assert_allclose(boxes, [[60, 4, 60, 4], [4 + 8 * 11, 4 + 8 * 4] * 2], atol=1e-3)   # cells 7, 99


def test_decode_level_compiled_equals_numpy(monkeypatch):
    from vad_ros.perception.nanodet import detector as nanodet
    if not nanodet.COMPILED:
        pytest.skip('numba not installed')
    rng = np.random.default_rng(5)
    scores = rng.random((676, 80), dtype=np.float32) * np.float32(0.0999)
    scores[rng.choice(676, 40, replace=False), rng.integers(0, 80, 40)] = rng.random(40, dtype=np.float32) * 0.9 + 0.1
    logits = rng.normal(0, 3, (676, 44)).astype(np.float32)
    compiled = decode_level(scores, logits, input_size=416, min_score=0.1)
    monkeypatch.setattr(nanodet, 'COMPILED', False)
    plain = decode_level(scores, logits, input_size=416, min_score=0.1)
    assert len(plain[0]) == 40 and [a.dtype for a in compiled] == [np.float32, np.float32, np.int64]
    np.testing.assert_allclose(compiled[0], plain[0], atol=1e-4)
    np.testing.assert_array_equal(compiled[1], plain[1])
    np.testing.assert_array_equal(compiled[2], plain[2])


def test_decode_level_expectation_between_bins():
    logits = np.full((1, 4, 11), -30.0, np.float32)
    logits[0, :, 2] = 0.0
    logits[0, :, 3] = 0.0                                # half on bin 2, half on bin 3 -> 2.5 strides
    boxes, _, _ = decode_level(np.zeros((1, 80), np.float32), logits.reshape(1, 44), input_size=32)
    np.testing.assert_allclose(boxes[0], [16 - 80, 16 - 80, 16 + 80, 16 + 80], atol=1e-3)


def test_candidates_take_the_best_cells_of_all_levels(monkeypatch):
    from vad_ros.perception.nanodet import detector as nanodet
    monkeypatch.setattr(nanodet, 'MAX_CANDIDATES', 3)
    fine, coarse = np.zeros((2, 16, 80), np.float32), np.zeros((2, 4, 80), np.float32)
    fine[1, [0, 5, 9], 0] = [0.2, 0.6, 0.05]             # image 1 of the batch; 0.05 is below CANDIDATE_SCORE
    coarse[1, [1, 3], 2] = [0.4, 0.9]
    levels = [(fine, np.stack([one_hot_logits(16, [0] * 4)] * 2)), (coarse, np.stack([one_hot_logits(4, [0] * 4)] * 2))]
    boxes, scores, labels = candidates(levels, 1, input_size=32)
    np.testing.assert_allclose(scores, [0.9, 0.6, 0.4])
    assert labels.tolist() == [2, 0, 2]
    np.testing.assert_allclose(boxes[0], [24, 24, 24, 24])    # coarse cell 3 = (1, 1), stride 16
    assert candidates(levels, 0, input_size=32)[1].size == 0


def test_pair_outputs_orders_levels_and_checks_pairs():
    outs = {'a': np.zeros((1, 4, 80)), 'b': np.zeros((1, 16, 44)), 'c': np.zeros((1, 16, 80)),
            'd': np.zeros((1, 4, 44))}
    pairs = pair_outputs(outs, 80)
    assert [(s.shape[1], r.shape[2]) for s, r in pairs] == [(16, 44), (4, 44)]
    with pytest.raises(PerceptionError, match='not a \\(scores'):
        pair_outputs({'a': np.zeros((1, 4, 80))}, 80)


@pytest.mark.parametrize('compiled', [True, False])
def test_normalise_is_mean_std_in_float32_into_a_given_buffer(compiled, monkeypatch):
    from vad_ros.perception.nanodet import preprocess as nanodet_input
    monkeypatch.setattr(nanodet_input, 'COMPILED', compiled and nanodet_input.COMPILED)   # numpy without numba
    rng = np.random.default_rng(1)
    canvas = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    ref = ((canvas.astype(np.float32) - np.float32([103.53, 116.28, 123.675])) /
           np.float32([57.375, 57.12, 58.395])).transpose(2, 0, 1)
    np.testing.assert_array_equal(normalise(canvas)[0], ref)
    out = np.zeros((3, 7, 5), np.float32)
    assert normalise(canvas, out) is out
    np.testing.assert_array_equal(out, ref)


def test_input_resizer_stretches_4_by_3_frames():
    image = np.full((576, 768, 3), 200, np.uint8)
    canvas, to_frame = InputResizer(416)(image)
    assert canvas.shape == (416, 416, 3) and (canvas == 200).all()
    np.testing.assert_allclose(np.array([208, 208, 416, 416]) * to_frame, [384, 288, 768, 576])


def test_input_resizer_pads_wide_and_tall_frames_to_4_by_3():
    wide = np.full((272, 640, 3), 200, np.uint8)          # 2.35:1 -> padded to 640x480 at the bottom
    canvas, to_frame = InputResizer(416)(wide)
    np.testing.assert_allclose(to_frame, [640 / 416, 480 / 416] * 2)
    rows = (canvas == 200).all(axis=(1, 2))
    assert rows[:230].all() and not rows[240:].any()     # 272 / 480 of 416 rows = 236 rows of picture
    tall = np.full((640, 200, 3), 200, np.uint8)         # 1:3.2 -> padded to 480x640 on the right
    canvas, to_frame = InputResizer(416)(tall)
    np.testing.assert_allclose(to_frame, [480 / 416, 640 / 416] * 2)
    cols = (canvas == 200).all(axis=(0, 2))
    assert cols[:170].all() and not cols[180:].any()     # 200 / 480 of 416 columns = 173


# ------------------------------------------------------------------------------------ params -> detector

def nanodet_params(**overrides):
    from vad_ros import params as vparams
    return vparams.resolve({'detector.backend': 'nanodet', 'detector.device': 'cpu', **overrides})


@needs_model
def test_factory_builds_nanodet_from_params():
    from vad_ros.perception.factory import build_detector
    detector = build_detector(nanodet_params(**{'detector.nanodet.nms_iou': 0.5}))
    assert isinstance(detector, NanoDetDetector) and detector.nms_iou == 0.5


def test_falls_back_to_hog_when_the_fetched_model_is_absent(tmp_path, monkeypatch, caplog):
    from vad_ros.perception.factory import build_detector
    from vad_ros.perception.hog import HogPeopleDetector
    monkeypatch.setenv('VAD_ROS_MODEL_CACHE', str(tmp_path))
    with caplog.at_level('WARNING', logger='vad_ros.perception'):
        detector = build_detector(nanodet_params())
    assert isinstance(detector, HogPeopleDetector)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == 'WARNING']
    assert len(warnings) == 1 and str(tmp_path) in warnings[0] and 'using the HOG people detector' in warnings[0]


def test_a_named_model_that_is_missing_is_an_error_not_a_fallback(tmp_path):
    from vad_ros.perception.factory import build_detector
    with pytest.raises(PerceptionError, match="model file '.*gone.json' does not exist"):
        build_detector(nanodet_params(**{'detector.nanodet.model': str(tmp_path / 'gone.json')}))
