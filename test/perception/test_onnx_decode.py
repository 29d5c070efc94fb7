"""The torch-free parts of the ONNX Runtime backends: pre-processing arithmetic, candidate selection,
box decoding, execution providers, the session start, metadata errors. (Equivalence with the PyTorch path:
test_onnx.py.)"""
from __future__ import annotations

import json

import numpy as np
import pytest

from vad_ros.perception.base import PerceptionError
from vad_ros.perception.dense import DenseTestCfg, decode_dense, level_candidates, score_floor
from vad_ros.perception.network_io import Preprocess, label_map_to_frame
from vad_ros.perception.onnx.runtime import providers_for

RTMDET = Preprocess(scale=(640, 640), keep_ratio=True, pad_size=(640, 640), pad_value=114.0,
                    mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395), bgr_to_rgb=False, size_divisor=32)
SEGFORMER = Preprocess(scale=(2048, 512), keep_ratio=True, mean=(123.675, 116.28, 103.53),
                       std=(58.395, 57.12, 57.375), bgr_to_rgb=True)


@pytest.mark.parametrize('frame, resized', [((640, 480), (640, 480)), ((768, 576), (640, 480)),
                                            ((1920, 1080), (640, 360)), ((480, 640), (480, 640))])
def test_keep_ratio_resize_of_a_detector(frame, resized):
    assert RTMDET.resized_size(*frame) == resized
    assert RTMDET.input_shape(*frame) == (640, 640)


@pytest.mark.parametrize('frame, resized', [((640, 480), (683, 512)), ((1920, 1080), (910, 512)),
                                            ((500, 500), (512, 512))])
def test_keep_ratio_resize_of_a_segmenter(frame, resized):
    """mmcv: factor = min(2048 / long side, 512 / short side), side * factor rounded half up."""
    assert SEGFORMER.resized_size(*frame) == resized
    assert SEGFORMER.input_shape(*frame) == resized


def test_input_is_normalised_padded_and_channel_swapped():
    image = np.zeros((480, 640, 3), np.uint8)
    image[..., 0] = 10      # blue
    image[..., 2] = 200     # red
    blob = SEGFORMER(image)
    assert blob.shape == (1, 3, 512, 683) and blob.dtype == np.float32 and blob.flags.c_contiguous
    np.testing.assert_allclose(blob[0, :, 100, 100], [(200 - 123.675) / 58.395, (0 - 116.28) / 57.12,
                                                      (10 - 103.53) / 57.375], rtol=1e-6)
    blob = RTMDET(image)
    assert blob.shape == (1, 3, 640, 640)
    np.testing.assert_allclose(blob[0, :, 10, 10], [(10 - 103.53) / 57.375, (0 - 116.28) / 57.12,
                                                    (200 - 123.675) / 58.395], rtol=1e-6)
    np.testing.assert_allclose(blob[0, :, 600, 10], (114 - np.array([103.53, 116.28, 123.675]))
                               / np.array([57.375, 57.12, 58.395]), rtol=1e-6)     # the Pad step's rows


def test_preprocess_round_trips_through_its_dict():
    assert Preprocess.from_dict(json.loads(json.dumps(RTMDET.to_dict()))) == RTMDET
    with pytest.raises(PerceptionError, match='re-export'):
        Preprocess.from_dict({'scale': [1, 2], 'colour': 'red'}, 'm.json')


def test_label_map_is_cut_to_the_image_and_resized_to_the_frame():
    small = np.arange(128 * 171, dtype=np.int64).reshape(128, 171) % 7   # 1/4 of a 683x512 input
    small[:, 161:] = 99          # padding: 640 of 683 input columns are the image = 160.2 label columns
    small[120:, :] = 99          # 480 of 512 rows = 120 label rows
    labels = label_map_to_frame(small.astype(np.uint8), (640, 480), (683, 512), (640, 480))
    assert labels.shape == (480, 640) and labels.dtype == np.uint16
    assert 99 not in labels
    assert labels[0, 0] == small[0, 0] and labels[479, 639] == small[119, 160]


