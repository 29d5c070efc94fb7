"""Detector backend on MMDetection (any COCO-style model: RTMDet, DINO, InternImage configs, ...).

Deployment settings: the configs' test settings are made for COCO mAP (RTMDet: score_thr 0.001, up to 30000
candidates per level before NMS). With `min_score` (the pipeline's score_threshold; detector.keep_low_scores
false) the heads' test settings follow the score policy of vad_ros.perception.dense (DenseTestCfg.for_deployment:
score_thr raised to min_score, nms_pre capped at DEPLOY_NMS_PRE). The detections at or above min_score stay the
same (greedy NMS suppresses a box only by better ones) unless a level has more than DEPLOY_NMS_PRE candidates
above min_score. A lower score_threshold at run time: MinScore.lower_min_score. For the config's low scores
(evaluations): detector.keep_low_scores: true.

detect() runs in stages that bench/bench_models.py times one by one: prepare (the test pipeline + data
preprocessor), network (backbone, neck, head), decode (priors, box decoding, score filter, NMS) and to_host
(numpy); detectors other than plain single-stage ones run network + decode in the toolbox's predict.
detect_batch() runs the frames of several cameras through one forward pass (pipeline.detect_all).

Decoding of single-stage detectors, one of three: the package's (the variant package_decode, dense_head.py:
plain dense heads such as RTMDet's and RetinaNet's, no mmcv op; its default: PACKAGE_DECODE), else
MMDetection's, on the device, or on the host where mmcv was built without CUDA ops (decode_on_host: no GPU
NMS, so the head's raw maps are copied to the CPU and decoded there, with a warning at start-up).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

import torch

from vad_ros.perception.base import same_size_batches
from vad_ros.perception.openmmlab.dense_head import DenseDecoder, single_stage
from vad_ros.perception.openmmlab.backend import MODEL_CHANGES, RUNNERS, ModelBackend
from vad_ros.perception.dense import DenseTestCfg, MinScore
from vad_ros.perception.openmmlab.toolbox import MMDET, scope
from vad_ros.perception.openmmlab.variants import Variant, map_tensors
from vad_ros.types import Detections

log = logging.getLogger('vad_ros.perception')
PACKAGE_DECODE = Variant(
    'package_decode', lambda detector: detector.min_score is None or detector.decode_on_host,
    "on where the config's COCO test settings are kept (detector.keep_low_scores; RTMDet-tiny detect() 58-59 % "
    'faster on the CPU) or mmcv has no GPU NMS (the host decode it replaces took 2-5 of 33.7 ms per H200 frame); '
    'with the pipeline threshold in the model on the CPU it saves 0.3-3.0 % (< 5 %)',
    lambda detector: detector.try_package_decode())


def mmcv_ops_on(device: str) -> bool:
    """True where mmcv's compiled ops (NMS among them) run on `device`: always on the CPU; on a GPU only if
    mmcv was built with CUDA."""
    if not device.startswith('cuda'):
        return True
    from mmcv.ops import get_compiling_cuda_version
    return get_compiling_cuda_version() != 'not available'


def to_cpu(raw):
    """The head's raw outputs (nested tuples / lists of tensors, or None) as float32 tensors on the CPU."""
    return map_tensors(raw, lambda t: t.float().cpu())


