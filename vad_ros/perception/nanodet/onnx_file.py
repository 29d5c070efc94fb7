"""NanoDet's TF.js graph as an ONNX file for ONNX Runtime, made on this machine from the fetched model (nothing
generated is committed): `tools/setup.sh nanodet` makes the float32 file, NanoDetDetector makes any missing one on
its first start. Files live in `onnx/` next to nanodet.json (else in the model cache folder), named by a hash of
the model files and of this exporter's version, so a changed model or exporter makes new files; each is written
to a temporary name and renamed, so a reader never sees half a file.

- float32: the package's torch executor (vad_ros.perception.nanodet.tfjs_graph) traced by torch.onnx.export (opset 17)
  with a batch axis; ONNX Runtime's basic optimisations fold its constants and layout transposes away, and
  streamline() rewrites the operators that made ONNX Runtime leave its blocked convolution layout (the feature
  pyramid's resizes, a pad, the heads' transposes) into equivalent ones it keeps in that layout (network ~5 %
  faster, bench/RESULTS.md "NanoDet runners"). Outputs equal the executor's to ~1e-5 (tested on real frames).
- int8: ONNX Runtime's static quantisation of the plain (not streamlined) float32 export (QDQ: int8 weights per
  output channel, uint8 activations, min/max calibration; QUANTISED_OPS) on CALIBRATION_FRAMES frames of
  data/vtest.avi (`tools/setup.sh data`; none of them a labelled frame); ONNX Runtime runs it with the CPU's VNNI
  instructions where it has them. Its accuracy against float32 (`agreement` in bench/bench_nanodet_runners.py) is
  measured by that bench and checked by test/perception/test_nanodet_onnx.py.

    python -m vad_ros.perception.nanodet.onnx_file [--precision fp32|int8] [MODEL.json]   # prints the file's path
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

import numpy as np

from vad_ros.files import write_atomically
from vad_ros.paths import SOURCE_ROOT
from vad_ros.perception.base import PerceptionError
from vad_ros.perception.nanodet.files import existing_model_path, model_cache_dir
from vad_ros.perception.nanodet.preprocess import InputResizer, normalise

log = logging.getLogger('vad_ros.perception')

EXPORTER_VERSION = 'nanodet-onnx/2'      # part of the file names' hash: change it when the export changes
OPSET = 17
INPUT = 'input'
VTEST = SOURCE_ROOT / 'data' / 'vtest.avi'
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


def onnx_paths(model_path: str, precision: str) -> list[str]:
    """Where the model's ONNX file at this precision (one of PRECISIONS) may be: onnx/ next to the model, then the
    model cache folder's nanodet-onnx/; named by model_hash."""
    name = f'nanodet-{model_hash(model_path)}-{precision}.onnx'
    return [os.path.join(os.path.dirname(os.path.abspath(model_path)), 'onnx', name),
            os.path.join(model_cache_dir(), 'nanodet-onnx', name)]


def existing_onnx_path(model_path: str, precision: str = 'fp32') -> str | None:
    """The ONNX file of the model at this precision where one was made, else None."""
    return next((path for path in onnx_paths(model_path, precision) if os.path.isfile(path)), None)


def onnx_path(model_path: str, precision: str = 'fp32') -> str:
    """The ONNX file of the model at this precision, made now when no folder has it (see the module doc)."""
    found = existing_onnx_path(model_path, precision)
    if found:
        return found
    errors, make = [], export_fp32 if precision == 'fp32' else quantise_int8
    for target in onnx_paths(model_path, precision):
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            log.info('nanodet: writing %s (once per model and precision)', target)
            write_atomically(target, lambda out: make(model_path, out))
            return target
        except OSError as e:
            errors.append(f'{os.path.dirname(target)}: {e}')
    raise PerceptionError(f"nanodet: no folder to write the ONNX file of '{model_path}' to ({'; '.join(errors)}): "
                          f'make one writable, or set detector.nanodet.runner: torch')


def export_fp32(model_path: str, out: str, streamlined: bool = True) -> None:
    """The TF.js graph traced through the torch executor into an ONNX file with a batch axis; outputs named as
    the graph's. streamlined (the default runner's file): constants folded by ONNX Runtime, then streamline()."""
    try:
        import torch
    except ImportError:
        raise PerceptionError('nanodet: making the ONNX file needs torch once (tools/setup.sh nanodet installs it)'
                              ) from None
    from vad_ros.perception.nanodet.tfjs_graph import GraphModel
    graph = GraphModel.load(model_path, 'cpu').to('cpu', channels_last=False)
    size = graph.input_shapes[next(iter(graph.input_shapes))][2]

    class Network(torch.nn.Module):
        def forward(self, x):
            outputs = graph.run({name: x for name in graph.input_shapes})
            return tuple(outputs[name] for name in graph.output_names)

    batch = {0: 'batch'}
    with tempfile.TemporaryDirectory() as tmp:
        traced = os.path.join(tmp, 'traced.onnx') if streamlined else out
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter('ignore')             # tracer warnings about Python values
            torch.onnx.export(Network(), (torch.zeros(1, 3, size, size),), traced, input_names=[INPUT],
                              output_names=list(graph.output_names), opset_version=OPSET, dynamo=False,
                              dynamic_axes={INPUT: batch, **{name: batch for name in graph.output_names}})
        if streamlined:
            import onnx
            folded = os.path.join(tmp, 'folded.onnx')
            basic_optimised(traced, folded)
            model = onnx.load(folded)
            streamline(model)
            onnx.save(model, out)


