"""A TensorFlow.js graph model (model.json + weight shards) loaded and run on torch, without TensorFlow or Node.

A graph model is a TensorFlow GraphDef written as JSON (`modelTopology.node`: name, op, inputs, attrs) plus a
`weightsManifest` that lists every constant with its shape and dtype, stored back to back in the `.bin` shards
(float32, int32, or float32 quantized to float16 / uint8 / uint16). This module reads both, folds everything that
depends only on constants once at load time (shape arithmetic such as SparseToDense -> AddV2 -> Reshape), and
evaluates the rest in topological order with torch ops that follow TensorFlow's semantics (NHWC convolutions,
explicit pads, half-pixel bilinear resizes). It implements the ops and attributes of NanoDet's graph (and SAME
padding); a graph with another op is refused at load time with the file and the op names, another data format or
padding mode when the node runs.

    model = GraphModel.load('models/nanodet.json', device='cpu')
    outputs = model.run({'input_1': torch.zeros(1, 3, 416, 416)})   # {output name: tensor}
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from vad_ros.perception.base import PerceptionError

# Bytes per stored element, by weightsManifest dtype (or quantization dtype).
STORED_DTYPES = {'float32': np.float32, 'int32': np.int32, 'float16': np.float16, 'uint8': np.uint8,
                 'uint16': np.uint16, 'bool': np.bool_}


@dataclass
class Node:
    """One graph node: its op, the (node, output index) pairs it reads, and its decoded attributes."""

    name: str
    op: str
    inputs: list[tuple[str, int]]
    attrs: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)   # per-node memo of ops (e.g. a conv's torch weight)
    channels_last: bool = False     # convolutions in channels-last memory (GraphModel.to)


# ---------------------------------------------------------------------------------------------------- files

def read_model_json(path: str) -> dict:
    """The parsed model.json of a TF.js graph model; PerceptionError naming the file otherwise."""
    try:
        with open(path, encoding='utf-8') as f:
            model = json.load(f)
    except FileNotFoundError:
        raise PerceptionError(f"TF.js graph model '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PerceptionError(f"TF.js graph model '{path}' cannot be read: {e}") from None
    if not isinstance(model, dict) or 'modelTopology' not in model or 'weightsManifest' not in model:
        raise PerceptionError(f"'{path}' is not a TF.js graph model (no modelTopology / weightsManifest)")
    if model.get('format', 'graph-model') != 'graph-model':
        raise PerceptionError(f"'{path}' is a TF.js '{model.get('format')}', not a graph-model")
    return model


def read_weights(json_path: str, manifest: list[dict]) -> dict[str, np.ndarray]:
    """Every constant of the weightsManifest, decoded to float32 / int32 / bool numpy arrays, by name."""
    weights: dict[str, np.ndarray] = {}
    folder = os.path.dirname(os.path.abspath(json_path))
    for group in manifest:
        try:
            buffer = b''.join(Path(folder, p).read_bytes() for p in group['paths'])
        except OSError as e:
            raise PerceptionError(f"weights of '{json_path}' cannot be read: {e}") from None
        offset = 0
        for spec in group['weights']:
            array, offset = _decode_weight(spec, buffer, offset, json_path)
            weights[spec['name']] = array
        if offset != len(buffer):
            raise PerceptionError(f"'{json_path}': weight shards {group['paths']} hold {len(buffer)} bytes but the "
                                  f'manifest describes {offset}: the .bin does not belong to this model.json')
    return weights


def _decode_weight(spec: dict, buffer: bytes, offset: int, json_path: str) -> tuple[np.ndarray, int]:
    """One manifest entry from `buffer` at `offset` -> (array, offset after it)."""
    shape = [int(s) for s in spec['shape']]
    quant = spec.get('quantization')
    stored = (quant or {}).get('dtype', spec['dtype'])
    if stored not in STORED_DTYPES or spec['dtype'] not in ('float32', 'int32', 'bool'):
        raise PerceptionError(f"'{json_path}': weight '{spec['name']}' has dtype {spec['dtype']} stored as "
                              f'{stored}, which this loader does not read')
    count = int(np.prod(shape)) if shape else 1
    nbytes = count * np.dtype(STORED_DTYPES[stored]).itemsize
    if offset + nbytes > len(buffer):
        raise PerceptionError(f"'{json_path}': weight '{spec['name']}' lies past the end of the weight file "
                              f'({offset + nbytes} > {len(buffer)} bytes): truncated download?')
    raw = np.frombuffer(buffer, STORED_DTYPES[stored], count, offset)
    if stored in ('uint8', 'uint16'):           # affine quantization: value = q * scale + min
        raw = raw.astype(np.float32) * np.float32(quant['scale']) + np.float32(quant['min'])
    array = raw.astype(STORED_DTYPES[spec['dtype']]).reshape(shape)
    return array, offset + nbytes


# ---------------------------------------------------------------------------------------------------- graph

def parse_nodes(topology: dict) -> list[Node]:
    """modelTopology.node -> Nodes (control inputs '^x' dropped, 'x:1' -> ('x', 1), attrs decoded)."""
    nodes = []
    for raw in topology.get('node', []):
        inputs = [_input_ref(i) for i in raw.get('input', []) if not i.startswith('^')]
        attrs = {k: _attr_value(v) for k, v in raw.get('attr', {}).items()}
        nodes.append(Node(raw['name'], raw['op'], inputs, attrs))
    return nodes


def _input_ref(text: str) -> tuple[str, int]:
    name, sep, index = text.rpartition(':')
    if sep and index.isdigit():
        return name, int(index)
    return text, 0


def _attr_value(value: dict) -> Any:
    """A TF AttrValue in JSON form -> a Python value: the kinds the ops read (strings, base64 in the JSON;
    numbers, booleans, shapes, integer lists); None for the others, [] for lists of other kinds."""
    if 's' in value:
        return base64.b64decode(value['s']).decode('utf-8', 'replace')
    if 'shape' in value:
        return [int(d.get('size', -1)) for d in value['shape'].get('dim', [])]
    if 'list' in value:
        return [int(i) for i in value['list'].get('i', [])]
    for kind, convert in (('i', int), ('f', float), ('b', bool)):
        if kind in value:
            return convert(value[kind])
    return None


def _ints(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


def _scalar(t: torch.Tensor) -> float:
    return t.reshape(-1)[0].item()


# ---------------------------------------------------------------------------------------------------- ops
# Each op takes (node, input tensors) and returns one tensor or a tuple of them (outputs 0, 1, ...).

def _nchw_padded(node: Node, x: torch.Tensor, window: list[int], strides: list[int], dilations: list[int],
                 value: float = 0.0) -> torch.Tensor:
    """The NHWC input of a convolution or pool (the TF.js converter writes NHWC ones) as NCHW, padded with `value`
    for the node's padding mode (VALID or SAME)."""
    if node.attrs.get('data_format', 'NHWC') != 'NHWC':
        raise ValueError(f"data_format {node.attrs['data_format']}")
    x = x.permute(0, 3, 1, 2)
    mode = node.attrs.get('padding', 'VALID')
    if mode == 'VALID':
        return x
    if mode == 'SAME':                      # TensorFlow puts the odd pixel at the bottom / right
        amounts = []
        for size, k, s, d in zip(x.shape[2:], window, strides, dilations):
            extent = (k - 1) * d + 1
            total = max((-(-size // s) - 1) * s + extent - size, 0)
            amounts.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = amounts
        pad = [left, right, top, bottom]
        return F.pad(x, pad, value=value) if any(pad) else x
    raise ValueError(f'padding {mode}')


def op_conv2d(node: Node, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    layout = torch.channels_last if node.channels_last else torch.contiguous_format
    if node.cache.get('source') is not w:          # HWIO -> OIHW once per weight tensor
        node.cache['source'], node.cache['weight'] = w, w.permute(3, 2, 0, 1).contiguous(memory_format=layout)
    weight = node.cache['weight']
    strides, dilations = node.attrs.get('strides', [1] * 4)[1:3], node.attrs.get('dilations', [1] * 4)[1:3]
    x = _nchw_padded(node, x, list(weight.shape[2:]), strides, dilations)
    if node.channels_last:
        x = x.contiguous(memory_format=layout)
    groups = x.shape[1] // weight.shape[1]         # TF: filter in-channels < input channels = grouped conv
    return F.conv2d(x, weight, None, strides, 0, dilations, groups).permute(0, 2, 3, 1)


def op_maxpool(node: Node, x: torch.Tensor) -> torch.Tensor:
    window, strides = node.attrs['ksize'][1:3], node.attrs['strides'][1:3]
    x = _nchw_padded(node, x, window, strides, [1, 1], float('-inf'))
    return F.max_pool2d(x, window, strides).permute(0, 2, 3, 1)


def op_pad(node: Node, x: torch.Tensor, paddings: torch.Tensor, value: torch.Tensor | None = None) -> torch.Tensor:
    pairs = np.asarray(_ints(paddings)).reshape(-1, 2)
    amounts = [int(v) for pair in pairs[::-1] for v in pair]       # F.pad: last dimension first
    return F.pad(x, amounts, value=0.0 if value is None else float(_scalar(value)))


def op_resize_bilinear(node: Node, x: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    align, half = node.attrs.get('align_corners', False), node.attrs.get('half_pixel_centers', False)
    if not align and not half:
        raise ValueError('ResizeBilinear with align_corners=false and half_pixel_centers=false (legacy TF 1 '
                         'sampling)')
    y = F.interpolate(x.permute(0, 3, 1, 2), size=_ints(size), mode='bilinear', align_corners=align)
    return y.permute(0, 2, 3, 1)


def op_splitv(node: Node, x: torch.Tensor, sizes: torch.Tensor, axis: torch.Tensor) -> tuple[torch.Tensor, ...]:
    dim, parts = int(_scalar(axis)), _ints(sizes)
    if -1 in parts:
        parts[parts.index(-1)] = x.shape[dim] - (sum(parts) + 1)
    return torch.split(x, parts, dim)


def op_sparse_to_dense(node: Node, indices: torch.Tensor, shape: torch.Tensor, values: torch.Tensor,
                       default: torch.Tensor) -> torch.Tensor:
    dense = torch.full(_ints(shape), default.item(), dtype=values.dtype)
    if indices.numel():
        index = indices.long().reshape(indices.shape[0], -1)
        dense[tuple(index.T)] = values.expand(index.shape[0]) if values.dim() == 0 else values
    return dense


def op_reshape(node: Node, x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """A target shape's leading 1 is the batch of a graph saved for one image: it takes x's leading size, so
    (B, C, H, W) -> [1, C, -1] gives (B, C, H*W), not (1, C, B*H*W) (TF.js detectors are saved with batch 1)."""
    target = _ints(shape)
    if target and target[0] == 1 and x.dim() > 1:
        target[0] = x.shape[0]
    return x.reshape(target)


OPS: dict[str, Callable[..., Any]] = {
    'Identity': lambda node, x: x,
    'Add': lambda node, a, b: a + b,
    'AddV2': lambda node, a, b: a + b,
    'LeakyRelu': lambda node, x: F.leaky_relu(x, node.attrs.get('alpha', 0.2)),
    'Sigmoid': lambda node, x: torch.sigmoid(x),
    'Conv2D': op_conv2d,
    'MaxPool': op_maxpool,
    'Pad': op_pad,
    'PadV2': op_pad,
    'ResizeBilinear': op_resize_bilinear,
    'SplitV': op_splitv,
    'ConcatV2': lambda node, *args: torch.cat(args[:-1], int(_scalar(args[-1]))),     # the axis comes last
    'SparseToDense': op_sparse_to_dense,
    'Transpose': lambda node, x, perm: x.permute(_ints(perm)),
    'Reshape': op_reshape,
}


# ---------------------------------------------------------------------------------------------------- model

class GraphModel:
    """A loaded TF.js graph model; `run` evaluates the requested outputs for the given inputs."""

    def __init__(self, path: str, nodes: list[Node], constants: dict[str, tuple[torch.Tensor, ...]],
                 inputs: dict[str, list[int]], outputs: list[str], device: str = 'cpu'):
        self.path = path
        self.input_shapes = inputs                  # placeholder name -> shape (-1 = any)
        self.output_names = outputs                 # node names (signature order, ':0' dropped)
        self._constants = constants                 # folded values of every constant node
        self._plan = nodes                          # the computed nodes the outputs need, in order
        self.to(device)                             # sets self.device and self.channels_last

    @classmethod
    def load(cls, json_path: str, device: str = 'cpu') -> 'GraphModel':
        model = read_model_json(json_path)
        nodes = parse_nodes(model['modelTopology'])
        unsupported = sorted({n.op for n in nodes} - set(OPS) - {'Const', 'Placeholder'})
        if unsupported:
            raise PerceptionError(f"'{json_path}' uses TF ops this executor does not implement: "
                                  f"{', '.join(unsupported)} (implemented: {', '.join(sorted(OPS))})")
        weights = read_weights(json_path, model['weightsManifest'])
        inputs, outputs = _signature(model, nodes)
        plan = _execution_order(nodes, outputs, json_path)
        constants = _fold_constants(plan, weights, json_path)
        computed = [n for n in plan if n.name not in constants and n.op != 'Placeholder']
        return cls(json_path, computed, constants, inputs, outputs, device)

    def to(self, device: str, channels_last: bool | None = None) -> 'GraphModel':
        """Float constants to `device`; integer constants (shapes, axes) stay on the CPU. channels_last: run
        the convolutions on channels-last (NHWC) memory; None = on the CPU, where PyTorch's convolutions are
        faster that way (bench/RESULTS.md, "NanoDet vs HOG"; GPUs keep the default layout, not measured here).
        Torch ops mean the same whatever the memory layout, so the outputs differ by float rounding only
        (tested)."""
        self._constants = {k: tuple(t.to(device) if t.is_floating_point() else t for t in v)
                           for k, v in self._constants.items()}
        self.channels_last = device == 'cpu' if channels_last is None else channels_last
        for node in self._plan:
            node.cache.clear()
            node.channels_last = self.channels_last
        self.device = device
        return self

    @torch.inference_mode()
    def run(self, feeds: dict[str, torch.Tensor], outputs: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Outputs by name for `feeds` (placeholder name -> tensor, on this model's device); `outputs` may name
        any node the signature's outputs depend on ('node' or 'node:1'), default: the signature's outputs."""
        missing = set(self.input_shapes) - set(feeds)
        if missing:
            raise PerceptionError(f"'{self.path}': inputs {sorted(missing)} were not given")
        values = {**self._constants, **{name: (tensor,) for name, tensor in feeds.items()}}
        for node in self._plan:
            evaluate(node, values, self.path)
        wanted = outputs or self.output_names
        unknown = [n for n in wanted if _input_ref(n)[0] not in values]
        if unknown:
            raise PerceptionError(f"'{self.path}': no node {unknown} on the way to the model's outputs")
        return {name: values[_input_ref(name)[0]][_input_ref(name)[1]] for name in wanted}


def _signature(model: dict, nodes: list[Node]) -> tuple[dict[str, list[int]], list[str]]:
    """Input shapes and output node names from the model's signature (else: placeholders / sink nodes)."""
    signature = model.get('signature') or {}
    inputs = {}
    for node in [n for n in nodes if n.op == 'Placeholder']:
        spec = (signature.get('inputs') or {}).get(f'{node.name}:0')
        inputs[node.name] = ([int(d.get('size', -1)) for d in spec.get('tensorShape', {}).get('dim', [])] if spec
                             else list(node.attrs.get('shape') or []))
    outputs = [_input_ref(k)[0] for k in (signature.get('outputs') or {})]
    if not outputs:
        consumed = {src for n in nodes for src, _ in n.inputs}
        outputs = [n.name for n in nodes if n.name not in consumed and n.op not in ('Const', 'Placeholder')]
    return inputs, outputs


def _execution_order(nodes: list[Node], outputs: list[str], json_path: str) -> list[Node]:
    """The nodes the outputs depend on, each after its inputs (depth-first, no recursion)."""
    by_name = {n.name: n for n in nodes}
    order: list[Node] = []
    state: dict[str, int] = {}                      # 1 = on the stack, 2 = placed
    for out in outputs:
        stack = [(out, False)]
        while stack:
            name, inputs_done = stack.pop()
            if name not in by_name:
                raise PerceptionError(f"'{json_path}': node '{name}' is used but not defined")
            if inputs_done:
                state[name] = 2
                order.append(by_name[name])
                continue
            if state.get(name) == 2:
                continue
            if state.get(name) == 1:
                raise PerceptionError(f"'{json_path}': the graph has a cycle through '{name}'")
            state[name] = 1
            stack.append((name, True))
            stack.extend((src, False) for src, _ in reversed(by_name[name].inputs) if state.get(src) != 2)
    return order


def _fold_constants(plan: list[Node], weights: dict[str, np.ndarray],
                    json_path: str) -> dict[str, tuple[torch.Tensor, ...]]:
    """Values of Const nodes and of every node computed from constants only (on the CPU, once)."""
    values: dict[str, tuple[torch.Tensor, ...]] = {}
    for node in plan:
        if node.op == 'Const':
            if node.name not in weights:
                raise PerceptionError(f"'{json_path}': constant '{node.name}' is not in the weights manifest")
            values[node.name] = (torch.from_numpy(np.array(weights[node.name])),)
        elif node.op != 'Placeholder' and node.inputs and all(src in values for src, _ in node.inputs):
            evaluate(node, values, json_path)
    return values


def evaluate(node: Node, values: dict[str, tuple[torch.Tensor, ...]], json_path: str) -> None:
    """values[node.name] = the node's outputs (a tuple) on its inputs' values, with errors that name the model
    file and the node."""
    try:
        out = OPS[node.op](node, *[values[src][index] for src, index in node.inputs])
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        raise PerceptionError(f"'{json_path}': node '{node.name}' ({node.op}) failed: {e}") from None
    values[node.name] = out if isinstance(out, tuple) else (out,)
