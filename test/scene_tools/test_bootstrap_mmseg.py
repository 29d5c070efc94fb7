"""vad-scene bootstrap with the real MMSegmentation backend (SegFormer-B0, random weights from the shipped
config, no network): the user's path params file -> factory -> segmenter -> scene map file."""
import cv2
import pytest
import yaml

pytest.importorskip('torch', reason='the mmseg backend needs torch (tools/setup.sh models)')
pytest.importorskip('mmseg', reason='needs onedl-mmsegmentation (tools/setup.sh models)')

from vad_ros.devtools.random_checkpoints import make_random_checkpoint  # noqa: E402
from vad_ros.reasoning.scene_map import load_scene_map  # noqa: E402
from vad_ros.vocabulary import ADE20K_CLASSES, THING_CLASSES  # noqa: E402
from vad_ros.scene_tools.cli import main  # noqa: E402
from vad_ros.types import NO_CLASS  # noqa: E402


@pytest.fixture(scope='module')
def seg_params(tmp_path_factory):
    out = tmp_path_factory.mktemp('seg')
    config, checkpoint = make_random_checkpoint('seg', str(out))
    params = out / 'params.yaml'
    params.write_text(yaml.safe_dump({'/**': {'ros__parameters': {
        'segmenter': {'backend': 'mmseg', 'config': config, 'checkpoint': checkpoint, 'device': 'cpu'}}}}))
    return params


def test_bootstrap_with_a_random_weight_segformer(tmp_path, seg_params, vtest_frames, capsys):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i, frame in enumerate(vtest_frames[:3]):
        cv2.imwrite(str(folder / f'{i}.png'), cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA))
    out = tmp_path / 'scene.yaml'
    assert main(['bootstrap', str(folder), '--params', str(seg_params), '--out', str(out), '--frames', '3',
                 '--tolerance', '2']) == 0, capsys.readouterr().err
    text = out.read_text()
    assert 'segmenter mmseg:' in text and '3 frames' in text
    scene = load_scene_map(out)                                         # the node's loader
    assert scene.image_size == (320, 240) and scene.regions
    assert set(scene.labels) <= set(ADE20K_CLASSES) - THING_CLASSES    # things never become regions
    assert not (scene.class_map(320, 240).labels == NO_CLASS).any()    # the map covers the frame
