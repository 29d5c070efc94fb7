"""Segmenter backend on an exported network (vad-export segmenter ...) in ONNX Runtime.

The graph ends with the argmax over the classes at the decode head's resolution (decoder 'label_map', see
vad_ros.perception.onnx.export), so the provider computes it where the logits are and only a small uint8
map leaves it; here the padding is cut off and the map resized to the frame with nearest-neighbour, as the
PyTorch backend does (vad_ros.perception.openmmlab.mmseg_segmenter).
"""
from __future__ import annotations

import numpy as np

from vad_ros.perception.network_io import label_map_to_frame
from vad_ros.perception.onnx.runtime import OnnxBackend
from vad_ros.types import ClassMap


class OnnxSegmenter(OnnxBackend):
    """Segmenter protocol on an exported encoder-decoder; see the module doc."""

    role = 'segmenter'
    decoder = 'label_map'

    def to_frame(self, labels: np.ndarray, blob: np.ndarray, image_bgr: np.ndarray) -> ClassMap:
        height, width = image_bgr.shape[:2]
        resized = self.preprocess.resized_size(width, height)
        return ClassMap(label_map_to_frame(labels[0], resized, (blob.shape[3], blob.shape[2]), (width, height)),
                        self.class_names)

    def segment(self, image_bgr: np.ndarray) -> ClassMap:
        blob = self.prepare(image_bgr)
        return self.to_frame(self.run(blob)[0], blob, image_bgr)
