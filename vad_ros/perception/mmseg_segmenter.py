"""Segmenter backend on MMSegmentation (any ADE20K-style model: SegFormer, UperNet, InternImage, ...).

Speed: the class logits (150 x H x W at the network's input size) never leave the device and are never
upsampled: the argmax is taken on the device at the network's input resolution, and only that uint8/uint16
label map is copied to the host and resized to the frame with nearest-neighbour. Compared with upsampling the
logits bilinearly first (the toolbox's default), labels can differ in a band of about one input pixel along
class borders; the background vote over a box or footprint is insensitive to that.
"""
from __future__ import annotations

import cv2
import numpy as np

from vad_ros.perception.openmmlab import ModelBackend, scope
from vad_ros.types import ClassMap


class MMSegSegmenter(ModelBackend):
    toolbox, role = 'mmseg', 'segmenter'

    def segment(self, image_bgr: np.ndarray) -> ClassMap:
        height, width = image_bgr.shape[:2]
        with scope('mmseg'):
            data = self._pipeline(dict(img=image_bgr, img_path='', ori_shape=(height, width),
                                       img_shape=(height, width)))
            batch = self.model.data_preprocessor({'inputs': [data['inputs']],
                                                  'data_samples': [data['data_samples']]}, False)
            metas = [s.metainfo for s in batch['data_samples']]
            with self._inference():
                logits = self.model.encode_decode(batch['inputs'], metas)      # (1, K, h_pad, w_pad)
            dtype = self._torch.uint8 if len(self.class_names) <= 256 else self._torch.int32
            labels = logits[0].argmax(dim=0).to(dtype)                         # on the device
        h_in, w_in = metas[0]['img_shape'][:2]
        small = labels[:h_in, :w_in].cpu().numpy()
        if small.dtype != np.uint8:
            small = small.astype(np.uint16)
        full = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST) \
            if small.shape != (height, width) else small
        return ClassMap(full.astype(np.uint16), self.class_names)
