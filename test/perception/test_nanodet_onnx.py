"""NanoDet on ONNX Runtime (vad_ros.perception.nanodet.onnx_file, NanoDetDetector runner onnx) against the torch
executor on real vtest.avi frames with the real model; int8 against float32; batches; the torch fallback where
onnxruntime is missing; the ONNX file cache."""
from __future__ import annotations

import logging
import os
import shutil
import sys

import numpy as np
import pytest
import yaml

from conftest import REPO, read_frames
from vad_ros.boxes import iou_matrix
from vad_ros.perception.nanodet import onnx_file as nanodet_onnx
from vad_ros.perception.base import PerceptionError
from vad_ros.perception.nanodet.detector import NanoDetDetector, choose_runner
from vad_ros.perception.nanodet.files import default_model_path
from vad_ros.perception.base import runtime_report

sys.path.insert(0, str(REPO / 'bench'))
from bench_nanodet_runners import agreement  # noqa: E402  (the accuracy check of the bench's int8 row)

pytest.importorskip('onnxruntime')
MODEL = default_model_path()
pytestmark = pytest.mark.skipif(not os.path.isfile(MODEL), reason=f'NanoDet model files absent ({MODEL}): run '
                                '`tools/setup.sh nanodet` (make test does)')
LABELS = yaml.safe_load((REPO / 'bench' / 'labels' / 'vtest_people.yaml').read_text())
LABELLED = sorted(int(k) for k in LABELS['people'])          # 16 frames, 92 people


@pytest.fixture(scope='module')
def runners():
    return {'torch': NanoDetDetector(device='cpu', runner='torch'),
            'onnx': NanoDetDetector(device='cpu', runner='onnx'),
            'int8': NanoDetDetector(device='cpu', runner='onnx', precision='int8')}


@pytest.fixture(scope='module')
def frames(vtest_path):
    return dict(zip(LABELLED, read_frames(vtest_path, LABELLED)))


def wide(frame):
    """A 16:9 crop of a vtest frame: padded to 4:3 before resizing."""
    return np.ascontiguousarray(frame[72:504])


def test_onnx_gives_the_torch_executors_outputs_and_detections(runners, frames):
    torch_det, onnx_det = runners['torch'], runners['onnx']
    assert (onnx_det.runner, torch_det.runner) == ('onnx', 'torch')
    images = [frames[k] for k in (0, 300, 550, 600, 700, 750)] + [wide(frames[600])]
    compared = 0
    for image in images:
        ours, ref = onnx_det.raw_outputs(image), torch_det.raw_outputs(image)
        assert set(ours[0]) == set(ref[0])
        for name, array in ref[0].items():
            np.testing.assert_allclose(ours[0][name], array, atol=1e-3 if array.shape[2] == 80 else 1e-2)
        np.testing.assert_array_equal(ours[1], ref[1])
        a, b = onnx_det.detect(image), torch_det.detect(image)
        assert len(a) == len(b) > 0
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1.0)           # within 1 px
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-3)
        compared += len(a)
    assert compared > 300


def test_the_float32_file_keeps_onnx_runtimes_convolution_layout(runners):
    """streamline() left none of the operators that made ONNX Runtime convert layouts: the pyramid's resizes
    with run-time sizes (now fixed scales up, 2x2 average pools down), the -inf Pad (now the max-pool's own
    pads), a transpose per output (now one per head, before its split); the int8 file is quantised from the
    plain export."""
    onnx = pytest.importorskip('onnx')
    from collections import Counter
    graph = onnx.load(runners['onnx'].network.path).graph
    ops = Counter(node.op_type for node in graph.node)
    assert ops['Conv'] == 34 and ops['AveragePool'] == 2 and ops['Resize'] == 2 and ops['Transpose'] == 3
    assert not ops['Pad'] and not ops['Shape'], ops
    assert all(len(node.input) == 3 and node.input[2] for node in graph.node if node.op_type == 'Resize')
    int8 = Counter(node.op_type for node in onnx.load(runners['int8'].network.path).graph.node)
    assert int8['Resize'] == 4 and not int8['AveragePool']


