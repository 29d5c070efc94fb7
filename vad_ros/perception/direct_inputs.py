"""Frames -> the network input and the metainfo that a model's post-processing reads, without the toolbox's
test pipeline and data preprocessor: the numpy + OpenCV pre-processing of the ONNX path
(vad_ros.perception.network_io.Preprocess) used by the PyTorch backends too, where a check at load shows that it
gives the toolbox's input for the same frames.

Why: the toolbox builds a dict of results per frame, runs each transform, packs a data sample and then
normalises on the device; the same arithmetic straight into one float32 array is about twice as fast (2 CPU
cores, bench_models.py at 1080p: RTMDet-tiny's prepare 4.3 -> 2.2 ms, SegFormer-B0's 4.3 -> 3.0 ms;
bench/RESULTS.md), which matters most on a GPU, where the host's part of a frame is what limits the frame rate.
On a GPU the normalisation stays on the device (DirectInputs), so the host sends uint8 as the toolbox does.

The check (checked_direct_inputs): for two probe frames (640x480 and an odd-sized portrait one, which exercises
the rounding of keep-ratio resizing), the input must equal the toolbox's (cuda_graphs.same_outputs at
SPEEDUP_TOLERANCE; measured bit for bit) and the metainfo the heads read (META_KEYS) must be the same; a config
whose steps network_io.from_config cannot describe, or that fails the check, keeps the toolbox's pipeline
(logged at info).
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np

from vad_ros.perception.base import PerceptionError
from vad_ros.perception.network_io import Preprocess, from_config

# what the backends' post-processing reads from a frame's metainfo: the detector's heads (clipping to img_shape,
# rescaling by scale_factor), the segmenter's label map (img_shape); ori_shape names the frame
META_KEYS = ('ori_shape', 'img_shape', 'scale_factor')
PROBE_SIZES = ((640, 480), (501, 699))      # (w, h)

log = logging.getLogger('vad_ros.perception')


def frame_metainfo(preprocess: Preprocess, width: int, height: int) -> dict[str, Any]:
    """The toolbox's metainfo of a (width, height) frame: shapes (h, w), scale_factor (w, h) as mmcv's Resize
    computes it (new size / old size, per axis)."""
    w, h = preprocess.resized_size(width, height)
    img_w, img_h = preprocess.image_shape(width, height)
    in_w, in_h = preprocess.input_shape(width, height)
    return {'ori_shape': (height, width), 'img_shape': (img_h, img_w), 'scale_factor': (w / width, h / height),
            'pad_shape': (img_h, img_w), 'batch_input_shape': (in_h, in_w)}


class DirectInputs:
    """Frames -> (network input (B, 3, H, W) float32 on the device, metainfo per frame).

    On the CPU the whole input is made by network_io.Preprocess (numpy). On a GPU (normalise_on_device) only the
    resize runs on the host: the resized uint8 frame goes to the GPU, a quarter of the bytes of the float32
    input (as the toolbox's data preprocessor sends it), and is normalised and padded there by the same float32
    arithmetic ((float32(pixel) - mean) / std; equal to the numpy path bit for bit, tested on the CPU)."""

    def __init__(self, preprocess: Preprocess, device: str, normalise_on_device: bool | None = None):
        """normalise_on_device: None = on GPUs."""
        import torch
        self._torch = torch
        self.preprocess = preprocess
        self.device = device
        self.normalise_on_device = device.startswith('cuda') if normalise_on_device is None else normalise_on_device
        p = preprocess
        mean = torch.tensor(p.mean, dtype=torch.float32).reshape(3, 1, 1)
        std = torch.tensor(p.std, dtype=torch.float32).reshape(3, 1, 1)
        self._mean, self._std = mean.to(device), std.to(device)
        self._pad = ((torch.tensor(float(p.pad_value), dtype=torch.float32) - mean) / std).to(device)

    def input_size(self, image_bgr: np.ndarray) -> tuple[int, int]:
        """(w, h) of the network input of a frame (frames of one size can share a batch)."""
        height, width = image_bgr.shape[:2]
        return self.preprocess.input_shape(width, height)

    def __call__(self, images: list[np.ndarray]):
        """The frames (all of one input_size) as one batch."""
        metas = [frame_metainfo(self.preprocess, image.shape[1], image.shape[0]) for image in images]
        if self.normalise_on_device:
            return self._on_device(images), metas
        in_w, in_h = self.input_size(images[0])
        blob = np.empty((len(images), 3, in_h, in_w), np.float32)
        for i, image in enumerate(images):
            self.preprocess(image, out=blob[i])
        return self._torch.from_numpy(blob).to(self.device), metas

    def _on_device(self, images: list[np.ndarray]):
        """The batch made on the device from the resized uint8 frames (see the class doc)."""
        torch, p = self._torch, self.preprocess
        in_w, in_h = self.input_size(images[0])
        batch = torch.full((len(images), 3, in_h, in_w), float(p.size_divisor_value), dtype=torch.float32,
                           device=self.device)
        for i, image in enumerate(images):
            height, width = image.shape[:2]
            img_w, img_h = p.image_shape(width, height)
            resized = p.resize(image)
            h, w = resized.shape[:2]
            batch[i, :, :img_h, :img_w] = self._pad                                     # the pipeline's Pad
            pixels = torch.from_numpy(np.ascontiguousarray(resized)).to(self.device).permute(2, 0, 1)
            if p.bgr_to_rgb:
                pixels = pixels.flip(0)
            batch[i, :, :h, :w] = (pixels.float() - self._mean) / self._std
        return batch


def checked_direct_inputs(cfg, role: str, device: str, toolbox_prepare: Callable,
                          probe_frame: np.ndarray) -> DirectInputs | None:
    """DirectInputs for the model's config where it reproduces toolbox_prepare (frame -> (input, metainfo
    list)) for the probe frames (see module doc), else None."""
    import cv2

    from vad_ros.perception.cuda_graphs import same_outputs
    from vad_ros.perception.openmmlab import SPEEDUP_TOLERANCE
    try:
        direct = DirectInputs(from_config(cfg, role), device)
    except (PerceptionError, KeyError, TypeError, ValueError) as e:
        log.info('%s: the toolbox pipeline prepares each frame (%s)', role, e)
        return None
    try:
        for size in PROBE_SIZES:
            frame = cv2.resize(probe_frame, size, interpolation=cv2.INTER_LINEAR)
            expected, expected_metas = toolbox_prepare(frame)
            got, metas = direct([frame])
            if not same_outputs([expected], [got], SPEEDUP_TOLERANCE):
                raise ValueError(f'another network input for a {size[0]}x{size[1]} frame')
            for key in META_KEYS:
                want, have = tuple(expected_metas[0][key]), tuple(metas[0][key])
                if len(want) != len(have) or not np.allclose(want, have, rtol=1e-9, atol=0):
                    raise ValueError(f'{key} {have} instead of {want} for a {size[0]}x{size[1]} frame')
    except Exception as e:  # noqa: BLE001 - any difference or failure: the toolbox's pipeline stays
        log.info('%s: the toolbox pipeline prepares each frame (direct pre-processing: %s)', role, e)
        return None
    return direct
