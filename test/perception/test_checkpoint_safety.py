"""Checkpoints are read with torch's weights-only unpickler: a crafted .pth that runs code when unpickled is
refused (its marker file never appears) unless <role>.trust_checkpoint_pickle opts in; OpenMMLab checkpoints,
including the numpy metadata a training run leaves, load."""
from __future__ import annotations

import pytest

torch = pytest.importorskip('torch', reason='checkpoints need torch (tools/setup.sh models)')

from vad_ros import params as vparams  # noqa: E402
from vad_ros.perception.openmmlab import toolbox as openmmlab  # noqa: E402
from vad_ros.perception.base import PerceptionError  # noqa: E402


class RunsCode:
    """Unpickling this runs Python: it writes the marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").write("code ran while unpickling")',)


def crafted_checkpoint(tmp_path, state_dict=None):
    marker = tmp_path / 'marker.txt'
    path = tmp_path / 'crafted.pth'
    torch.save({'state_dict': state_dict or {'w': torch.zeros(2)}, 'meta': {'note': RunsCode(str(marker))}}, path)
    return str(path), marker


def test_a_checkpoint_that_runs_code_is_refused_by_default_and_runs_only_when_trusted(tmp_path):
    path, marker = crafted_checkpoint(tmp_path)
    with pytest.raises(PerceptionError, match=r"detector.checkpoint '.*crafted.pth' holds Python objects.*"
                                              r"exec.*detector.trust_checkpoint_pickle: true"):
        openmmlab.read_checkpoint(path, 'detector')
    assert not marker.exists(), 'the crafted checkpoint ran code with the default settings'
    # The file really is dangerous: the explicit opt-in runs its code (so the check above means something).
    openmmlab.read_checkpoint(path, 'detector', trust_pickle=True)
    assert marker.read_text() == 'code ran while unpickling'


def test_training_metadata_with_numpy_values_loads_with_the_safe_reader(tmp_path):
    """What mmengine's Runner puts in 'meta' beside the weights: numpy scalars (a best score), arrays, dtypes."""
    import numpy as np
    from mmengine.runner.checkpoint import save_checkpoint
    path = str(tmp_path / 'runner.pth')
    meta = {'epoch': 3, 'iter': 300, 'cfg': 'model = dict()', 'seed': np.int64(0),
            'dataset_meta': {'classes': ('person', 'car'), 'palette': [(220, 20, 60), (0, 0, 142)]},
            'hook_msgs': {'best_score': np.float32(0.5), 'history': np.arange(3, dtype=np.float64)}}
    save_checkpoint({'state_dict': {'w': torch.ones(2)}, 'meta': meta}, path)
    ckpt = openmmlab.read_checkpoint(path, 'detector')
    assert ckpt['meta']['hook_msgs']['best_score'] == np.float32(0.5)
    assert ckpt['meta']['hook_msgs']['history'].tolist() == [0.0, 1.0, 2.0]
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_the_detector_and_segmenter_refuse_a_code_running_checkpoint_at_start_up(tmp_path):
    """Through the parameters, as the node builds its models: a PerceptionError (start-up fails with one line
    naming the file and the opt-in), no code run."""
    pytest.importorskip('mmdet', reason='needs onedl-mmdetection (tools/setup.sh models)')
    pytest.importorskip('mmseg', reason='needs onedl-mmsegmentation (tools/setup.sh models)')
    from vad_ros.perception.factory import build_detector, build_segmenter

    config = openmmlab._shipped_config('mmdet', 'rtmdet_tiny_8xb32-300e_coco')
    path, marker = crafted_checkpoint(tmp_path)
    params = vparams.resolve({'detector.backend': 'mmdet', 'detector.config': config,
                              'detector.checkpoint': path, 'detector.device': 'cpu'})
    with pytest.raises(PerceptionError, match='detector.trust_checkpoint_pickle'):
        build_detector(params)
    seg_config = openmmlab._shipped_config('mmseg', 'segformer_mit-b0_8xb2-160k_ade20k-512x512')
    params = vparams.resolve({'segmenter.backend': 'mmseg', 'segmenter.config': seg_config,
                              'segmenter.checkpoint': path, 'segmenter.device': 'cpu'})
    with pytest.raises(PerceptionError, match='segmenter.trust_checkpoint_pickle'):
        build_segmenter(params)
    assert not marker.exists()
    # With the opt-in, the checkpoint is unpickled (its code runs) and then fails for a plain reason: it holds
    # no weights of this model.
    params = vparams.resolve({'detector.backend': 'mmdet', 'detector.config': config, 'detector.checkpoint': path,
                              'detector.device': 'cpu', 'detector.trust_checkpoint_pickle': True})
    with pytest.raises(PerceptionError, match='does not fit'):
        build_detector(params)
    assert marker.exists()
