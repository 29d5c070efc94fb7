"""NanoDet's TF.js graph as an ONNX file for ONNX Runtime, made on this machine from the fetched model (nothing
generated is committed): `tools/setup.sh nanodet` makes the float32 file, NanoDetDetector makes any missing one on
its first start. Files live in `onnx/` next to nanodet.json (else in the model cache folder), named by a hash of
the model files and of this exporter's version, so a changed model or exporter makes new files; each is written
to a temporary name and renamed, so a reader never sees half a file.

- float32: the package's torch executor (vad_ros.perception.tfjs_graph) traced by torch.onnx.export (opset 17)
  with a batch axis; ONNX Runtime then folds the executor's layout transposes away. Outputs equal the executor's
  to ~1e-5 (tested on real frames).
- int8: ONNX Runtime's static quantisation of the float32 file (QDQ: int8 weights per output channel, uint8
  activations, min/max calibration; QUANTISED_OPS) on CALIBRATION_FRAMES frames of data/vtest.avi (`tools/setup.sh
  data`; none of them a labelled frame); ONNX Runtime runs it with the CPU's VNNI instructions where it has them. Its accuracy against float32 is
  measured by bench/bench_nanodet_runners.py and checked by test/perception/test_nanodet_onnx.py.

    python -m vad_ros.perception.nanodet_onnx [--precision fp32|int8] [MODEL.json]   # prints the file's path
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from vad_ros.perception.base import PerceptionError
from vad_ros.perception.nanodet_files import default_model_path, model_cache_dir
from vad_ros.perception.nanodet_input import prepare_input

log = logging.getLogger('vad_ros.perception')

EXPORTER_VERSION = 'nanodet-onnx/1'      # part of the file names' hash: change it when the export changes
OPSET = 17
INPUT = 'input'
VTEST = Path(__file__).resolve().parents[2] / 'data' / 'vtest.avi'
PRECISIONS = ('fp32', 'int8')                  # detector.nanodet.precision
QUANTISED_OPS = ['Conv', 'Concat', 'Resize', 'MaxPool']
CALIBRATION_FRAMES = range(5, 795, 40)   # 20 frames of vtest.avi, every 40th (the labelled ones are multiples of 10)


def model_hash(model_path: str) -> str:
    """16 hex digits of sha256 over the model.json, its weight files and EXPORTER_VERSION."""
    digest = hashlib.sha256(EXPORTER_VERSION.encode())
    folder = os.path.dirname(os.path.abspath(model_path))
    with open(model_path, 'rb') as f:
        text = f.read()
    digest.update(text)
    for group in json.loads(text).get('weightsManifest', []):
        for shard in group.get('paths', []):
            with open(os.path.join(folder, shard), 'rb') as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def onnx_folders(model_path: str) -> list[str]:
    """Where the files may be: onnx/ next to the model, then the model cache folder's nanodet-onnx/."""
    return [os.path.join(os.path.dirname(os.path.abspath(model_path)), 'onnx'),
            os.path.join(model_cache_dir(), 'nanodet-onnx')]