def test_candidates_above_the_threshold_best_first_capped():
    scores = np.array([[0.1, 0.9], [0.5, 0.2], [0.95, 0.3]], np.float32)
    boxes = np.arange(3, dtype=np.float32)[:, None].repeat(4, axis=1)       # box i = [i, i, i, i]
    picked, values, labels = level_candidates(scores, boxes, 0.25, 10)
    np.testing.assert_allclose(values, [0.95, 0.9, 0.5, 0.3])
    assert labels.tolist() == [0, 1, 0, 1] and picked[:, 0].tolist() == [2, 0, 1, 2]
    assert level_candidates(scores, boxes, 0.25, 2)[0][:, 0].tolist() == [2, 0]
    assert len(level_candidates(scores, boxes, 0.3, 0)[1]) == 3          # strictly above, as mmdet
    assert len(level_candidates(scores, boxes, score_floor(0.3), 0)[1]) == 4   # the pipeline's >= 0.3


def test_dense_decode_clips_rescales_filters_and_suppresses():
    scores = np.array([[0.9, 0.0], [0.8, 0.0], [0.0, 0.7], [0.4, 0.0]], np.float32)
    boxes = np.array([[-20, 10, 100, 110], [-18, 10, 100, 112], [-20, 10, 100, 110], [300, 300, 300.5, 400]],
                     np.float32)
    cfg = DenseTestCfg(score_thr=0.05, nms_pre=100, iou_threshold=0.6, max_per_img=10, min_bbox_size=0)
    out_boxes, out_scores, out_labels = decode_dense([scores, boxes], cfg, (640, 640), (0.5, 0.5))
    np.testing.assert_allclose(out_scores, [0.9, 0.7, 0.4])
    assert out_labels.tolist() == [0, 1, 0]
    np.testing.assert_allclose(out_boxes[0], [0, 20, 200, 220])     # clipped at 0, then / 0.5
    assert len(decode_dense([scores, boxes], DenseTestCfg(**{**cfg.__dict__, 'min_bbox_size': 2}),
                            (640, 640), (0.5, 0.5))[0]) == 2        # the 1 px wide box goes
    assert DenseTestCfg(score_thr=0.001, nms_pre=30000).for_deployment(0.3).nms_pre == 1000
    assert DenseTestCfg(nms_pre=-1).for_deployment(0.3).nms_pre == 1000          # the config's 'all' is capped too
    assert DenseTestCfg(score_thr=0.001, nms_pre=30000).for_deployment(None).score_thr == 0.001


def test_providers_for_each_device():
    cpu_only = ['CPUExecutionProvider']
    gpu = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert providers_for('auto', cpu_only) == ('cpu', ['CPUExecutionProvider'])
    assert providers_for('cpu', gpu) == ('cpu', ['CPUExecutionProvider'])
    device, providers = providers_for('cuda:1', gpu, half=True, cache_dir='/tmp/x.trt')
    assert device == 'cuda:1'
    assert [p[0] if isinstance(p, tuple) else p for p in providers] == gpu
    assert providers[0][1]['trt_fp16_enable'] is True and providers[1][1] == {'device_id': 1}
    assert providers_for('auto', ['CUDAExecutionProvider', 'CPUExecutionProvider'])[1][0][0] == 'CUDAExecutionProvider'
    with pytest.raises(PerceptionError, match='no GPU provider.*onnxruntime-gpu'):
        providers_for('cuda', cpu_only)
    with pytest.raises(PerceptionError, match="'gpu0' is not one of"):
        providers_for('gpu0', gpu)