def basic_optimised(path: str, out: str) -> None:
    """ONNX Runtime's basic graph optimisations of `path` (constants folded, the exporter's transposes and pads
    merged; portable: no CPU-specific operators) written to `out`."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = out
    ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


# ------------------------------------------------------------------------------------- streamlining
# ONNX Runtime's x86 layout transformer runs the convolutions in a blocked channel layout (NCHWc) and converts at
# every operator it cannot run in that layout. The exported graph has three kinds: the feature pyramid's resizes
# (four; their sizes computed at run time from Shape), the -inf Pad before the max-pool, and the heads' split / reshape
# / transpose to (B, cells, channels). streamline() rewrites them into equivalent operators it keeps blocked.

def streamline(model) -> None:
    """In place, on a graph with its constants folded (basic_optimised): the rewrites below, then the nodes no
    output needs removed. Outputs equal to ~3e-6 (float rounding of the averaging)."""
    import onnx
    from onnx import numpy_helper
    graph = model.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in onnx.shape_inference.infer_shapes(model, data_prop=True).graph.value_info}
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producer = {name: node for node in graph.node for name in node.output}
    _fixed_scale_resizes(graph, shapes)
    _pads_into_max_pools(graph, constants, producer)
    _channels_last_heads(graph, constants)
    del graph.value_info[:]
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    live = [i for i in graph.initializer if i.name in needed]
    del graph.node[:], graph.initializer[:]
    graph.node.extend(reversed(kept))
    graph.initializer.extend(live)
    onnx.checker.check_model(model)


def _attributes(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _fixed_scale_resizes(graph, shapes: dict) -> None:
    """Bilinear (half-pixel) resizes to exactly twice the size: fixed scales (the layout transformer's Upsample);
    to exactly half: a 2x2 average pool (each output sample lies midway between four input pixels)."""
    from onnx import helper, numpy_helper
    name = 'streamline_scales_2'
    graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), name))
    for node in list(graph.node):
        if node.op_type != 'Resize' or len(node.input) < 4 or not node.input[3]:
            continue
        attributes = _attributes(node)
        source, target = shapes.get(node.input[0], []), shapes.get(node.output[0], [])
        if (attributes.get('mode') != b'linear' or attributes.get('coordinate_transformation_mode') != b'half_pixel'
                or len(source) != 4 or len(target) != 4 or 0 in source[1:] or 0 in target[1:]):
            continue
        if target[2:] == [2 * source[2], 2 * source[3]]:
            node.input[2] = name
            del node.input[3:]
        elif source[2:] == [2 * target[2], 2 * target[3]]:
            node.CopyFrom(helper.make_node('AveragePool', [node.input[0]], [node.output[0]], node.name + '_average',
                                           kernel_shape=[2, 2], strides=[2, 2]))      # in place: same position


def _pads_into_max_pools(graph, constants: dict, producer: dict) -> None:
    """A constant -inf Pad of the spatial axes before a MaxPool: the pool's own pads (which pad with -inf)."""
    from onnx import helper
    for node in graph.node:
        pad = producer.get(node.input[0]) if node.op_type == 'MaxPool' else None
        if pad is None or pad.op_type != 'Pad' or _attributes(pad).get('mode', b'constant') != b'constant':
            continue
        widths = constants.get(pad.input[1])
        value = constants.get(pad.input[2]) if len(pad.input) > 2 else None
        if (widths is None or value is None or value.size != 1 or not np.isneginf(value).all() or widths.size != 8
                or widths[[0, 1, 4, 5]].any() or any(_attributes(node).get('pads', [0]))):
            continue
        node.input[0] = pad.input[0]
        others = [a for a in node.attribute if a.name != 'pads']
        del node.attribute[:]
        node.attribute.extend(others + [helper.make_attribute('pads', [int(w) for w in widths[[2, 3, 6, 7]]])])


def _channels_last_heads(graph, constants: dict) -> None:
    """A head split along channels, each part (sigmoid or not) reshaped to (B, C, cells) and transposed to
    (B, cells, C): transposed to channels-last first, reshaped to (B, cells, all channels) and split along the
    last axis (the layout transformer writes channels-last directly; the split copies rows)."""
    from onnx import helper, numpy_helper
    outputs = {o.name for o in graph.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for split in [n for n in graph.node if n.op_type == 'Split']:
        sizes = constants.get(split.input[1]) if len(split.input) > 1 else None
        if _attributes(split).get('axis') != 1 or sizes is None:
            continue
        chains = []
        for part in split.output:
            chain, name = [], part
            while len(consumers.get(name, [])) == 1 and name not in outputs:
                chain.append(consumers[name][0])
                name = chain[-1].output[0]
            chains.append((chain, name))
        if not all([n.op_type for n in chain] in (['Sigmoid', 'Reshape', 'Transpose'], ['Reshape', 'Transpose'])
                   and _attributes(chain[-1]).get('perm') == [0, 2, 1] and name in outputs
                   and list(constants.get(chain[-2].input[1], [])) == [0, int(size), -1]
                   for (chain, name), size in zip(chains, sizes)):
            continue
        index = list(graph.node).index(split)
        stem = split.name or split.output[0]
        total = numpy_helper.from_array(np.array([0, -1, int(sizes.sum())], np.int64), stem + '_cells_channels')
        graph.initializer.append(total)
        new = [helper.make_node('Transpose', [split.input[0]], [stem + '_nhwc'], stem + '_nhwc', perm=[0, 2, 3, 1]),
               helper.make_node('Reshape', [stem + '_nhwc', total.name], [stem + '_rows'], stem + '_rows'),
               helper.make_node('Split', [stem + '_rows', split.input[1]],
                                [name if chain[0].op_type != 'Sigmoid' else name + '_logits'
                                 for chain, name in chains], stem + '_last', axis=2)]
        new += [helper.make_node('Sigmoid', [name + '_logits'], [name], name + '_sigmoid')
                for chain, name in chains if chain[0].op_type == 'Sigmoid']
        for chain, _ in chains:
            for node in chain:
                graph.node.remove(node)
        graph.node.remove(split)
        for offset, node in enumerate(new):
            graph.node.insert(index + offset, node)


def calibration_inputs() -> list[np.ndarray]:
    """The int8 calibration inputs: CALIBRATION_FRAMES of data/vtest.avi, pre-processed as NanoDetDetector does."""
    import cv2
    if not VTEST.is_file():
        raise PerceptionError(f"nanodet: int8 calibration needs '{VTEST}': run 'tools/setup.sh data', or set "
                              'detector.nanodet.precision: fp32')
    cap, resize, inputs, index = cv2.VideoCapture(str(VTEST)), InputResizer(416), [], 0
    try:
        while len(inputs) < len(CALIBRATION_FRAMES) and cap.grab():       # retrieve converts the kept frames only
            if index in CALIBRATION_FRAMES:
                inputs.append(normalise(resize(cap.retrieve()[1])[0]))
            index += 1
    finally:
        cap.release()
    if len(inputs) < len(CALIBRATION_FRAMES):
        raise PerceptionError(f"nanodet: '{VTEST}' has {index} frames, int8 calibration needs frame "
                              f'{CALIBRATION_FRAMES[-1]}: fetch it again with tools/setup.sh data')
    return inputs


def quantise_int8(model_path: str, out: str) -> None:
    """ONNX Runtime's static QDQ quantisation of the model's plain float32 export, calibrated on
    calibration_inputs()."""
    try:
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
    except ImportError as e:
        raise PerceptionError(f'nanodet: int8 needs onnxruntime with its quantisation tools and onnx ({e}): '
                              'pip install onnx onnxruntime, or set detector.nanodet.precision: fp32') from None

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{INPUT: x} for x in calibration_inputs()])

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        # quantised: the graph after ONNX Runtime's basic optimisations (constants folded, the exporter's
        # transposes and pads merged), its convolutions, concatenations, resizes and max-pool; the activations
        # and the head's outputs stay float. (Quantising every op type also quantises constant pad values of
        # zero range, which gives infinite scales and garbage scores.)
        plain, prepared = os.path.join(tmp, 'plain.onnx'), os.path.join(tmp, 'basic.onnx')
        export_fp32(model_path, plain, streamlined=False)
        basic_optimised(plain, prepared)
        logging.disable(logging.WARNING)          # the quantiser's advice to pre-process, on the root logger
        try:
            quantize_static(prepared, out, Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=QUANTISED_OPS, calibrate_method=CalibrationMethod.MinMax)
        finally:
            logging.disable(logging.NOTSET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description='Make (once) and print the ONNX file of the NanoDet model.')
    parser.add_argument('model', nargs='?', default='', help='nanodet.json (default: the fetched one)')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    try:
        print(onnx_path(existing_model_path(args.model), args.precision))
    except PerceptionError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
