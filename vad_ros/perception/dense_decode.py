"""The PyTorch detector's decoding by the package (MMDetDetector.package_decode, the default for plain dense
heads): faster than MMDetection's post-processing on the CPU, and on GPUs it needs no mmcv CUDA ops.

Instead of running MMDetection's post-processing on the head's raw maps (on the host where mmcv has no GPU
NMS), the network runs together with the priors, the class activation and the box decoding (the same module
vad-export exports: onnx_export.dense_network), on a GPU inside its CUDA graph.
Then, per image and level, the candidates above the score threshold, best first and at most nms_pre, are picked
on the GPU (device_candidates: the torch twin of onnx_detector.level_candidates), and only they go to the host,
where the ONNX path's finish_dense clips, rescales and runs NMS per class. The detections are the ONNX path's
for the same network outputs (boxes within 1 px and scores within 1e-3 of MMDetection's decoding: tested).

Plain single-stage dense heads only (RTMDet, RetinaNet, ...): heads with score factors (objectness,
centerness) or a config NMS other than plain 'nms' keep MMDetection's decoding (dense_decoder returns None; on
the host where mmcv has no CUDA ops).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vad_ros.perception.base import PerceptionError
from vad_ros.perception.nms import warm_up_nms
from vad_ros.perception.onnx_detector import DenseTestCfg, finish_dense


def device_candidates(scores, score_thr: float, nms_pre: int):
    """(scores, labels, rows) tensors of the (row, class) pairs of (N, C) scores above score_thr, best first
    (ties in index order), at most nms_pre; as onnx_detector.level_candidates, on the scores' device."""
    import torch
    flat = torch.flatten(scores)
    index = torch.nonzero(flat > score_thr).squeeze(1)
    values = flat[index]
    order = torch.sort(values, descending=True, stable=True).indices
    if nms_pre > 0:
        order = order[:nms_pre]
    index = index[order]
    classes = scores.shape[1]
    return values[order], index % classes, index // classes


class DenseDecoder:
    """The network + box decoding (forward) and the candidates + NMS (decode) of a plain dense detector."""

    def __init__(self, network, config_cfg: DenseTestCfg):
        self.network = network
        self.config_cfg = config_cfg
        self.cfg = config_cfg
        warm_up_nms()

    def set_min_score(self, min_score: float | None) -> None:
        self.cfg = self.config_cfg.for_deployment(min_score)

    def decode(self, outputs, metas: list[dict[str, Any]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(boxes in frame pixels, scores, labels) per image of the batch, from [scores_0, boxes_0, ...]
        (B, N_i, C) / (B, N_i, 4) and the images' metainfo (img_shape (h, w), scale_factor (sx, sy))."""
        found = []
        for i, meta in enumerate(metas):
            picked = []
            for scores, boxes in zip(outputs[0::2], outputs[1::2]):
                values, labels, rows = device_candidates(scores[i].float(), self.cfg.score_thr, self.cfg.nms_pre)
                picked.append((boxes[i][rows].float().cpu().numpy(), values.cpu().numpy(), labels.cpu().numpy()))
            height, width = meta['img_shape'][:2]
            found.append(finish_dense(picked, self.cfg, (width, height), tuple(meta['scale_factor'][:2])))
        return found


def dense_decoder(model, probe_inputs) -> DenseDecoder | None:
    """A DenseDecoder for the model, or None where its head or NMS is not one the package reproduces (the
    network is run once on probe_inputs to find out)."""
    import torch

    from vad_ros.perception.onnx_export import dense_network, dense_test_cfg
    try:
        network, _ = dense_network(model)
        cfg = DenseTestCfg(**dense_test_cfg(model))
        with torch.inference_mode():
            network(probe_inputs)
    except PerceptionError:
        return None
    return DenseDecoder(network, cfg)
