"""Plain dense heads decoded by the package: the network module that vad-export exports and the PyTorch detector
runs where the package decodes (the variant `package_decode` of MMDetDetector), and its decoding.

Which detectors: `single_stage` (predict is extract_feat -> head forward -> predict_by_feat, so the network and
the decoding can run as separate stages) and, for the package's decoding, a plain dense head (the head decodes
as BaseDenseHead does, with priors and a box coder): `dense_network` checks it and runs the network together
with the priors, the class activation and the box decoding, on a GPU inside its CUDA graph. Then the ONNX path's
vad_ros.perception.dense.decode_dense, except that each level's candidates are picked on the device
(`device_candidates`) and only they go to the host. So the detections are the ONNX path's for the same network
outputs (and MMDetection's within 1 px and 1e-3: tested). Heads with score factors (objectness, centerness) or
a config NMS other than plain 'nms' keep MMDetection's decoding (the variant is refused at load).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vad_ros.perception.base import PerceptionError
from vad_ros.perception.dense import DenseTestCfg, decode_dense, warm_up_nms


def single_stage(model) -> bool:
    """True for a single-stage detector whose predict is extract_feat -> head forward -> predict_by_feat."""
    from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
    from mmdet.models.detectors.single_stage import SingleStageDetector

    return (isinstance(model, SingleStageDetector) and type(model).predict is SingleStageDetector.predict
            and isinstance(getattr(model, 'bbox_head', None), BaseDenseHead)
            and type(model.bbox_head).predict is BaseDenseHead.predict)


def dense_network(model):
    """(module: image -> each level's scores and decoded boxes, number of levels) of a plain dense detector (a
    single_stage one whose head decodes as BaseDenseHead does, with priors and a box coder); PerceptionError
    naming the fix for other detectors."""
    import torch
    from mmdet.models.dense_heads.base_dense_head import BaseDenseHead

    head = getattr(model, 'bbox_head', None)
    if not (single_stage(model) and type(head).predict_by_feat is BaseDenseHead.predict_by_feat
            and type(head)._predict_by_feat_single is BaseDenseHead._predict_by_feat_single
            and hasattr(head, 'prior_generator') and hasattr(head, 'bbox_coder')):
        what = type(model).__name__ + (f' with {type(head).__name__}' if head is not None else '')
        raise PerceptionError(f'{what} is not a plain single-stage dense detector (RTMDet, RetinaNet, ...); '
                              'run it with detector.backend: mmdet')

    class DenseDetector(torch.nn.Module):
        """image (B, 3, H, W) -> per level: scores (B, N, C) after the activation, boxes (B, N, 4) in input
        pixels."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, image):
            outs = head(self.model.extract_feat(image))
            if len(outs) != 2:
                raise PerceptionError(f'{type(head).__name__} has score factors (objectness or centerness), '
                                      "which the package's decoding does not apply")
            cls_scores, bbox_preds = outs
            # the input size is fixed at export, so are the levels' sizes: plain ints make the priors
            # constants, and no shape is read off the head's outputs (in onnxruntime's blocked layout on
            # CPU, reading a shape costs a full conversion of the tensor)
            sizes = [tuple(int(v) for v in c.shape[-2:]) for c in cls_scores]
            priors = head.prior_generator.grid_priors(sizes, dtype=image.dtype, device=image.device)
            batch = image.shape[0]                  # a dynamic axis of the graph
            results = []
            for cls, reg, prior in zip(cls_scores, bbox_preds, priors):
                if head.use_sigmoid_cls:            # on the convolution's output: onnxruntime fuses the two
                    scores = cls.sigmoid().permute(0, 2, 3, 1).reshape(batch, -1, head.cls_out_channels)
                else:
                    logits = cls.permute(0, 2, 3, 1).reshape(batch, -1, head.cls_out_channels)
                    scores = logits.softmax(-1)[..., :-1]
                deltas = reg.permute(0, 2, 3, 1).reshape(-1, head.bbox_coder.encode_size)
                # the coders decode (M, 4) pairs of prior and deltas: the priors repeated for each image
                pairs = prior.unsqueeze(0).expand(batch, -1, -1).reshape(-1, prior.shape[-1])
                results += [scores, head.bbox_coder.decode(pairs, deltas).reshape(batch, -1, 4)]
            return tuple(results)

    return DenseDetector().eval(), len(head.prior_generator.strides)


def dense_test_cfg(model) -> dict[str, Any]:
    """The head's test settings as DenseTestCfg's fields; PerceptionError for an NMS other than plain 'nms'."""
    cfg = dict(model.bbox_head.test_cfg or {})
    nms = dict(cfg.get('nms') or {})
    if nms.get('type', 'nms') != 'nms':
        raise PerceptionError(f"the config's NMS is {nms.get('type')}; only plain 'nms' is reproduced by the "
                              'package')
    return {'score_thr': float(cfg.get('score_thr', 0.0)), 'nms_pre': int(cfg.get('nms_pre', -1)),
            'iou_threshold': float(nms.get('iou_threshold', 0.5)), 'max_per_img': int(cfg.get('max_per_img', 100)),
            'min_bbox_size': float(cfg.get('min_bbox_size', -1))}


def device_candidates(scores, boxes, score_thr: float, nms_pre: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dense.level_candidates on one level's torch tensors: picked on their device, only the candidates copied
    to the host as numpy (boxes, scores, labels)."""
    import torch
    scores = scores.float()
    flat = torch.flatten(scores)
    index = torch.nonzero(flat > score_thr).squeeze(1)
    values = flat[index]
    order = torch.sort(values, descending=True, stable=True).indices
    if nms_pre > 0:
        order = order[:nms_pre]
    index = index[order]
    classes = scores.shape[1]
    return (boxes[index // classes].float().cpu().numpy(), values[order].cpu().numpy(),
            (index % classes).cpu().numpy())


class DenseDecoder:
    """The network + box decoding (network) and the candidates + NMS (decode) of a plain dense detector;
    PerceptionError where its head or NMS is not one the package reproduces."""

    def __init__(self, model):
        self.network, _ = dense_network(model)
        self.config_cfg = self.cfg = DenseTestCfg(**dense_test_cfg(model))
        warm_up_nms()

    def set_min_score(self, min_score: float | None) -> None:
        self.cfg = self.config_cfg.for_deployment(min_score)

    def decode(self, outputs, metas: list[dict[str, Any]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(boxes in frame pixels, scores, labels) per image of the batch, from [scores_0, boxes_0, ...]
        (B, N_i, C) / (B, N_i, 4) and the images' metainfo (img_shape (h, w), scale_factor (sx, sy))."""
        found = []
        for i, meta in enumerate(metas):
            height, width = meta['img_shape'][:2]
            found.append(decode_dense([output[i] for output in outputs], self.cfg, (width, height),
                                      tuple(meta['scale_factor'][:2]), device_candidates))
        return found
