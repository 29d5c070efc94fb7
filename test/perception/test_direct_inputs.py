"""Direct pre-processing (vad_ros/perception/direct_inputs.py) without the toolboxes: the GPU way (the resized
uint8 frame normalised and padded by torch on the device) gives the numpy way's input bit for bit, here with
torch on the CPU (the same operations). The check against the toolboxes' own pipelines: test_perception_mm.py."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip('torch', reason='the PyTorch backends need torch (tools/setup.sh models)')

from vad_ros.perception.direct_inputs import DirectInputs, frame_metainfo  # noqa: E402
from vad_ros.perception.network_io import Preprocess  # noqa: E402

# the two shipped test configs (RTMDet-tiny: Resize 640 keep ratio, Pad to 640x640 with 114; SegFormer-B0:
# Resize (2048, 512) keep ratio, RGB) and one with the data preprocessor's padding to a size divisor
RTMDET = Preprocess(scale=(640, 640), keep_ratio=True, pad_size=(640, 640), pad_value=114.0,
                    mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395))
SEGFORMER = Preprocess(scale=(2048, 512), keep_ratio=True, mean=(123.675, 116.28, 103.53),
                       std=(58.395, 57.12, 57.375), bgr_to_rgb=True)
DIVISOR = Preprocess(scale=(600, 400), keep_ratio=True, mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0),
                     size_divisor=32, size_divisor_value=-7.0)


@pytest.mark.parametrize('preprocess', [RTMDET, SEGFORMER, DIVISOR], ids=['rtmdet', 'segformer', 'divisor'])
@pytest.mark.parametrize('size', [(768, 576), (1920, 1080), (500, 700)])
def test_the_gpu_way_gives_the_numpy_input_bit_for_bit(vtest_frames, preprocess, size):
    frames = [cv2.resize(f, size) for f in vtest_frames[:2]]
    host, device = DirectInputs(preprocess, 'cpu'), DirectInputs(preprocess, 'cpu', normalise_on_device=True)
    assert not host.normalise_on_device and device.normalise_on_device       # default: on GPUs only
    expected, metas = host(frames)
    got, got_metas = device(frames)
    assert got.shape == expected.shape == (2, 3, *preprocess.input_shape(*size)[::-1])
    assert got.dtype == torch.float32 and torch.equal(got, expected)
    assert got_metas == metas == [frame_metainfo(preprocess, *size)] * 2
    assert torch.equal(expected[0], torch.from_numpy(preprocess(frames[0])[0]))      # = the ONNX path's input


def test_pads_are_the_pipelines_and_the_preprocessors():
    frame = np.full((300, 500, 3), 200, np.uint8)               # 600x360 after the resize, input 608x384
    batch, _ = DirectInputs(DIVISOR, 'cpu', normalise_on_device=True)([frame])
    assert batch.shape == (1, 3, 384, 608)
    assert torch.equal(batch[0, :, 359, 599], torch.tensor([(200 - 1) / 4, (200 - 2) / 5, (200 - 3) / 6]))
    assert (batch[0, :, 360:, :] == -7.0).all() and (batch[0, :, :, 600:] == -7.0).all()
    batch, _ = DirectInputs(RTMDET, 'cpu', normalise_on_device=True)([np.zeros((480, 640, 3), np.uint8)[:240]])
    assert torch.allclose(batch[0, :, 600, 10], (114 - torch.tensor(RTMDET.mean)) / torch.tensor(RTMDET.std))
