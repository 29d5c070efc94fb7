"""The scene map drawn over frames (vad-scene show, the debug image's scene-map overlay)."""
import textwrap

import numpy as np
import pytest

from vad_ros.reasoning import scene_map as scene_map_module
from vad_ros.reasoning.scene_map import load_scene_map
from vad_ros.rendering.drawing import class_colour
from vad_ros.rendering.scene_overlay import SceneOverlay, draw_scene_map


def scene(tmp_path, body):
    path = tmp_path / 'scene.yaml'
    path.write_text(textwrap.dedent(body))
    return load_scene_map(path)


REGIONS = '''\
    image_size: [200, 100]
    regions:
      - label: grass
        polygon: [[0, 0], [200, 0], [200, 100], [0, 100]]
      - label: road
        polygon: [[120, 0], [200, 0], [200, 100], [120, 100]]
    '''


def test_regions_tinted_with_their_class_colour_later_over_earlier(tmp_path):
    frame = np.full((100, 200, 3), 100, np.uint8)
    out = SceneOverlay(scene(tmp_path, REGIONS), alpha=0.5, labels=False).draw(frame)
    expected_grass = (np.array(class_colour('grass')) * 0.5 + 50).round()
    expected_road = (np.array(class_colour('road')) * 0.5 + 50).round()
    assert np.abs(out[50, 40].astype(int) - expected_grass).max() <= 1
    assert np.abs(out[50, 170].astype(int) - expected_road).max() <= 1
    assert (frame == 100).all()                       # the input is not modified


def test_rescaled_to_the_frame_and_labelled(tmp_path):
    overlay = SceneOverlay(scene(tmp_path, REGIONS), alpha=0.4)
    big = overlay.draw(np.zeros((300, 600, 3), np.uint8))
    assert big.shape == (300, 600, 3)
    plain = SceneOverlay(scene(tmp_path, REGIONS), alpha=0.4, labels=False).draw(np.zeros((300, 600, 3), np.uint8))
    differs = np.any(big != plain, axis=2)
    assert differs[:, :360].any() and differs[:, 360:].any()      # one label per region piece
    again = overlay.draw(np.zeros((300, 600, 3), np.uint8))
    assert np.array_equal(big, again)


@pytest.mark.skipif(not hasattr(scene_map_module, 'Tripwire'), reason='the scene-map format has no places yet')
def test_zones_tripwires_and_ignore_masks_are_drawn(tmp_path):
    body = REGIONS.rstrip(' ') + '''\
    zones:
      - name: bay
        polygon: [[10, 10], [60, 10], [60, 60], [10, 60]]
    tripwires:
      - name: gate
        points: [[20, 80], [180, 80]]
    ignore:
      - polygon: [[150, 10], [190, 10], [190, 40], [150, 40]]
    '''
    full = draw_scene_map(np.zeros((100, 200, 3), np.uint8), scene(tmp_path, body), labels=False)
    bare = draw_scene_map(np.zeros((100, 200, 3), np.uint8), scene(tmp_path, REGIONS), labels=False)
    changed = np.any(full != bare, axis=2)
    assert changed[10, 10:60].any()                   # zone outline
    assert changed[80, 30:170].all()                  # tripwire line
    assert changed[62:76, 95:105].any()               # its "in" arrow, up (test_tripwire_arrow.py: direction)
    assert changed[12:38, 152:188].any()              # hatched ignore mask


def test_regions_only_for_the_debug_image(tmp_path):
    body = REGIONS.rstrip(' ') + '''\
    zones:
      - name: bay
        polygon: [[10, 10], [60, 10], [60, 60], [10, 60]]
    '''
    frame = np.zeros((100, 200, 3), np.uint8)
    regions_only = SceneOverlay(scene(tmp_path, body), labels=False, places=False).draw(frame)
    assert np.array_equal(regions_only, SceneOverlay(scene(tmp_path, REGIONS), labels=False).draw(frame))
    assert not np.array_equal(regions_only, SceneOverlay(scene(tmp_path, body), labels=False).draw(frame))
