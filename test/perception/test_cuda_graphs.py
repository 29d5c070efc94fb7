"""CUDA graph replay of the networks (vad_ros.perception.openmmlab.cuda_graphs). The replay tests need a GPU: they run on a
lent GPU machine (bench/gpu/run_on_device.sh runs this file there) and are skipped elsewhere; the output checks,
the parameters and the CPU behaviour are tested everywhere."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from vad_ros import params as vparams  # noqa: E402
from vad_ros.perception.openmmlab.cuda_graphs import CudaGraphs  # noqa: E402
from vad_ros.perception.openmmlab.variants import Variants, map_tensors, mismatch  # noqa: E402


def same_outputs(expected, got, tolerance=1e-3):
    return mismatch(expected, got, tolerance) is None

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU (run on a lent GPU machine)')


def test_outputs_compare_by_structure_shape_and_value():
    a = ([torch.ones(2, 3)], torch.zeros(4, dtype=torch.uint8), None)
    assert same_outputs(a, map_tensors(a, lambda t: t.clone()))
    assert same_outputs(a, ([torch.ones(2, 3) * (1 + 1e-4)], torch.zeros(4, dtype=torch.uint8), None))
    assert not same_outputs(a, ([torch.ones(2, 3) * 1.01], torch.zeros(4, dtype=torch.uint8), None))
    assert not same_outputs(a, ([torch.ones(3, 2)], torch.zeros(4, dtype=torch.uint8), None))
    assert not same_outputs(a, ([torch.ones(2, 3)], torch.ones(4, dtype=torch.uint8), None))   # labels differ
    assert not same_outputs(a, ([torch.ones(2, 3)],))
    assert mismatch(a, ([torch.ones(2, 3) * 1.01], torch.zeros(4, dtype=torch.uint8), None), 1e-3) == \
        'max difference 0.01 of the largest magnitude > 0.001'
    labels = torch.zeros(10000, dtype=torch.uint8)
    few = labels.clone()
    few[:5] = 1                                                    # 0.05 % of the pixels: float16 ties
    assert same_outputs(labels, few)


def test_graphs_are_on_by_default_and_only_apply_on_a_gpu():
    p = vparams.resolve({})
    assert p['detector.cuda_graph'] is True and p['segmenter.cuda_graph'] is True


class Net(torch.nn.Module):
    def __init__(self, sync: bool = False):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Conv2d(8, 4, 1)
        self.sync = sync

    def forward(self, x):
        y = self.conv(x).relu()
        if self.sync and float(y.mean()) > -1:          # a CPU read: cannot be captured
            y = y * 1.0
        return [self.head(y)], y.argmax(dim=1).to(torch.uint8)


@gpu
def test_replay_gives_the_eager_outputs_for_each_new_input():
    net = Net().cuda().eval()
    graphs = CudaGraphs(net, Variants('test', 'cuda:0', 'float32'))
    with torch.inference_mode():
        for seed in range(3):
            x = torch.randn(1, 3, 32, 48, generator=torch.Generator().manual_seed(seed)).cuda()
            got, expected = graphs(x), net(x)
            assert same_outputs(expected, got)
        assert graphs.enabled and len(graphs.graphs) == 1            # one shape, one graph
        graphs(torch.randn(2, 3, 32, 48).cuda())
        assert len(graphs.graphs) == 2                               # a batch of two: its own graph
        first = graphs(x)
        graphs(x * 2)
        assert same_outputs(net(x), first)                           # results are copies, not the graph's buffers


@gpu
def test_a_network_that_cannot_be_captured_runs_eagerly(caplog):
    net = Net(sync=True).cuda().eval()
    graphs = CudaGraphs(net, Variants('test', 'cuda:0', 'float32'))
    x = torch.randn(1, 3, 16, 16).cuda()
    with caplog.at_level('INFO', logger='vad_ros.perception'), torch.inference_mode():
        got = graphs(x)
        assert same_outputs(net(x), got)
    assert not graphs.enabled and graphs.variants.outcomes['cuda_graphs'].state == 'refused'
    assert graphs.variants.outcomes['cuda_graphs'].reason.startswith('error: ')


@gpu
def test_the_mm_backends_give_the_same_results_with_graphs(tmp_path, vtest_frames):
    """RTMDet-tiny + SegFormer-B0 (random weights, the shipped configs) on a real frame, eager vs graphs,
    float32 and float16."""
    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    from vad_ros.perception.factory import build_detector, build_segmenter
    (dc, dk), (sc, sk) = make_random_checkpoint('det', str(tmp_path)), make_random_checkpoint('seg', str(tmp_path))
    frame = cv2.resize(vtest_frames[1], (1280, 720))
    for half in (False, True):
        built = {}
        for graph in (False, True):
            p = vparams.resolve({'detector.backend': 'mmdet', 'detector.config': dc, 'detector.checkpoint': dk,
                                 'detector.device': 'cuda:0', 'detector.half': half, 'detector.cuda_graph': graph,
                                 'detector.keep_low_scores': True, 'segmenter.backend': 'mmseg',
                                 'segmenter.config': sc, 'segmenter.checkpoint': sk, 'segmenter.device': 'cuda:0',
                                 'segmenter.half': half, 'segmenter.cuda_graph': graph})
            detector, segmenter = build_detector(p), build_segmenter(p)
            built[graph] = [(detector.detect(frame), segmenter.segment(frame)) for _ in range(2)]
            if graph:
                assert detector._graphs.enabled and len(detector._graphs.graphs) == 1
                assert segmenter._graphs.enabled and len(segmenter._graphs.graphs) == 1
        (det_e, seg_e), (det_g, seg_g) = built[False][1], built[True][1]
        assert len(det_e) == len(det_g) > 0
        np.testing.assert_allclose(det_g.boxes, det_e.boxes, atol=0.5)
        np.testing.assert_allclose(det_g.scores, det_e.scores, atol=1e-3)
        assert (seg_g.labels == seg_e.labels).mean() > 0.999
