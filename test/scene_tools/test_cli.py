"""`vad-scene bootstrap` and `vad-scene show` from the command line: inputs, params, errors, outputs."""
import cv2
import numpy as np
import pytest
import yaml

from vad_ros.perception import factory
from vad_ros.reasoning.scene_map import load_scene_map
from vad_ros.media.view_shift import read_reference
from vad_ros.scene_tools.cli import main

from scene_tools.synthetic_scene import BoxDetector, SyntheticSegmenter, class_ious, street_labels

SCENE = '''\
image_size: [320, 240]
regions:
  - label: grass
    polygon: [[0, 0], [320, 0], [320, 240], [0, 240]]
  - label: road
    polygon: [[100, 100], [220, 100], [220, 240], [100, 240]]
'''


@pytest.fixture
def folder(tmp_path):
    """12 frames of 320x240 as PNGs."""
    path = tmp_path / 'frames'
    path.mkdir()
    for i in range(12):
        cv2.imwrite(str(path / f'{i}.png'), np.full((240, 320, 3), 20 * i, np.uint8))
    return path


@pytest.fixture
def synthetic_models(monkeypatch):
    """The params' segmenter and detector replaced by the synthetic ones (the CLI builds them through the
    factory, as the node does)."""
    made = {}

    def segmenter(params):
        made['segmenter'] = SyntheticSegmenter(street_labels(320, 240))
        return made['segmenter']

    monkeypatch.setattr(factory, 'build_segmenter', segmenter)
    monkeypatch.setattr(factory, 'build_detector', lambda params: BoxDetector())
    return made


def test_bootstrap_a_folder(tmp_path, folder, synthetic_models, capsys):
    out = tmp_path / 'scene.yaml'
    assert main(['bootstrap', str(folder), '--out', str(out), '--frames', '5']) == 0
    assert synthetic_models['segmenter'].calls == 5
    scene = load_scene_map(out)
    assert scene.image_size == (320, 240)
    assert min(class_ious(street_labels(320, 240), scene.class_map(320, 240)).values()) >= 0.97
    text = out.read_text()
    assert '5 frames (0..11)' in text and str(folder) in text
    printed = capsys.readouterr().out
    assert f'wrote {out}' in printed and f"wrote {tmp_path / 'scene.reference.jpg'}" in printed
    assert read_reference(str(out), (240, 320)) is not None      # the frame it was made on, for the node's check


def test_bootstrap_refuses_to_overwrite_without_force(tmp_path, folder, synthetic_models, capsys):
    out = tmp_path / 'scene.yaml'
    out.write_text(SCENE)
    assert main(['bootstrap', str(folder), '--out', str(out)]) == 2
    assert '--force' in capsys.readouterr().err and out.read_text() == SCENE
    assert main(['bootstrap', str(folder), '--out', str(out), '--force', '--frames', '2']) == 0
    assert out.read_text() != SCENE


def test_bootstrap_needs_a_segmenter(tmp_path, folder, capsys):
    params = tmp_path / 'params.yaml'
    params.write_text(yaml.safe_dump({'/**': {'ros__parameters': {'segmenter': {'backend': 'none'}}}}))
    assert main(['bootstrap', str(folder), '--params', str(params), '--out', str(tmp_path / 's.yaml')]) == 2
    err = capsys.readouterr().err
    assert 'segmenter.backend: mmseg' in err and str(params) in err


def test_bootstrap_missing_input_is_one_line(tmp_path, synthetic_models, capsys):
    assert main(['bootstrap', str(tmp_path / 'nope.mp4'), '--out', str(tmp_path / 's.yaml')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('vad-scene bootstrap:') and 'does not exist' in err and '\n' not in err


def test_bootstrap_live_topic_without_ros_says_so(tmp_path, synthetic_models, capsys, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_rclpy(name, *args, **kwargs):
        if name == 'rclpy' or name.startswith('rclpy.'):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_rclpy)
    assert main(['bootstrap', 'ros:/camera/image_raw', '--out', str(tmp_path / 's.yaml')]) == 2
    assert 'needs ROS 2' in capsys.readouterr().err


def test_show_renders_the_map_over_a_video_frame(tmp_path, capsys):
    scene = tmp_path / 'scene.yaml'
    scene.write_text(SCENE)
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10, (640, 480))
    for i in range(5):
        writer.write(np.full((480, 640, 3), 40 * i, np.uint8))
    writer.release()
    out = tmp_path / 'out' / 'scene.png'
    assert main(['show', str(scene), '--video', str(video), '--frame', '3', '--out', str(out)]) == 0
    picture = cv2.imread(str(out))
    assert picture.shape == (480, 640, 3)                       # the frame's size: the map is rescaled
    frame_value = 120
    assert np.abs(picture[50, 50].astype(int) - frame_value).max() > 15      # tinted (grass)
    assert not np.array_equal(picture[50, 50], picture[400, 320])           # road differs from grass
    assert '2 regions over a 640x480 frame' in capsys.readouterr().out


def test_show_errors_name_the_option(tmp_path, capsys):
    scene = tmp_path / 'scene.yaml'
    scene.write_text(SCENE)
    assert main(['show', str(scene), '--out', str(tmp_path / 'x.png')]) == 2
    assert '--image' in capsys.readouterr().err
    assert main(['show', str(scene), '--image', str(tmp_path / 'none.png'), '--out', str(tmp_path / 'x.png')]) == 2
    assert "--image" in capsys.readouterr().err
    bad = tmp_path / 'bad.yaml'
    bad.write_text('image_size: [320, 240]\nregions:\n  - lable: road\n    polygon: [[0, 0], [1, 0], [1, 1]]\n')
    cv2.imwrite(str(tmp_path / 'f.png'), np.zeros((240, 320, 3), np.uint8))
    assert main(['show', str(bad), '--image', str(tmp_path / 'f.png'), '--out', str(tmp_path / 'x.png')]) == 2
    assert "did you mean 'label'" in capsys.readouterr().err
