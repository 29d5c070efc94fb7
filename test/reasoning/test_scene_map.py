"""Static scene maps: rasterising, rescaling, laying over a segmenter's map, errors."""
import textwrap

import numpy as np
import pytest

from vad_ros.reasoning.scene_map import MapCombiner, SceneMapError, load_scene_map
from vad_ros.types import NO_CLASS, ClassMap


def write(tmp_path, body: str):
    path = tmp_path / 'scene.yaml'
    path.write_text(textwrap.dedent(body))
    return path


SCENE = '''\
    image_size: [100, 50]
    regions:
      - label: grass
        polygon: [[0, 0], [100, 0], [100, 50], [0, 50]]
      - label: railway
        polygon: [[40, 10], [59, 10], [59, 29], [40, 29]]
    '''


def test_rasterised_later_regions_over_earlier(tmp_path):
    scene = load_scene_map(write(tmp_path, SCENE))
    cmap = scene.class_map(100, 50)
    assert cmap.class_names == ('grass', 'railway') and cmap.shape == (50, 100)
    railway = np.zeros((50, 100), bool)
    railway[10:30, 40:60] = True                      # vertices and outline included
    assert (cmap.labels == 1).sum() == railway.sum() and (cmap.labels[railway] == 1).all()
    assert (cmap.labels[~railway] == 0).all()         # the first region covers the rest of the frame
    assert scene.class_map(100, 50) is cmap           # cached per size
    assert not cmap.labels.flags.writeable


def test_rescaled_to_the_frame_size(tmp_path):
    scene = load_scene_map(write(tmp_path, SCENE))
    cmap = scene.class_map(200, 100)
    assert cmap.shape == (100, 200)
    assert (cmap.labels != NO_CLASS).all()            # the full-frame region still reaches every border
    rows, cols = np.nonzero(cmap.labels == 1)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 58, 80, 118)
    small = scene.class_map(50, 25)
    rows, cols = np.nonzero(small.labels == 1)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (5, 15, 20, 30)      # 14.5 and 29.5 round up
    assert scene.class_map(200, 100) is cmap


def test_outside_every_region_is_no_class(tmp_path):
    scene = load_scene_map(write(tmp_path, '''\
        image_size: [10, 10]
        regions:
          - label: road
            polygon: [[0, 0], [4, 0], [4, 4]]
        '''))
    labels = scene.class_map(10, 10).labels
    assert labels[9, 9] == NO_CLASS and labels[0, 1] == 0 and labels[4, 4] == 0 and labels[4, 0] == NO_CLASS


def test_repeated_labels_share_one_class(tmp_path):
    scene = load_scene_map(write(tmp_path, '''\
        image_size: [10, 10]
        regions:
          - {label: grass, polygon: [[0, 0], [2, 0], [2, 2]]}
          - {label: road, polygon: [[3, 3], [5, 3], [5, 5]]}
          - {label: grass, polygon: [[7, 7], [9, 7], [9, 9]]}
        '''))
    cmap = scene.class_map(10, 10)
    assert cmap.class_names == ('grass', 'road') and cmap.labels[0, 1] == cmap.labels[7, 8] == 0


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
    seg.labels[0, 9] = NO_CLASS
    combiner = MapCombiner(scene)
    combined = combiner.combine(seg, 10, 10)
    assert combined.class_names == ('road', 'grass', 'railway') == combiner.vocabulary(seg.class_names)
    assert (combined.labels[:, :5] == 2).all()        # railway from the scene map, over the segmenter
    assert combined.labels[5, 7] == 1                  # grass from the segmenter outside the regions
    assert combined.labels[0, 9] == NO_CLASS           # the segmenter's unknown pixel stays unknown
    assert combined.labels[9, 9] == 0                  # the scene map's road takes the segmenter's road index
    assert (seg.labels[:, :5] == 1).all()              # the segmenter's map is not modified
    assert MapCombiner(None).combine(seg, 10, 10) is seg
    alone = MapCombiner(scene).combine(None, 10, 10)
    assert alone.class_names == ('railway', 'road') and alone.labels[5, 7] == NO_CLASS
    with pytest.raises(ValueError, match='10x10 does not match the frame 20x10'):
        combiner.combine(seg, 20, 10)