def file_name(model_path: str, precision: str) -> str:
    if precision not in PRECISIONS:
        raise PerceptionError(f"detector.nanodet.precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    return f'nanodet-{model_hash(model_path)}-{precision}.onnx'


def existing_onnx_path(model_path: str, precision: str = 'fp32') -> str | None:
    """The ONNX file of the model at this precision where one was made, else None."""
    name = file_name(model_path, precision)
    for folder in onnx_folders(model_path):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def onnx_path(model_path: str, precision: str = 'fp32') -> str:
    """The ONNX file of the model at this precision, made now when no folder has it (see the module doc)."""
    found = existing_onnx_path(model_path, precision)
    if found:
        return found
    name, folders = file_name(model_path, precision), onnx_folders(model_path)
    make: Callable[[str], None]
    if precision == 'fp32':
        def make(out: str) -> None:
            export_fp32(model_path, out)
    else:
        def make(out: str) -> None:
            quantise_int8(onnx_path(model_path, 'fp32'), out, calibration_inputs())
    errors = []
    for folder in folders:
        try:
            os.makedirs(folder, exist_ok=True)
            target = os.path.join(folder, name)
            log.info('nanodet: writing %s (once per model and precision)', target)
            write_atomically(target, make)
            return target
        except OSError as e:
            errors.append(f'{folder}: {e}')
    raise PerceptionError(f"nanodet: no folder to write the ONNX file of '{model_path}' to ({'; '.join(errors)}): "
                          f'make one writable, or set detector.nanodet.runner: torch')


def write_atomically(target: str, make: Callable[[str], None]) -> None:
    """make(temporary path in target's folder), then rename it to target (removed again on failure)."""
    handle, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(target) + '.', suffix='.tmp',
                                   dir=os.path.dirname(target))
    os.close(handle)
    try:
        make(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def export_fp32(model_path: str, out: str) -> None:
    """The TF.js graph traced through the torch executor into an ONNX file with a batch axis; outputs named as
    the graph's."""
    try:
        import torch
    except ImportError:
        raise PerceptionError('nanodet: making the ONNX file needs torch once (tools/setup.sh nanodet installs it)'
                              ) from None
    from vad_ros.perception.tfjs_graph import GraphModel
    graph = GraphModel.load(model_path, 'cpu').to('cpu', channels_last=False)
    size = graph.input_shapes[next(iter(graph.input_shapes))][2]

    class Network(torch.nn.Module):
        def forward(self, x):
            outputs = graph.run({name: x for name in graph.input_shapes})
            return tuple(outputs[name] for name in graph.output_names)

    batch = {0: 'batch'}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter('ignore')             # tracer warnings about Python values
        torch.onnx.export(Network(), (torch.zeros(1, 3, size, size),), out, input_names=[INPUT],
                          output_names=list(graph.output_names), opset_version=OPSET, dynamo=False,
                          dynamic_axes={INPUT: batch, **{name: batch for name in graph.output_names}})


def calibration_inputs() -> list[np.ndarray]:
    """The int8 calibration inputs: CALIBRATION_FRAMES of data/vtest.avi, pre-processed as NanoDetDetector does."""
    import cv2
    if not VTEST.is_file():
        raise PerceptionError(f"nanodet: int8 calibration needs '{VTEST}': run 'tools/setup.sh data', or set "
                              'detector.nanodet.precision: fp32')
    cap = cv2.VideoCapture(str(VTEST))
    wanted, inputs, index = set(CALIBRATION_FRAMES), [], 0
    try:
        while len(inputs) < len(wanted):
            ok, frame = cap.read()
            if not ok:
                break
            if index in wanted:
                inputs.append(prepare_input(frame, 416)[0][None])
            index += 1
    finally:
        cap.release()
    if len(inputs) < len(wanted):
        raise PerceptionError(f"nanodet: '{VTEST}' has {index} frames, int8 calibration needs frame "
                              f'{max(wanted)}: fetch it again with tools/setup.sh data')
    return inputs


def quantise_int8(fp32_path: str, out: str, inputs: list[np.ndarray]) -> None:
    """ONNX Runtime's static QDQ quantisation of fp32_path, calibrated on `inputs` ((1, 3, S, S) each)."""
    try:
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
    except ImportError as e:
        raise PerceptionError(f'nanodet: int8 needs onnxruntime with its quantisation tools and onnx ({e}): '
                              'pip install onnx onnxruntime, or set detector.nanodet.precision: fp32') from None

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{INPUT: x} for x in inputs])

        def get_next(self):
            return next(self.feeds, None)

    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        # quantised: the graph after ONNX Runtime's basic optimisations (constants folded, the exporter's
        # transposes and pads merged), its convolutions, concatenations, resizes and max-pool; the activations
        # and the head's outputs stay float. (Quantising every op type also quantises constant pad values of
        # zero range, which gives infinite scales and garbage scores.)
        prepared = os.path.join(tmp, 'basic.onnx')
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = prepared
        ort.InferenceSession(fp32_path, options, providers=['CPUExecutionProvider'])
        logging.disable(logging.WARNING)          # the quantiser's advice to pre-process, on the root logger
        try:
            quantize_static(prepared, out, Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=QUANTISED_OPS, calibrate_method=CalibrationMethod.MinMax)
        finally:
            logging.disable(logging.NOTSET)


def agreement(reference, other, min_score: float = 0.4, min_iou: float = 0.5) -> tuple[int, int, int]:
    """The accuracy check of a lower-precision runner against float32 on one frame: (reference detections with
    score >= min_score, how many of them `other` matches one to one (same label, IoU >= min_iou, best IoU first),
    detections of `other` with score >= min_score that match none). Detections objects of vad_ros.types."""
    from vad_ros.boxes import iou_matrix
    ref, oth = reference.scores >= min_score, other.scores >= min_score
    ref_boxes, ref_labels = reference.boxes[ref], reference.labels[ref]
    other_boxes, other_labels = other.boxes[oth], other.labels[oth]
    if not len(ref_boxes) or not len(other_boxes):
        return len(ref_boxes), 0, len(other_boxes)
    iou = iou_matrix(ref_boxes, other_boxes) * (ref_labels[:, None] == other_labels[None, :])
    pairs = sorted(zip(*np.nonzero(iou >= min_iou)), key=lambda pair: -iou[pair])
    used_ref, used_other = set(), set()
    for r, o in pairs:
        if r not in used_ref and o not in used_other:
            used_ref.add(r)
            used_other.add(o)
    return len(ref_boxes), len(used_ref), len(other_boxes) - len(used_other)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description='Make (once) and print the ONNX file of the NanoDet model.')
    parser.add_argument('model', nargs='?', default='', help='nanodet.json (default: the fetched one)')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    try:
        print(onnx_path(args.model or default_model_path(), args.precision))
    except PerceptionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