@pytest.mark.parametrize('runner', ['onnx', 'torch'])
def test_a_batch_gives_each_frames_own_detections(runners, frames, runner):
    detector = runners[runner]
    images = [frames[600], wide(frames[700]), frames[750]]
    batch = detector.detect_batch(images)
    assert len(batch) == 3
    for image, found in zip(images, batch):
        alone = detector.detect(image)
        assert len(found) == len(alone) > 0
        np.testing.assert_array_equal(found.labels, alone.labels)
        np.testing.assert_allclose(found.boxes, alone.boxes, atol=1e-2)
        np.testing.assert_allclose(found.scores, alone.scores, atol=1e-5)


def person_recall(detections, people) -> int:
    boxes = detections.boxes[(detections.labels == 0) & (detections.scores >= 0.4)]
    return sum(len(boxes) > 0 and iou_matrix(np.array([p['box']], np.float32), boxes).max() >= 0.5 for p in people)


def test_int8_passes_its_accuracy_check_against_float32(runners, frames):
    """The int8 file's accuracy check on the 16 labelled frames: of float32's detections with score >= 0.4,
    int8 matches (same class, IoU >= 0.5) at least 90 % (measured: 131 of 140) with at most 5 % extra ones
    (measured: 2), and finds as many of the 92 labelled people as float32 (89) within one. A broken
    quantisation (e.g. an infinite scale) finds a handful of boxes per frame and fails this."""
    fp32, int8 = runners['onnx'], runners['int8']
    assert int8.precision == 'int8' and int8.network.path.endswith('-int8.onnx')
    reference = matched = extra = people_fp32 = people_int8 = 0
    for index, image in frames.items():
        a, b = fp32.detect(image), int8.detect(image)
        counts = agreement(a, b)
        reference, matched, extra = reference + counts[0], matched + counts[1], extra + counts[2]
        people_fp32 += person_recall(a, LABELS['people'][index])
        people_int8 += person_recall(b, LABELS['people'][index])
    assert reference > 100
    assert matched >= 0.9 * reference and extra <= 0.05 * reference, (reference, matched, extra)
    assert abs(people_int8 - people_fp32) <= 1 and people_fp32 >= 85, (people_fp32, people_int8)


def test_int8_calibration_reads_the_checkouts_vtest(vtest_path):
    """A fresh int8 file is calibrated on data/vtest.avi of this checkout (tools/setup.sh data)."""
    assert nanodet_onnx.VTEST.resolve() == vtest_path.resolve()


def test_agreement_counts_one_to_one_matches_of_the_same_class():
    from vad_ros.types import Detections
    names = ('person', 'car')
    ref = Detections(np.array([[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]], np.float32),
                     np.array([0, 0, 1]), np.array([0.9, 0.8, 0.3], np.float32), names)
    other = Detections(np.array([[0, 0, 10, 11], [1, 0, 11, 10], [20, 0, 30, 10], [0, 30, 5, 35]], np.float32),
                       np.array([0, 0, 1, 0]), np.array([0.9, 0.9, 0.9, 0.5], np.float32), names)
    # the two others on ref box 0 match it once; ref box 1 is a person, other box 2 a car; ref box 2 < 0.4
    assert agreement(ref, other) == (2, 1, 3)


def test_the_runtime_report_names_the_onnx_file_and_precision():
    line = runtime_report(NanoDetDetector(device='cpu', runner='auto')).line()
    assert line.startswith('nanodet:nanodet.json on cpu (fp32); network: ONNX Runtime (nanodet-'), line
    assert line.endswith('-fp32.onnx)') and 'refused' not in line, line


def test_auto_runs_torch_where_onnxruntime_does_not_import(monkeypatch, caplog, frames):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)          # `import onnxruntime` raises ImportError
    assert choose_runner('auto', 'cpu') == ('torch', 'onnxruntime is not installed')
    with caplog.at_level(logging.WARNING, logger='vad_ros.perception'):
        detector = NanoDetDetector(device='cpu', runner='auto', precision='int8')
    assert (detector.runner, detector.precision) == ('torch', 'fp32')
    assert any('int8 needs onnxruntime' in r.getMessage() for r in caplog.records)
    assert len(detector.detect(frames[600])) > 0
    line = runtime_report(detector).line()                          # the node's start-up line says why
    assert 'network: torch' in line and 'refused: onnx runner (onnxruntime is not installed)' in line, line
    with pytest.raises(PerceptionError, match='pip install onnxruntime'):
        NanoDetDetector(device='cpu', runner='onnx')


