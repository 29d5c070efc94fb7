"""Segmenter backend on MMSegmentation (any ADE20K-style model: SegFormer, UperNet, InternImage, ...).

The class logits never leave the device and are never upsampled. For the usual models (an EncoderDecoder with
a plain decode head, test mode 'whole') the argmax is taken on the device at the decode head's own resolution
(1/4 or 1/8 of the network input), and only that small label map is copied to the host and resized to the
frame with nearest-neighbour, instead of the toolbox's bilinear resize of every class's logits (faster:
bench/RESULTS.md, "Pipeline, per stage"). Labels differ from the toolbox's only in a band of about one
decode-head pixel (4-8 input pixels) along class borders; the background vote over a box or footprint is
insensitive to that. Other models (slide inference, cascade or mask-classification heads) go through the
toolbox's `inference` and the argmax is taken on the device at the network input's resolution.

segment() runs in stages that bench/bench_models.py times one by one: prepare (the test pipeline + data
preprocessor), network (forward + argmax on the device), to_host (the label map to the frame).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from vad_ros.perception.openmmlab.backend import CHANNELS_LAST, FOLD_NORMS, RUNNERS, ModelBackend
from vad_ros.perception.network_io import label_map_to_frame
from vad_ros.perception.openmmlab.toolbox import MMSEG, scope
from vad_ros.perception.openmmlab.segformer_head import head_logits
from vad_ros.types import ClassMap


def label_dtype(num_classes: int):
    """The dtype of a label map: uint8 up to 256 classes, else int32 (also in the exported graph)."""
    return torch.uint8 if num_classes <= 256 else torch.int32


def plain_decode_head(model) -> bool:
    """True when the logits are `decode_head.forward(extract_feat(x))` resized, i.e. the argmax may be
    taken before the resize."""
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    from mmseg.models.segmentors import EncoderDecoder

    head = getattr(model, 'decode_head', None)
    return (type(model).encode_decode is EncoderDecoder.encode_decode
            and isinstance(head, BaseDecodeHead)
            and type(head).predict is BaseDecodeHead.predict
            and type(head).predict_by_feat is BaseDecodeHead.predict_by_feat
            and (model.test_cfg or {}).get('mode', 'whole') == 'whole')


class MMSegSegmenter(ModelBackend):
    toolbox = MMSEG
    PLAN = (replace(FOLD_NORMS, default=lambda segmenter: False, why='off by default: SegFormer-B0 segment() only '
                    '2.8-4.2 % faster on the CPU (< 5 %); fold_norms=True tries it'), CHANNELS_LAST) + RUNNERS

    def runs_in_stages(self) -> bool:
        """Plain decode heads: the argmax at the decode head's resolution (see the module doc)."""
        self.low_resolution_argmax = plain_decode_head(self.model)
        self._label_dtype = label_dtype(len(self.class_names))
        return self.low_resolution_argmax

    def logits(self, inputs):
        """The decode head's class logits (1, K, h, w) for the network input (plain decode heads)."""
        return head_logits(self.model.decode_head, self.model.extract_feat(self.as_layout(inputs)))

    def probe_outputs(self, inputs) -> list:
        with scope(self.toolbox.name), self._inference():
            return [self.logits(inputs)]

    def prepare(self, image_bgr: np.ndarray):
        """(network input on the device, its metas) through the test pipeline + data preprocessor."""
        inputs, samples = super().prepare(image_bgr)
        return inputs, [s.metainfo for s in samples]

    def network(self, inputs, metas):
        """The class per pixel on the device: at the decode head's resolution (low_resolution_argmax) or at
        the padded input's."""
        if self.low_resolution_argmax:
            return self.run_network(inputs)
        with scope(self.toolbox.name), self._inference():
            logits = self.model.inference(inputs, metas)                              # (1, K, h_pad, w_pad)
            return logits[0].argmax(dim=0).to(self._label_dtype)

    def forward(self, inputs):
        """Plain decode heads: the class per pixel at the decode head's resolution (argmax on the device)."""
        return self.logits(inputs)[0].argmax(dim=0).to(self._label_dtype)           # logits (1, K, h, w)

    def to_host(self, labels, inputs, metas, image_bgr: np.ndarray) -> ClassMap:
        h_in, w_in = metas[0]['img_shape'][:2]          # the frame after the test pipeline's resize
        h_pad, w_pad = inputs.shape[-2:]                # ... and after the preprocessor's padding
        height, width = image_bgr.shape[:2]
        return ClassMap(label_map_to_frame(labels.cpu().numpy(), (w_in, h_in), (w_pad, h_pad), (width, height)),
                        self.class_names)

    def segment(self, image_bgr: np.ndarray) -> ClassMap:
        inputs, metas = self.prepare(image_bgr)
        return self.to_host(self.network(inputs, metas), inputs, metas, image_bgr)
