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