class MMDetDetector(MinScore, ModelBackend):
    toolbox = MMDET
    MAX_BATCH = 8          # frames per forward pass in detect_batch
    PLAN = MODEL_CHANGES + (PACKAGE_DECODE,) + RUNNERS      # the decoding wraps the changed model; runners it
    _dense = None

    def __init__(self, *args, min_score: float | None = None, **kwargs):
        """min_score: the pipeline's score threshold, applied inside the model (None: the config's test
        settings, e.g. for frame AUC); package_decode and the others: the variants of the plan (backend.py)."""
        self.min_score = min_score                  # package_decode's default reads it
        super().__init__(*args, **kwargs)
        if self.decode_on_host and not self.package_decode:
            log.warning('detector: mmcv was built without CUDA ops, so NMS cannot run on %s: the network runs '
                        'there and its raw maps are decoded on the CPU. For GPU NMS install an mmcv built with '
                        'CUDA.', self.device)
        # the test settings the heads read at inference (a single-stage head's, a two-stage model's ROI head's)
        heads = [getattr(self.model, name, None) for name in ('bbox_head', 'roi_head')]
        self._test_cfgs = [(h.test_cfg, {k: h.test_cfg[k] for k in ('score_thr', 'nms_pre') if k in h.test_cfg})
                           for h in heads if getattr(h, 'test_cfg', None) is not None]
        self.set_min_score(min_score)

    def runs_in_stages(self) -> bool:
        self.single_stage = single_stage(self.model)
        self.decode_on_host = self.single_stage and not mmcv_ops_on(self.device)
        return self.single_stage

    def try_package_decode(self) -> None:
        """The package's decoding (dense_head.DenseDecoder), kept where its network runs on the probe input (its
        detections equal MMDetection's: tested)."""
        def runs(dense):
            with torch.inference_mode():
                dense.network(self.as_layout(self.probe_reference()[0]))
        self._dense = self.variants.keep_if_equivalent('package_decode', lambda: DenseDecoder(self.model), runs,
                                                       kept_why='plain dense head')

    def stage_paths(self) -> dict[str, str]:
        decode = 'package' if self.package_decode else 'mmdet' + (' on the host' if self.decode_on_host else '')
        return {**super().stage_paths(), 'decode': decode if self.single_stage else "in the toolbox's predict"}

    @property
    def package_decode(self) -> bool:
        """True where the package decodes the head's outputs (vad_ros.perception.openmmlab.dense_head)."""
        return self._dense is not None

    def probe_outputs(self, inputs) -> list:
        cls_scores, bbox_preds = self.network(inputs, None)[:2]
        return list(cls_scores) + list(bbox_preds)

    def set_min_score(self, min_score: float | None) -> None:
        """The score threshold applied inside the model from now on (None: the config's settings)."""
        self.min_score = min_score
        for cfg, config_values in self._test_cfgs:       # the keys the config has, deployed as dense.py says
            deployed = DenseTestCfg(**config_values).for_deployment(min_score)
            cfg.update({key: getattr(deployed, key) for key in config_values})
        if self._dense is not None:
            self._dense.set_min_score(min_score)

    @classmethod
    def from_params(cls, params: dict[str, Any]):
        keep_low = params['detector.keep_low_scores']
        return super().from_params(params, min_score=None if keep_low else params['score_threshold'])

    def network(self, inputs, samples):
        """The head's raw outputs (single-stage), or the finished predictions (other detectors)."""
        if self.single_stage:
            return self.run_network(inputs)
        with scope(self.toolbox.name), self._inference():
            return self.model.predict(inputs, samples)

    def forward(self, inputs):
        """Single-stage: the head's raw maps (cls_scores, bbox_preds, ...) for the network input; with the
        package's decoding, each level's scores and decoded boxes (vad_ros.perception.openmmlab.dense_head)."""
        if self._dense is not None:
            return self._dense.network(self.as_layout(inputs))
        return self.model.bbox_head(self.model.extract_feat(self.as_layout(inputs)))

    def decode_all(self, raw, samples) -> list:
        """Per image of the batch: InstanceData (boxes in frame pixels, on the device), or with the package's
        decoding (boxes, scores, labels) as numpy arrays."""
        if not self.single_stage:
            return [r.pred_instances for r in raw]
        metas = [s.metainfo for s in samples]
        if self._dense is not None:
            with torch.inference_mode():
                return self._dense.decode(raw, metas)
        if self.decode_on_host:
            raw = to_cpu(raw)
        with scope(self.toolbox.name), self._inference():
            return list(self.model.bbox_head.predict_by_feat(*raw, batch_img_metas=metas, rescale=True))

    def decode(self, raw, samples):
        """decode_all's result for the (first) image."""
        return self.decode_all(raw, samples)[0]

    def to_host(self, pred, image_bgr: np.ndarray) -> Detections:
        height, width = image_bgr.shape[:2]
        if isinstance(pred, tuple):                     # the package's decoding: numpy already
            boxes, scores, labels = pred
        else:
            boxes, scores, labels = (pred.bboxes.float().cpu().numpy(), pred.scores.float().cpu().numpy(),
                                     pred.labels.cpu().numpy())
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        return Detections(boxes, labels.astype(np.int64), scores.astype(np.float32), self.class_names)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        inputs, samples = self.prepare(image_bgr)
        return self.to_host(self.decode(self.network(inputs, samples), samples), image_bgr)

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        """The detections of several frames (one per camera): frames whose test pipeline gives the same input
        size (RTMDet pads every frame to 640x640) go through the data preprocessor, the network and the
        head's post-processing as one batch of up to MAX_BATCH; frames of other sizes form their own batches,
        so no frame is padded more than detect() pads it and the results equal detect()'s frame by frame
        (up to the last bits of the network's float sums)."""
        if len(images) < 2:
            return [self.detect(image) for image in images]
        samples = [self._sample(image) for image in images]
        found: list[Detections | None] = [None] * len(images)
        for chunk in same_size_batches([tuple(s['inputs'].shape) for s in samples], self.MAX_BATCH):
            inputs, data_samples = self._batch([samples[i] for i in chunk])
            preds = self.decode_all(self.network(inputs, data_samples), data_samples)
            for i, pred in zip(chunk, preds):
                found[i] = self.to_host(pred, images[i])
        return found