def test_vocabulary_without_a_scene_map_or_segmenter():
    assert MapCombiner(None).vocabulary(('road', 'grass')) == ('road', 'grass')
    assert MapCombiner(None).vocabulary(None) == ()


@pytest.mark.parametrize('body, error', [
    ('regions: []\n', r"'image_size' must be \[width, height\]"),
    ('image_size: [10]\nregions: []\n', r"'image_size' must be \[width, height\].*got \[10\]"),
    ('image_size: [0, 10]\nregions: []\n', r"'image_size' must be"),
    ('image_size: [true, 10]\nregions: []\n', r"'image_size' must be"),
    ('image_size: [10, 10]\nregions: []\n', r"'regions' must be a non-empty list"),
    ('image_size: [10, 10]\nregion: []\n', r"unknown key 'region'"),
    ('image_size: [10, 10]\nregions:\n  - label: road\n    polygon: [[0, 0], [1, 1]]\n',
     r"region 0 \('road'\): 'polygon' must be a list of at least 3 \[x, y\] points"),
    ('image_size: [10, 10]\nregions:\n  - {label: a, polygon: [[0, 0], [1, 1], [1, 0]]}\n'
     '  - {label: b, polygon: [[0, 0], [1, x], [1, 0]]}\n', r"region 1 \('b'\): 'polygon' must be"),
    ('image_size: [10, 10]\nregions:\n  - {label: a, polygon: [[0, 0, 1], [1, 1, 1], [1, 0, 1]]}\n',
     r"region 0 \('a'\): 'polygon' must be"),
    ('image_size: [10, 10]\nregions:\n  - {label: a, polygon: [[0, 0], [.nan, 1], [1, 0]]}\n',
     r"region 0 \('a'\): 'polygon' must be"),
    ('image_size: [10, 10]\nregions:\n  - polygon: [[0, 0], [1, 1], [2, 0]]\n', r"region 0: needs a 'label'"),
    ('image_size: [10, 10]\nregions:\n  - {label: a, polgon: [[0, 0], [1, 1], [2, 0]]}\n',
     r"region 0: unknown key 'polgon' \(did you mean 'polygon'\?\)"),
    ('image_size: [10, 10]\nregions:\n  - [0, 0]\n', r"region 0: expected a mapping"),
    ('image_size: [10, 10\n', r'scene.yaml:2: not valid YAML'),
    ('image_size: [20000, 10]\nregions: []\n', r"line 1: 'image_size' must be .*at most 16384 each.*got \[20000, 10\]"),
    ('image_size: [10, 10]\nregions:\n  - {label: a, polygon: [[0, 0], [1, 1], [1.0e+12, 0]]}\n',
     r"line 3, region 0 \('a'\): 'polygon' must be pixel positions in the 10x10 image .* point 2 is \[1e\+12, 0\]"),
    ('image_size: [10, 10]\ntripwires:\n  - {name: t, points: [[0, 0], [30.5, 0]]}\n',
     r"line 3, tripwire 0 \('t'\): 'points' must be pixel positions .*x in \[-10, 20\].* point 1 is \[30.5, 0\]"),
    ('- 1\n', "expected a mapping with 'image_size' and 'regions'"),
])
def test_bad_scene_maps_are_clear_errors(tmp_path, body, error):
    path = write(tmp_path, body)
    with pytest.raises(SceneMapError, match=error) as info:
        load_scene_map(path)
    assert str(path) in str(info.value)


def test_missing_scene_map_is_named(tmp_path):
    with pytest.raises(SceneMapError, match="scene map '.*missing.yaml' does not exist"):
        load_scene_map(tmp_path / 'missing.yaml')


def test_shipped_vtest_scene_map_loads(repo_root):
    scene = load_scene_map(repo_root / 'config' / 'scene_vtest.yaml')
    cmap = scene.class_map(768, 576)
    names = cmap.class_names
    assert names[cmap.labels[500, 100]] == 'grass' and names[cmap.labels[300, 600]] == 'road'