def test_tensorrt_counts_only_where_its_library_loads(monkeypatch, caplog):
    """onnxruntime-gpu offers TensorRT also where it is not installed (as on the lent GPU machines). Stand-ins:
    onnxruntime's list of a GPU build, and the loader finding or not finding libnvinfer."""
    import ctypes

    import onnxruntime

    from vad_ros.perception.onnx import runtime as onnx_runtime
    gpu_build = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    monkeypatch.setattr(onnxruntime, 'get_available_providers', lambda: list(gpu_build))
    loaded = []

    def loader(found: bool):
        def cdll(name, *args, **kwargs):
            loaded.append(name)
            if not found:
                raise OSError(f'{name}: cannot open shared object file')
            return object()
        return cdll

    monkeypatch.setattr(ctypes, 'CDLL', loader(False))
    caplog.set_level('INFO', logger='vad_ros.perception')
    assert onnx_runtime.available_providers() == gpu_build[1:]
    assert loaded == list(onnx_runtime.TENSORRT_LIBRARIES) and 'TensorRT (libnvinfer) is not installed' in caplog.text
    assert onnx_runtime.providers_for('cuda', onnx_runtime.available_providers())[1][0][0] == 'CUDAExecutionProvider'
    monkeypatch.setattr(ctypes, 'CDLL', loader(True))
    assert onnx_runtime.available_providers() == gpu_build


@pytest.mark.filterwarnings('ignore:Specified provider')
def test_one_session_start_with_its_cpu_fallback(tmp_path, monkeypatch, caplog):
    """start_session (the ONNX backends, NanoDet's ONNX runner): a GPU that is not offered, or offered but not
    started (stand-in: the CPU build of onnxruntime said to offer CUDA), is an error naming '<role>.device', or
    the CPU with a warning where allow_cpu_fallback; a file to be made is made after the device check."""
    onnx = pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    from onnx import TensorProto, helper

    from vad_ros.perception.onnx import runtime
    graph = helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], 'identity',
                              [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1])])
    path = str(tmp_path / 'identity.onnx')
    onnx.save(helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid('', 17)]), path)
    made = []
    monkeypatch.setattr(runtime, 'available_providers', lambda: ['CPUExecutionProvider'])
    with pytest.raises(PerceptionError, match="^detector.device: device 'cuda' was asked for"):
        runtime.start_session('detector', 'cuda', False, lambda: made.append(path) or path)
    assert not made
    caplog.set_level('WARNING', logger='vad_ros.perception')
    assert runtime.start_session('detector', 'cuda', True, path)[:2] == ('cpu', path)
    assert 'running on cpu because allow_cpu_fallback is true' in caplog.text
    monkeypatch.setattr(runtime, 'available_providers', lambda: ['CUDAExecutionProvider', 'CPUExecutionProvider'])
    with pytest.raises(PerceptionError, match="^segmenter.device 'auto': onnxruntime could not start a GPU"):
        runtime.start_session('segmenter', 'auto', False, path)
    device, _, session = runtime.start_session('segmenter', 'auto', True, path)
    assert device == 'cpu' and session.get_providers() == ['CPUExecutionProvider']


def test_metadata_errors_name_the_file_and_the_fix(tmp_path):
    from vad_ros.perception.onnx.detector import OnnxDetector
    from vad_ros.perception.onnx.segmenter import OnnxSegmenter
    onnx = tmp_path / 'm.onnx'
    with pytest.raises(PerceptionError, match="detector.checkpoint '.*m.onnx' does not exist"):
        OnnxDetector.exported(str(onnx))
    onnx.write_bytes(b'x')
    with pytest.raises(PerceptionError, match="metadata file '.*m.json'.*does not exist"):
        OnnxDetector.exported(str(onnx))
    (tmp_path / 'm.json').write_text('{"format": "something else"}')
    with pytest.raises(PerceptionError, match='not a vad-export metadata file'):
        OnnxDetector.exported(str(onnx))
    (tmp_path / 'm.json').write_text('{"format": "vad_ros-onnx/1", "role": "segmenter", "class_names": ["road"], '
                                     '"decoder": "label_map"}')
    with pytest.raises(PerceptionError, match='is an exported segmenter, not a detector'):
        OnnxDetector.exported(str(onnx))
    assert OnnxSegmenter.exported(str(onnx))[1:] == (str(tmp_path / 'm.json'), ('road',))
    (tmp_path / 'other.json').write_text('not json')
    with pytest.raises(PerceptionError, match="segmenter.config '.*other.json' cannot be read as JSON"):
        OnnxSegmenter.exported(str(onnx), str(tmp_path / 'other.json'))