def test_without_torch_nanodet_runs_on_the_onnx_file_made_before(monkeypatch):
    from vad_ros import params as vparams
    from vad_ros.perception.nanodet import detector as nanodet
    nanodet_onnx.onnx_path(MODEL)                                   # made (by setup) while torch was there
    real = nanodet.importlib.util.find_spec
    monkeypatch.setattr(nanodet.importlib.util, 'find_spec', lambda name, *a: None if name == 'torch' else
                        real(name, *a))
    params = vparams.resolve({'detector.backend': 'nanodet'})
    assert nanodet.hog_fallback_warning(params) is None
    params['detector.nanodet.runner'] = 'torch'
    assert 'torch is missing' in nanodet.hog_fallback_warning(params)


def test_bad_runner_and_precision_name_the_parameter():
    with pytest.raises(PerceptionError, match="detector.nanodet.runner 'tensorrt' is not one of auto, onnx, torch"):
        NanoDetDetector(device='cpu', runner='tensorrt')
    with pytest.raises(PerceptionError, match="detector.nanodet.precision 'fp16' is not one of fp32, int8"):
        NanoDetDetector(device='cpu', runner='onnx', precision='fp16')
    with pytest.raises(PerceptionError, match='int8 runs on ONNX Runtime only'):
        NanoDetDetector(device='cpu', runner='torch', precision='int8')


def test_params_choose_the_runner_and_precision():
    from vad_ros import params as vparams
    from vad_ros.perception.factory import build_detector
    detector = build_detector(vparams.resolve({'detector.backend': 'nanodet', 'detector.device': 'cpu',
                                               'detector.nanodet.runner': 'torch'}))
    assert detector.runner == 'torch'
    with pytest.raises(Exception, match='detector.nanodet.precision'):
        vparams.resolve({'detector.nanodet.precision': 'int4'})


# ------------------------------------------------------------------------------------ the ONNX file cache

@pytest.fixture
def model_copy(tmp_path):
    folder = tmp_path / 'model'
    folder.mkdir()
    for name in ('nanodet.json', 'nanodet.bin'):
        shutil.copy(os.path.join(os.path.dirname(MODEL), name), folder / name)
    return folder / 'nanodet.json'


def test_the_onnx_file_is_made_once_next_to_the_model_and_named_by_its_hash(model_copy):
    path = nanodet_onnx.onnx_path(str(model_copy))
    assert os.path.dirname(path) == str(model_copy.parent / 'onnx')
    assert os.path.basename(path) == f'nanodet-{nanodet_onnx.model_hash(str(model_copy))}-fp32.onnx'
    stamp = os.stat(path).st_mtime_ns
    assert nanodet_onnx.onnx_path(str(model_copy)) == path and os.stat(path).st_mtime_ns == stamp
    assert os.listdir(model_copy.parent / 'onnx') == [os.path.basename(path)]      # no temporary file left
    model_copy.write_text(model_copy.read_text().replace('"format"', '"format" ', 1))
    assert nanodet_onnx.existing_onnx_path(str(model_copy)) is None                # another model: another file


def test_the_onnx_file_goes_to_the_next_folder_where_the_first_cannot_be_made(model_copy, tmp_path, monkeypatch):
    blocked = tmp_path / 'blocked'
    blocked.write_text('a file where the folder should be')
    monkeypatch.setattr(nanodet_onnx, 'onnx_paths', lambda model, precision: [str(blocked / 'x.onnx'),
                                                                          str(tmp_path / 'cache' / 'x.onnx')])
    path = nanodet_onnx.onnx_path(str(model_copy))
    assert os.path.dirname(path) == str(tmp_path / 'cache') and os.path.isfile(path)


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    def fail(out):
        with open(out, 'w') as f:
            f.write('half')
        raise RuntimeError('export failed')
    with pytest.raises(RuntimeError, match='export failed'):
        nanodet_onnx.write_atomically(str(tmp_path / 'x.onnx'), fail)
    assert os.listdir(tmp_path) == []


def test_the_command_line_says_in_one_line_that_a_model_file_is_missing(tmp_path, capsys):
    assert nanodet_onnx.main([str(tmp_path / 'absent.json')]) == 1
    assert capsys.readouterr().err.startswith(f"error: nanodet: model file '{tmp_path / 'absent.json'}' does not exist")
