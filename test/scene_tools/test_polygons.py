"""Label map -> ordered polygons: painting them with the node's rasteriser reproduces the map."""
import cv2
import numpy as np
import pytest

from vad_ros.reasoning.scene_map import SceneMap
from vad_ros.vocabulary import ADE20K_CLASSES
from vad_ros.scene_tools.geometry import crossing_edges
from vad_ros.scene_tools.polygons import absorb_islands, fill_unknown, regions_from_labels
from vad_ros.types import NO_CLASS

from scene_tools.synthetic_scene import ADE, class_ious, street_labels


def rasterise(regions, width, height, drawn_on=None):
    """The node's rasterisation at width x height of regions drawn on an image of size drawn_on."""
    return SceneMap(drawn_on or (width, height), regions).class_map(width, height)


@pytest.mark.parametrize('size', [(640, 480), (768, 576)])
def test_street_reproduced_with_iou_at_least_098(size):
    labels = street_labels(*size)
    regions = regions_from_labels(labels, ADE20K_CLASSES)
    scores = class_ious(labels, rasterise(regions, *size))
    assert set(scores) == {'sky', 'building', 'grass', 'road', 'sidewalk', 'water', 'sand'}
    assert min(scores.values()) >= 0.98, scores
    assert not (rasterise(regions, *size).labels == NO_CLASS).any()


def test_small_frame_limits():
    """At 320x240 the pond ring is 1800 px: the default tolerance still gives >= 0.97, a finer one >= 0.99."""
    labels = street_labels(320, 240)
    assert min(class_ious(labels, rasterise(regions_from_labels(labels, ADE20K_CLASSES), 320, 240)).values()) >= 0.97
    fine = regions_from_labels(labels, ADE20K_CLASSES, tolerance=0.5)
    assert min(class_ious(labels, rasterise(fine, 320, 240)).values()) >= 0.99


def test_nested_holes_need_the_order():
    """The pond lies in a hole of the sidewalk ring, the sand island in a hole of the pond: each inner
    region comes after the one around it; drawn in reverse the inner ones vanish."""
    street = street_labels()
    regions = regions_from_labels(street, ADE20K_CLASSES)
    order = [label for label, _ in regions]
    assert order.index('water') < order.index('sand')
    first_sidewalk = order.index('sidewalk')
    assert first_sidewalk < order.index('water')
    reversed_map = rasterise(regions[::-1], 320, 240)
    assert 'sand' not in reversed_map.class_names or \
        (reversed_map.labels == reversed_map.class_names.index('sand')).sum() < (street == ADE['sand']).sum() / 2


def test_straight_borders_give_few_vertices():
    labels = np.zeros((100, 200), np.uint16)
    labels[40:] = 1
    labels[40:, 120:] = 2
    regions = regions_from_labels(labels, ('sky', 'road', 'grass'))
    assert [label for label, _ in regions][0] in ('sky', 'road')
    assert sum(len(p) for _, p in regions) <= 14
    rebuilt = rasterise(regions, 200, 100)
    names = rebuilt.class_names
    assert (np.array(names)[rebuilt.labels] == np.array(['sky', 'road', 'grass'])[labels]).all()


def test_far_border_vertices_on_the_border_line():
    labels = np.zeros((50, 80), np.uint16)
    labels[:, 40:] = 1
    regions = regions_from_labels(labels, ('a', 'b'))
    xs = np.concatenate([p[:, 0] for _, p in regions])
    ys = np.concatenate([p[:, 1] for _, p in regions])
    assert xs.max() == 80 and ys.max() == 50 and 79 not in xs and 49 not in ys
    big = rasterise(regions, 160, 100, (80, 50))                # rescaled: still reaches every border
    assert (big.labels[:, -1] == big.class_names.index('b')).all()
    assert (big.labels != NO_CLASS).all()


def test_islands_below_min_area_join_their_surroundings():
    labels = np.zeros((100, 100), np.uint16)
    labels[10:13, 10:13] = 1                           # 9 px speck
    labels[50:80, 50:80] = 2                           # 900 px region
    out = absorb_islands(labels, 50)
    assert (out[10:13, 10:13] == 0).all() and (out[50:80, 50:80] == 2).all()
    regions = regions_from_labels(labels, ('grass', 'rock', 'sand'), min_area=0.005)
    assert [label for label, _ in regions] == ['grass', 'sand']


def test_unknown_pixels_take_the_nearest_class():
    labels = np.full((10, 10), NO_CLASS, np.uint16)
    labels[:, :3] = 4
    labels[:, 7:] = 9
    out = fill_unknown(labels)
    assert (out[:, :5] == 4).all() and (out[:, 6:] == 9).all()


def test_simplified_polygons_never_cross_themselves():
    rng = np.random.default_rng(3)
    small = rng.integers(0, 4, (12, 16)).astype(np.uint16)
    labels = cv2.resize(small, (320, 240), interpolation=cv2.INTER_NEAREST)
    noisy = labels.copy()
    flips = rng.random(labels.shape) < 0.02
    noisy[flips] = rng.integers(0, 4, flips.sum())
    for tolerance in (1.0, 3.0, 6.0):
        for _, polygon in regions_from_labels(noisy, ('a', 'b', 'c', 'd'), tolerance=tolerance):
            assert crossing_edges(polygon) is None
