"""Device selection. torch.cuda's answers are replaced to play a machine with or without GPUs: this tests
our choice, not CUDA."""
import pytest
import torch

from vad_ros.perception.base import PerceptionError
from vad_ros.perception.device import select_device


def gpus(monkeypatch, n):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: n > 0)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: n)


def test_auto(monkeypatch):
    gpus(monkeypatch, 0)
    assert select_device('auto') == 'cpu'
    gpus(monkeypatch, 2)
    assert select_device('auto') == 'cuda:0' and select_device('cuda') == 'cuda:0'
    assert select_device('cuda:1') == 'cuda:1' and select_device('cpu') == 'cpu'


def test_missing_gpu_is_an_error_unless_fallback(monkeypatch, caplog):
    gpus(monkeypatch, 0)
    with pytest.raises(PerceptionError, match="'cuda' was asked for but no CUDA GPU.*allow_cpu_fallback"):
        select_device('cuda')
    assert select_device('cuda', allow_cpu_fallback=True) == 'cpu'
    assert 'running on cpu' in caplog.text
    gpus(monkeypatch, 1)
    with pytest.raises(PerceptionError, match="'cuda:3'.*only 1 GPU"):
        select_device('cuda:3')
    with pytest.raises(PerceptionError, match="'tpu' is not one of"):
        select_device('tpu')


@pytest.fixture
def torch_threads_restored():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_torch_threads_is_applied_where_a_torch_backend_is_built(torch_threads_restored, monkeypatch):
    from vad_ros import params as vparams
    from vad_ros.perception import factory
    from vad_ros.perception.device import apply_torch_threads
    from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter
    default = torch.get_num_threads()
    apply_torch_threads(0)                                   # 0: torch's own default stays
    assert torch.get_num_threads() == default
    factory.build_detector(vparams.resolve({'detector.backend': 'hog', 'torch_threads': 1}))
    assert torch.get_num_threads() == default                # HOG runs no torch: nothing to set
    # the model itself is not what is tested here: a stand-in from_params (no network is run or faked)
    monkeypatch.setattr(MMSegSegmenter, 'from_params', classmethod(lambda cls, params: 'segmenter'))
    assert factory.build_segmenter(vparams.resolve({'segmenter.backend': 'mmseg', 'torch_threads': 1})) == 'segmenter'
    assert torch.get_num_threads() == 1
    with pytest.raises(vparams.ParamError, match='torch_threads'):
        vparams.resolve({'torch_threads': -1})
