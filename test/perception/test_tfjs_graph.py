"""The TF.js graph executor (vad_ros.perception.nanodet.tfjs_graph) against numpy: small graphs written here as
model.json + weight shards, evaluated once by the executor (torch) and once by the numpy reference below,
which follows TensorFlow's definitions of each op (NHWC, SAME padding, half-pixel bilinear sampling)."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

from vad_ros.perception.base import PerceptionError
from vad_ros.perception.nanodet.tfjs_graph import GraphModel, read_weights

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------------------------------- numpy reference

def np_conv2d_nhwc(x, w, stride, pads):
    """TF Conv2D, NHWC input, HWIO filter; pads = ((top, bottom), (left, right))."""
    x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw = w.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum('nhwcij,ijco->nhwo', windows, w)


def np_same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def np_maxpool_same(x, k, s):
    pads = (np_same_pads(x.shape[1], k, s), np_same_pads(x.shape[2], k, s))
    x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]
    return windows.max(axis=(-2, -1))


def np_resize_bilinear_half_pixel(x, out_h, out_w):
    """TF ResizeBilinear(half_pixel_centers=True): source = (dst + 0.5) * scale - 0.5, clamped at the borders."""
    def axis(out_size, in_size):
        src = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
        low = np.floor(src)
        frac = src - low
        lo = np.clip(low, 0, in_size - 1).astype(int)
        hi = np.clip(low + 1, 0, in_size - 1).astype(int)
        return lo, hi, frac
    ylo, yhi, fy = axis(out_h, x.shape[1])
    xlo, xhi, fx = axis(out_w, x.shape[2])
    top = x[:, ylo][:, :, xlo] * (1 - fx)[None, None, :, None] + x[:, ylo][:, :, xhi] * fx[None, None, :, None]
    bottom = x[:, yhi][:, :, xlo] * (1 - fx)[None, None, :, None] + x[:, yhi][:, :, xhi] * fx[None, None, :, None]
    return top * (1 - fy)[None, :, None, None] + bottom * fy[None, :, None, None]


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_leaky(x, alpha):
    return np.where(x > 0, x, alpha * x)


# ------------------------------------------------------------------------------------------- graph writer

def s_attr(text):
    return {'s': base64.b64encode(text.encode()).decode()}


class GraphWriter:
    """Builds a model.json + .bin pair the way the TF.js converter lays them out."""

    def __init__(self):
        self.nodes, self.specs, self.chunks = [], [], []

    def const(self, name, value, store=None):
        value = np.asarray(value)
        dtype = 'int32' if value.dtype.kind in 'iu' else 'float32'
        spec = {'name': name, 'shape': list(value.shape), 'dtype': dtype}
        if store == 'float16':
            spec['quantization'] = {'dtype': 'float16', 'original_dtype': 'float32'}
            self.chunks.append(value.astype(np.float16).tobytes())
        elif store == 'uint8':
            lo, hi = float(value.min()), float(value.max())
            scale = (hi - lo) / 255
            spec['quantization'] = {'dtype': 'uint8', 'min': lo, 'scale': scale, 'original_dtype': 'float32'}
            self.chunks.append(np.round((value - lo) / scale).astype(np.uint8).tobytes())
        else:
            self.chunks.append(value.astype(np.int32 if dtype == 'int32' else np.float32).tobytes())
        self.specs.append(spec)
        self.nodes.append({'name': name, 'op': 'Const', 'attr': {}})
        return name

    def op(self, name, op, inputs, **attr):
        self.nodes.append({'name': name, 'op': op, 'input': list(inputs), 'attr': attr})
        return name

    def write(self, folder, inputs, outputs, bin_name='model.bin'):
        model = {
            'format': 'graph-model', 'generatedBy': 'test', 'convertedBy': 'test',
            'signature': {'inputs': {f'{n}:0': {'name': f'{n}:0', 'tensorShape': {'dim': [{'size': str(d)} for d in s]}}
                                     for n, s in inputs.items()},
                          'outputs': {f'{n}:0': {'name': f'{n}:0'} for n in outputs}},
            'modelTopology': {'node': self.nodes},
            'weightsManifest': [{'paths': [bin_name], 'weights': self.specs}]}
        path = folder / 'model.json'
        path.write_text(json.dumps(model))
        (folder / bin_name).write_bytes(b''.join(self.chunks))
        return str(path)


def placeholder(writer, name, shape):
    writer.nodes.append({'name': name, 'op': 'Placeholder',
                         'attr': {'shape': {'shape': {'dim': [{'size': str(d)} for d in shape]}}}})


# ------------------------------------------------------------------------------------------- tests

def build_block(tmp_path):
    """x (1,9,11,3) NHWC -> Pad -> Conv2D(3x3, stride 2, VALID, float16 weights) -> Add bias -> LeakyRelu
    -> MaxPool(3x3, stride 2, SAME) -> ResizeBilinear(half-pixel, 2x) -> ConcatV2(with a 1x1 conv of itself)
    -> SplitV([5, -1], axis 3) -> Sigmoid(part 0), Reshape(part 1, shape from SparseToDense + AddV2)
    -> Transpose -> Identity outputs."""
    g = GraphWriter()
    placeholder(g, 'x', [1, 9, 11, 3])
    w1 = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    b1 = RNG.normal(size=4).astype(np.float32)
    w2 = RNG.normal(size=(1, 1, 4, 4)).astype(np.float32)
    g.const('pads', np.array([[0, 0], [1, 1], [2, 0], [0, 0]]))
    g.const('w1', w1, store='float16')
    g.const('b1', b1)
    g.const('w2', w2, store='uint8')
    g.const('size', np.array([6, 6]))
    g.const('splits', np.array([5, -1]))
    g.const('axis3', np.array(3))
    g.const('sp_idx', np.zeros((0, 1), np.int32))
    g.const('sp_shape', np.array([3]))
    g.const('sp_val', np.zeros((0,), np.int32))
    g.const('sp_default', np.array(0))
    g.const('shape_base', np.array([1, -1, 3]))
    g.const('perm', np.array([0, 2, 1]))
    nhwc, valid, same = s_attr('NHWC'), s_attr('VALID'), s_attr('SAME')
    g.op('pad', 'Pad', ['x', 'pads'])
    g.op('conv', 'Conv2D', ['pad', 'w1'], strides={'list': {'i': ['1', '2', '2', '1']}}, padding=valid,
         data_format=nhwc, dilations={'list': {'i': ['1', '1', '1', '1']}})
    g.op('bias', 'Add', ['conv', 'b1'])
    g.op('act', 'LeakyRelu', ['bias'], alpha={'f': 0.1})
    g.op('pool', 'MaxPool', ['act'], ksize={'list': {'i': ['1', '3', '3', '1']}},
         strides={'list': {'i': ['1', '2', '2', '1']}}, padding=same, data_format=nhwc)
    g.op('up', 'ResizeBilinear', ['pool', 'size'], align_corners={'b': False}, half_pixel_centers={'b': True})
    g.op('side', 'Conv2D', ['up', 'w2'], strides={'list': {'i': ['1', '1', '1', '1']}}, padding=valid,
         data_format=nhwc)
    g.op('cat', 'ConcatV2', ['up', 'side', 'axis3'], N={'i': '2'})
    g.op('split', 'SplitV', ['cat', 'splits', 'axis3'], num_split={'i': '2'})
    g.op('sig', 'Sigmoid', ['split'])
    g.op('std', 'SparseToDense', ['sp_idx', 'sp_shape', 'sp_val', 'sp_default'])
    g.op('shape', 'AddV2', ['shape_base', 'std'])
    g.op('flat', 'Reshape', ['split:1', 'shape'])
    g.op('tr', 'Transpose', ['flat', 'perm'])
    g.op('out_scores', 'Identity', ['sig'])
    g.op('out_boxes', 'Identity', ['tr'])
    path = g.write(tmp_path, {'x': [1, 9, 11, 3]}, ['out_scores', 'out_boxes'])
    return path, (w1, b1, w2)


def reference_block(x, w1, b1, w2):
    w1 = w1.astype(np.float16).astype(np.float32)          # what float16 storage keeps
    lo, scale = float(w2.min()), (float(w2.max()) - float(w2.min())) / 255
    w2 = np.round((w2 - lo) / scale) * scale + lo           # what uint8 storage keeps
    y = np.pad(x, ((0, 0), (1, 1), (2, 0), (0, 0)))
    y = np_leaky(np_conv2d_nhwc(y, w1, 2, ((0, 0), (0, 0))) + b1, 0.1)
    y = np_maxpool_same(y, 3, 2)
    up = np_resize_bilinear_half_pixel(y, 6, 6)
    cat = np.concatenate([up, np_conv2d_nhwc(up, w2, 1, ((0, 0), (0, 0)))], axis=3)
    scores = np_sigmoid(cat[..., :5])
    boxes = cat[..., 5:].reshape(1, -1, 3).transpose(0, 2, 1)
    return scores, boxes


def test_executor_matches_numpy_reference(tmp_path):
    path, (w1, b1, w2) = build_block(tmp_path)
    model = GraphModel.load(path)
    x = RNG.normal(size=(1, 9, 11, 3)).astype(np.float32)
    out = model.run({'x': torch.from_numpy(x)})
    scores, boxes = reference_block(x.astype(np.float64), w1, b1, w2)
    assert list(out) == ['out_scores', 'out_boxes']
    assert out['out_scores'].shape == (1, 6, 6, 5) and out['out_boxes'].shape == (1, 3, 36)
    np.testing.assert_allclose(out['out_scores'].numpy(), scores, atol=1e-4)
    np.testing.assert_allclose(out['out_boxes'].numpy(), boxes, atol=1e-4)


def test_a_batch_runs_through_a_graph_saved_for_one_image(tmp_path):
    """Reshape to [1, -1, 3]: the leading 1 is the batch, so each image of a batch of 3 gets its own result."""
    path, (w1, b1, w2) = build_block(tmp_path)
    model = GraphModel.load(path)
    x = RNG.normal(size=(3, 9, 11, 3)).astype(np.float32)
    out = model.run({'x': torch.from_numpy(x)})
    assert out['out_scores'].shape == (3, 6, 6, 5) and out['out_boxes'].shape == (3, 3, 36)
    for i in range(3):
        scores, boxes = reference_block(x[i:i + 1].astype(np.float64), w1, b1, w2)
        np.testing.assert_allclose(out['out_scores'][i:i + 1].numpy(), scores, atol=1e-4)
        np.testing.assert_allclose(out['out_boxes'][i:i + 1].numpy(), boxes, atol=1e-4)


def test_constant_subgraphs_are_folded_at_load(tmp_path):
    path, _ = build_block(tmp_path)
    model = GraphModel.load(path)
    planned = {n.name for n in model._plan}
    assert {'std', 'shape'}.isdisjoint(planned)          # SparseToDense -> AddV2 computed once
    assert {'conv', 'flat'} <= planned
    out = model.run({'x': torch.zeros(1, 9, 11, 3)}, outputs=['shape', 'split:1'])
    assert out['shape'].tolist() == [1, -1, 3] and out['split:1'].shape == (1, 6, 6, 3)


def test_weights_decode_float16_and_uint8(tmp_path):
    g = GraphWriter()
    values = np.array([[0.1, -2.5], [3.75, 1e-3]], np.float32)
    g.const('h', values, store='float16')
    g.const('q', np.array([0.0, 0.5, 1.0], np.float32), store='uint8')
    g.const('i', np.array([-3, 7]))
    path = g.write(tmp_path, {}, [])
    weights = read_weights(path, json.loads(open(path).read())['weightsManifest'])
    np.testing.assert_array_equal(weights['h'], values.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(weights['q'], [0.0, 0.5, 1.0], atol=1 / 255)
    assert weights['i'].dtype == np.int32 and weights['i'].tolist() == [-3, 7]


def test_unsupported_op_names_file_and_op(tmp_path):
    g = GraphWriter()
    placeholder(g, 'x', [1, 4])
    g.op('y', 'Softplus', ['x'])
    path = g.write(tmp_path, {'x': [1, 4]}, ['y'])
    with pytest.raises(PerceptionError, match=r"model\.json' uses TF ops this executor does not implement: Softplus"):
        GraphModel.load(path)


def test_a_data_format_other_than_nhwc_names_the_node(tmp_path):
    g = GraphWriter()
    placeholder(g, 'x', [1, 3, 4, 4])
    g.const('w', RNG.normal(size=(1, 1, 3, 2)).astype(np.float32))
    g.op('conv', 'Conv2D', ['x', 'w'], strides={'list': {'i': ['1', '1', '1', '1']}}, padding=s_attr('VALID'),
         data_format=s_attr('NCHW'))
    path = g.write(tmp_path, {'x': [1, 3, 4, 4]}, ['conv'])
    with pytest.raises(PerceptionError, match=r"node 'conv' \(Conv2D\) failed: data_format NCHW"):
        GraphModel.load(path).run({'x': torch.zeros(1, 3, 4, 4)})


def test_truncated_weights_are_an_error(tmp_path):
    path, _ = build_block(tmp_path)
    data = (tmp_path / 'model.bin').read_bytes()
    (tmp_path / 'model.bin').write_bytes(data[:-10])
    with pytest.raises(PerceptionError, match='past the end of the weight file'):
        GraphModel.load(path)


def test_extra_weight_bytes_are_an_error(tmp_path):
    path, _ = build_block(tmp_path)
    with open(tmp_path / 'model.bin', 'ab') as f:
        f.write(b'\0' * 8)
    with pytest.raises(PerceptionError, match='does not belong to this model.json'):
        GraphModel.load(path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(PerceptionError, match="'.*nope.json' does not exist"):
        GraphModel.load(str(tmp_path / 'nope.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"format": "graph-model"}')
    with pytest.raises(PerceptionError, match='not a TF.js graph model'):
        GraphModel.load(str(bad))
    layers = tmp_path / 'layers.json'
    layers.write_text(json.dumps({'format': 'layers-model', 'modelTopology': {}, 'weightsManifest': []}))
    with pytest.raises(PerceptionError, match="layers-model', not a graph-model"):
        GraphModel.load(str(layers))


def test_missing_input_is_an_error(tmp_path):
    path, _ = build_block(tmp_path)
    with pytest.raises(PerceptionError, match=r"inputs \['x'\] were not given"):
        GraphModel.load(path).run({})
