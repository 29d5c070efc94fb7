"""Frames <-> network tensors with numpy + OpenCV only (an exported model runs without torch or mmcv): the
network input from a small declarative description of an OpenMMLab test pipeline (`Preprocess`), and a
segmenter's low-resolution label map back to the frame (`label_map_to_frame`).

Supported: the test pipelines of the usual detectors and segmenters: `Resize` (a scale, with or without
keeping the aspect ratio, bilinear), an optional `Pad` to a fixed size or a size divisor (detectors), then the
model's data preprocessor (BGR -> RGB, (x - mean) / std, padding to a size divisor with a value). The
arithmetic follows mmcv: the new size of a keep-ratio resize is int(side * factor + 0.5) with
factor = min(long_target / long_side, short_target / short_side); padding goes to the bottom and the right.
`from_config` turns a config into this description and names any step it cannot reproduce.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import cv2
import numpy as np

from vad_ros.perception.base import PerceptionError

SKIPPED_STEPS = ('LoadImageFromFile', 'LoadImageFromNDArray', 'LoadAnnotations', 'PackDetInputs', 'PackSegInputs')


@dataclass(frozen=True)
class Preprocess:
    """One frame -> a (1, 3, H, W) float32 network input (or one image of a batch); see the module doc."""
    scale: tuple[int, int] | None = None        # Resize target (w, h); None = no resize
    keep_ratio: bool = True
    pad_size: tuple[int, int] | None = None     # pipeline Pad to a fixed (w, h), uint8 value pad_value
    pad_divisor: int = 1                        # pipeline Pad to a multiple of this (uint8, pad_value)
    pad_value: float = 0.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    bgr_to_rgb: bool = False
    size_divisor: int = 1                       # data preprocessor: pad the normalised input to a multiple
    size_divisor_value: float = 0.0

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) of a (width, height) frame after the Resize step."""
        if self.scale is None:
            return width, height
        if not self.keep_ratio:
            return self.scale
        factor = min(max(self.scale) / max(width, height), min(self.scale) / min(width, height))
        return int(width * factor + 0.5), int(height * factor + 0.5)

    def image_shape(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) of the image the toolbox calls img_shape: after Resize and the pipeline's Pad."""
        w, h = self.resized_size(width, height)
        if self.pad_size is not None:
            w, h = max(w, self.pad_size[0]), max(h, self.pad_size[1])
        return _ceil_to(w, self.pad_divisor), _ceil_to(h, self.pad_divisor)

    def input_shape(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) of the network input for a (width, height) frame."""
        w, h = self.image_shape(width, height)
        return _ceil_to(w, self.size_divisor), _ceil_to(h, self.size_divisor)

    def __call__(self, image_bgr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(1, 3, H, W) float32, C-contiguous; or written into `out`, a (3, H, W) float32 array of the input
        size (one image of a batch), and `out` returned. Each element is (float32(pixel) - mean) / std in
        float32, as the toolbox computes it; OpenCV resizes and splits the channels, numpy normalises each
        plane straight into the input (no intermediate float image)."""
        height, width = image_bgr.shape[:2]
        w, h = self.resized_size(width, height)
        image = image_bgr
        if (w, h) != (width, height):
            image = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_LINEAR)     # bilinear, as mmcv
        img_w, img_h = self.image_shape(width, height)
        in_w, in_h = self.input_shape(width, height)
        blob = np.empty((1, 3, in_h, in_w), np.float32) if out is None else out
        target = blob[0] if out is None else out
        planes = cv2.split(image)
        for c in range(3):
            mean, std = np.float32(self.mean[c]), np.float32(self.std[c])
            plane = target[c]
            pad = (np.float32(self.pad_value) - mean) / std              # the pipeline's Pad, normalised
            plane[h:img_h, :img_w] = pad
            plane[:h, w:img_w] = pad
            plane[:, img_w:] = self.size_divisor_value                   # the data preprocessor's padding
            plane[img_h:, :img_w] = self.size_divisor_value
            pixels = plane[:h, :w]
            np.subtract(planes[2 - c if self.bgr_to_rgb else c], mean, out=pixels, dtype=np.float32)
            np.divide(pixels, std, out=pixels)
        return blob

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = 'metadata') -> 'Preprocess':
        try:
            fields = dict(values)
            for key in ('scale', 'pad_size', 'mean', 'std'):
                if fields.get(key) is not None:
                    fields[key] = tuple(fields[key])
            return cls(**fields)
        except (TypeError, ValueError) as e:
            raise PerceptionError(f'{source}: preprocess entry is not usable ({e}); re-export the model with '
                                  'vad-export') from None


