"""vad-export: an MMDetection detector or an MMSegmentation segmenter (config + checkpoint) -> an ONNX file of
its network + a small JSON metadata file, for `detector.backend: onnx` / `segmenter.backend: onnx`
(vad_ros.perception.onnx.detector / .segmenter), which run them with onnxruntime without torch or mmcv.

    vad-export detector --config rtmdet_tiny.py --checkpoint rtmdet_tiny.pth --out models/rtmdet_tiny.onnx
    vad-export segmenter --config segformer_b0.py --checkpoint segformer_b0.pth --out models/segformer_b0.onnx
    -> models/<name>.onnx + models/<name>.json (class names, input size, pre-processing, decoder, test settings)

What is in the graph and what is not:
- detector (decoder 'dense'): backbone, neck, head, the head's priors and box decoding; outputs per feature
  level `scores_<i>` (B, N_i, classes) after the head's activation and `boxes_<i>` (B, N_i, 4) xyxy in
  network-input pixels, B a dynamic batch axis (the frames of several cameras in one run; metadata
  `dynamic_batch: true`; files exported before it have (N_i, ...) outputs and batch 1, and still load).
  Score threshold, top-k per level, clipping, rescaling to the frame and per-class NMS are done by the
  package in numpy (vad_ros.perception.dense), with the config's test settings (stored in the metadata).
  Single-stage detectors with a plain dense head (RTMDet, RetinaNet, ...) can be exported (RTMDet's test
  pipeline pads every frame to 640x640, so any frame size fits).
- segmenter (decoder 'label_map'): backbone + decode head + the argmax over classes, at the decode head's
  resolution (1/4 or 1/8 of the input), as uint8 (int32 over 256 classes). Encoder-decoder models with a
  plain decode head and 'whole' test mode (SegFormer, UperNet, ...). SegFormer's head is exported in the
  cheaper order of vad_ros.perception.openmmlab.segformer_head (same logits up to float rounding).
- The input size is fixed at export: the network input of --frame-size frames (default 640x480; any frame of
  the same aspect ratio gives the same input, e.g. 768x576 too). The TorchScript-based exporter bakes some
  shapes of attention layers into the graph, so a dynamic size would give wrong reshapes in SegFormer; a
  camera has one frame size anyway. The segmenter's batch is 1 (the pipeline batches detection only).
  A dynamic batch axis costs the batch-1 run nothing measurable (bench/RESULTS.md, "Model path per stage").
  Frames that need another input size are refused with the fix.
The package's numpy pre-processing reproduces the config's test pipeline (vad_ros.perception.network_io).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any

import torch

from vad_ros.perception.openmmlab import toolbox as openmmlab
from vad_ros.perception.base import PerceptionError
from vad_ros.perception.openmmlab.dense_head import dense_network, dense_test_cfg
from vad_ros.perception.openmmlab.mmseg_segmenter import label_dtype, plain_decode_head
from vad_ros.perception.network_io import from_config
from vad_ros.perception.onnx.runtime import FORMAT, metadata_path
from vad_ros.perception.openmmlab.segformer_head import head_logits

OPSET = 17


def _segmenter_network(model, num_classes: int):
    if not plain_decode_head(model):
        raise PerceptionError(f'{type(model).__name__} is not an encoder-decoder with a plain decode head in '
                              "'whole' test mode; run it with segmenter.backend: mmseg")
    dtype = label_dtype(num_classes)

    class LabelMap(torch.nn.Module):
        """image -> (1, h, w) class per pixel at the decode head's resolution."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, image):
            return head_logits(self.model.decode_head, self.model.extract_feat(image)).argmax(dim=1).to(dtype)

    return LabelMap().eval()


def export(role: str, config: str, checkpoint: str, out: str, frame_size: tuple[int, int] = (640, 480),
           opset: int = OPSET, trust_pickle: bool = False) -> tuple[str, str]:
    """Export; returns (onnx_path, metadata_path). Raises PerceptionError for what the user can fix.
    trust_pickle: read the checkpoint with the unrestricted unpickler (trusted files only, see openmmlab)."""
    toolbox = {'detector': openmmlab.MMDET, 'segmenter': openmmlab.MMSEG}[role]
    model = openmmlab.load_model(toolbox, config, checkpoint, 'cpu', trust_pickle)
    names = openmmlab.class_names(model, toolbox)
    preprocess = from_config(model.cfg, role)
    width, height = preprocess.input_shape(*frame_size)
    meta: dict[str, Any] = {'format': FORMAT, 'role': role, 'class_names': list(names), 'frame_size': list(frame_size),
                            'preprocess': preprocess.to_dict(), 'input': 'image',
                            'source': {'config': os.path.abspath(config), 'checkpoint': os.path.abspath(checkpoint),
                                       'model': type(model).__name__, 'torch': torch.__version__}}
    if role == 'detector':
        network, levels = dense_network(model)
        outputs = [f'{kind}_{i}' for i in range(levels) for kind in ('scores', 'boxes')]
        meta.update(decoder='dense', outputs=outputs, input_shape=[1, 3, height, width],
                    test_cfg=dense_test_cfg(model), dynamic_batch=True)
    else:
        network = _segmenter_network(model, len(names))
        outputs = ['labels']
        meta.update(decoder='label_map', outputs=outputs, input_shape=[1, 3, height, width])
    # the detector's batch axis is dynamic (several cameras in one run); the segmenter's is 1 (see the doc)
    dynamic = {name: {0: 'batch'} for name in ['image', *outputs]} if meta.get('dynamic_batch') else None
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with openmmlab.scope(toolbox.name), torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter('ignore')          # tracer warnings about Python values in the head
        torch.onnx.export(network, (torch.zeros(1, 3, height, width),), out, input_names=['image'],
                          output_names=outputs, opset_version=opset, dynamo=False, dynamic_axes=dynamic)
    meta_out = metadata_path(out)
    with open(meta_out, 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
    return out, meta_out


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split('x'))
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not WIDTHxHEIGHT (e.g. 640x480)") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='vad-export', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('role', choices=('detector', 'segmenter'), help='what the model is')
    parser.add_argument('--config', required=True, help='mmdet/mmseg config file or shipped model name')
    parser.add_argument('--checkpoint', required=True, help='checkpoint file (.pth)')
    parser.add_argument('--out', required=True, help='ONNX file to write (the metadata goes next to it, .json)')
    parser.add_argument('--frame-size', type=_size, default=(640, 480),
                        help='camera frame size WxH: fixes the network input size (default 640x480)')
    parser.add_argument('--opset', type=int, default=OPSET)
    parser.add_argument('--trust-checkpoint-pickle', action='store_true',
                        help='read a checkpoint that holds more than weights (trusted files only: unpickling can '
                             'run code)')
    args = parser.parse_args(argv)
    try:
        onnx_path, meta_path = export(args.role, args.config, args.checkpoint, args.out, args.frame_size,
                                      args.opset, args.trust_checkpoint_pickle)
    except PerceptionError as e:
        hint = ' (for vad-export: --trust-checkpoint-pickle)' if 'trust_checkpoint_pickle' in str(e) else ''
        print(f'vad-export: {e}{hint}', file=sys.stderr)
        return 1
    print(f'network:  {onnx_path}\nmetadata: {meta_path}\nparameters: {args.role}.backend: onnx, '
          f'{args.role}.checkpoint: {onnx_path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
