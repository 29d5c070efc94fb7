"""Static scene maps: rasterising, rescaling, laying over a segmenter, errors."""
import textwrap

import numpy as np
import pytest

from vad_ros.reasoning.scene_map import MapCombiner, SceneMapError, load_scene_map
from vad_ros.types import NO_CLASS, ClassMap


def write(tmp_path, text: str):
    path = tmp_path / 'scene.yaml'
    path.write_text(textwrap.dedent(text))
    return path


SCENE = '''\
    image_size: [100, 50]
    regions:
      - label: grass
        polygon: [[0, 0], [99, 0], [99, 49], [0, 49]]
      - label: railway
        polygon: [[40, 10], [59, 10], [59, 29], [40, 29]]
    '''


def test_rasterised_later_regions_over_earlier(tmp_path):
    scene = load_scene_map(write(tmp_path, SCENE))
    cmap = scene.class_map(100, 50)
    assert cmap.class_names == ('grass', 'railway') and cmap.shape == (50, 100)
    assert cmap.labels[20, 50] == 1 and cmap.labels[5, 5] == 0
    assert scene.class_map(100, 50) is cmap          # cached


def test_rescaled_to_the_frame_size(tmp_path):
    scene = load_scene_map(write(tmp_path, SCENE))
    cmap = scene.class_map(200, 100)
    assert cmap.labels[40, 100] == 1 and cmap.labels[10, 10] == 0 and cmap.labels[70, 100] == 0


def test_outside_every_region_is_no_class(tmp_path):
    scene = load_scene_map(write(tmp_path, '''\
        image_size: [10, 10]
        regions:
          - label: road
            polygon: [[0, 0], [4, 0], [4, 4]]
        '''))
    labels = scene.class_map(10, 10).labels
    assert labels[9, 9] == NO_CLASS and labels[0, 1] == 0


def test_laid_over_a_segmenter_map(tmp_path):
    scene = load_scene_map(write(tmp_path, '''\
        image_size: [10, 10]
        regions:
          - label: railway
            polygon: [[0, 0], [4, 0], [4, 9], [0, 9]]
          - label: road
            polygon: [[8, 8], [9, 8], [9, 9], [8, 9]]
        '''))
    seg = ClassMap(np.full((10, 10), 1, np.uint16), ('road', 'grass'))
    combined = MapCombiner(scene).combine(seg, 10, 10)
    assert combined.class_names == ('road', 'grass', 'railway')
    assert combined.labels[5, 2] == 2            # railway from the scene map
    assert combined.labels[5, 7] == 1            # grass from the segmenter
    assert combined.labels[9, 9] == 0            # the scene map's road is the segmenter's road index
    assert MapCombiner(None).combine(seg, 10, 10) is seg
    assert MapCombiner(scene).combine(None, 10, 10).class_names == ('railway', 'road')


@pytest.mark.parametrize('text, error', [
    ('regions: []\n', "'image_size' must be \\[width, height\\]"),
    ('image_size: [10, 10]\nregions: []\n', "'regions' must be a non-empty list"),
    ('image_size: [10, 10]\nregions:\n  - label: road\n    polygon: [[0, 0], [1, 1]]\n',
     "region 0 \\('road'\\): 'polygon' must be a list of at least 3"),
    ('image_size: [10, 10]\nregions:\n  - polygon: [[0, 0], [1, 1], [2, 0]]\n', "region 0: needs a 'label'"),
    ('image_size: [10, 10\n', 'not valid YAML'),
])
def test_bad_scene_maps_are_clear_errors(tmp_path, text, error):
    with pytest.raises(SceneMapError, match=error):
        load_scene_map(write(tmp_path, text))
    with pytest.raises(SceneMapError, match='does not exist'):
        load_scene_map(tmp_path / 'missing.yaml')


def test_shipped_vtest_scene_map_loads(repo_root):
    scene = load_scene_map(repo_root / 'config' / 'scene_vtest.yaml')
    cmap = scene.class_map(768, 576)
    names = cmap.class_names
    assert names[cmap.labels[500, 100]] == 'grass' and names[cmap.labels[300, 600]] == 'road'