def _ceil_to(value: int, divisor: int) -> int:
    return int(math.ceil(value / divisor) * divisor) if divisor > 1 else value


def from_config(cfg: Mapping[str, Any], what: str) -> Preprocess:
    """The Preprocess of an mmengine config (its test pipeline and the model's data preprocessor).
    Raises PerceptionError naming the step that cannot be reproduced without the toolbox."""
    steps = cfg.get('test_pipeline') or cfg['test_dataloader']['dataset']['pipeline']
    fields: dict[str, Any] = {}
    for step in steps:
        _pipeline_step(dict(step), fields, what)
    pre = dict(cfg['model'].get('data_preprocessor') or {})
    test_cfg = dict(pre.get('test_cfg') or {})
    if test_cfg.get('size') is not None or pre.get('batch_augments'):
        raise PerceptionError(f'{what}.config: the data preprocessor pads test inputs to a fixed size or uses '
                              'batch augments, which the exported-model pre-processing does not reproduce')
    fields['bgr_to_rgb'] = bool(pre.get('bgr_to_rgb', False) or pre.get('rgb_to_bgr', False))
    fields['size_divisor'] = int(pre.get('pad_size_divisor') or test_cfg.get('size_divisor') or 1)
    fields['size_divisor_value'] = float(pre.get('pad_value', pre.get('pad_val', 0)))
    if pre.get('mean') is not None:
        fields['mean'] = tuple(float(v) for v in pre['mean'])
        fields['std'] = tuple(float(v) for v in pre['std'])
    return Preprocess(**fields)


def _pipeline_step(step: dict[str, Any], fields: dict[str, Any], what: str) -> None:
    kind = step.get('type', '')
    if kind == 'Resize' and 'scale' in step and step.get('interpolation', 'bilinear') == 'bilinear' \
            and not step.get('scale_factor'):
        fields['scale'] = tuple(int(v) for v in step['scale'])
        fields['keep_ratio'] = bool(step.get('keep_ratio', False))
    elif kind == 'Pad' and step.get('pad_to_square') is not True:
        if step.get('size') is not None:
            fields['pad_size'] = tuple(int(v) for v in step['size'])
        fields['pad_divisor'] = int(step.get('size_divisor') or 1)
        value = step.get('pad_val', 0)
        value = value.get('img', 0) if isinstance(value, Mapping) else value
        values = set(value) if isinstance(value, (list, tuple)) else {value}
        if len(values) != 1:
            raise PerceptionError(f'{what}.config: Pad with per-channel values {value} is not supported by the '
                                  'exported-model pre-processing')
        fields['pad_value'] = float(values.pop())
    elif kind not in SKIPPED_STEPS:
        raise PerceptionError(f"{what}.config: test pipeline step {step} cannot be reproduced without the toolbox "
                              '(supported: Resize with a scale (bilinear), Pad); edit the test_pipeline of the '
                              'config before exporting')


def label_map_to_frame(small: np.ndarray, resized: tuple[int, int], network_input: tuple[int, int],
                       frame: tuple[int, int]) -> np.ndarray:
    """A label map at the decode head's resolution (covering the whole, padded network input) -> uint16 labels
    of the frame: the padding is cut off, then nearest-neighbour resizing. Sizes are (w, h): `resized` = the
    frame after the test pipeline's resize, `network_input` = after padding, `frame` = the camera image."""
    h_out, w_out = small.shape
    rows = math.ceil(resized[1] * h_out / network_input[1])
    cols = math.ceil(resized[0] * w_out / network_input[0])
    labels = small[:rows, :cols]
    if labels.dtype != np.uint8:
        labels = labels.astype(np.uint16)
    if labels.shape != (frame[1], frame[0]):
        labels = cv2.resize(labels, frame, interpolation=cv2.INTER_NEAREST_EXACT)
    return labels.astype(np.uint16, copy=False)

