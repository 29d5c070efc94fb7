"""vad-scene bootstrap: the vote over frames, moving things ignored, the written map loads in the node's loader."""
import numpy as np
import pytest

from vad_ros.media.sources import Frame
from vad_ros.reasoning.scene_map import load_scene_map
from vad_ros.vocabulary import ADE20K_CLASSES
from vad_ros.scene_tools import scene_yaml
from vad_ros.scene_tools.bootstrap import BootstrapOptions, bootstrap, describe
from vad_ros.scene_tools.errors import SceneToolError
from vad_ros.scene_tools.sampling import spread_frames
from vad_ros.scene_tools.vote import BackgroundVote
from vad_ros.types import NO_CLASS, ClassMap

from scene_tools.synthetic_scene import (ADE, BoxDetector, SyntheticSegmenter, class_ious, grey_frames,
                                         street_labels)


def test_vote_takes_the_majority_and_skips_things_and_boxes():
    names = ('road', 'grass', 'person')
    vote = BackgroundVote()
    a = np.zeros((4, 6), np.uint16)                  # road everywhere
    b = a.copy()
    b[:, 3:] = 1                                     # grass on the right half
    c = b.copy()
    c[0, 0] = 2                                      # a person
    for labels in (a, b, c):
        vote.add(ClassMap(labels, names), boxes=np.array([[4, 2, 5, 3]]))
    result = vote.result().labels
    assert result[0, 0] == 0 and result[1, 4] == 1 and result[0, 1] == 0
    assert (result[2:4, 4:6] == NO_CLASS).all()       # always under the box: no vote


def test_vote_refuses_a_size_change():
    vote = BackgroundVote()
    vote.add(ClassMap(np.zeros((4, 6), np.uint16), ('road',)))
    with pytest.raises(SceneToolError, match='one image size'):
        vote.add(ClassMap(np.zeros((5, 6), np.uint16), ('road',)))


def test_bootstrap_matches_the_known_map_and_ignores_moving_things():
    truth = street_labels(320, 240)
    segmenter = SyntheticSegmenter(truth)
    result = bootstrap(grey_frames(20), segmenter, BoxDetector(), BootstrapOptions(tolerance=0.5))
    assert segmenter.calls == 20 and result.image_size == (320, 240)
    assert 'person' not in result.labels                 # the walker is a thing: never a region
    assert 'sand' in result.labels                       # ... the island is real sand
    rebuilt = load_from_regions(result)
    scores = class_ious(truth, rebuilt)
    assert min(scores.values()) >= 0.98, scores
    # The segmenter's 'sand' under the parked car is masked out: the ground around it fills the box.
    under_car = np.array(rebuilt.class_names)[rebuilt.labels[150:176, 200:241]]
    assert 'sand' not in under_car
    assert (under_car == np.array(ADE20K_CLASSES)[truth[150:176, 200:241]]).mean() > 0.9


def test_without_the_detector_the_error_under_the_car_stays():
    truth = street_labels(320, 240)
    result = bootstrap(grey_frames(6), SyntheticSegmenter(truth), None)
    rebuilt = load_from_regions(result)
    assert (rebuilt.labels[152:174, 202:239] == rebuilt.class_names.index('sand')).all()


def load_from_regions(result):
    from vad_ros.reasoning.scene_map import SceneMap
    return SceneMap(result.image_size, result.regions).class_map(*result.image_size)


def test_written_file_loads_in_the_node_loader_with_a_comment(tmp_path):
    truth = street_labels(320, 240)
    segmenter, options = SyntheticSegmenter(truth), BootstrapOptions()
    result = bootstrap(grey_frames(5), segmenter, BoxDetector(), options)
    out = tmp_path / 'scene.yaml'
    scene_yaml.save(scene_yaml.regions_document(result.image_size, result.regions), out,
                    describe(result, "'street.mp4'", segmenter, BoxDetector(), options))
    text = out.read_text()
    assert text.startswith('# Bootstrapped by `vad-scene bootstrap`') and "'street.mp4'" in text
    assert 'segmenter synthetic' in text and '5 frames (0..4)' in text
    scene = load_scene_map(out)
    assert scene.image_size == (320, 240) and set(scene.labels) == set(result.labels)
    assert min(class_ious(truth, scene.class_map(320, 240)).values()) >= 0.97


def test_all_things_is_a_clear_error():
    labels = np.full((20, 30), ADE['person'], np.uint16)
    with pytest.raises(SceneToolError, match='no pixel got a background class'):
        bootstrap(grey_frames(3, 30, 20), SyntheticSegmenter(labels, car_box=None), None)


@pytest.mark.parametrize('tolerance, min_area, field', [(-1, 0.001, '--tolerance'), (1, 1.5, '--min-area')])
def test_bad_options_name_the_option(tolerance, min_area, field):
    with pytest.raises(SceneToolError, match=field):
        bootstrap(grey_frames(1), SyntheticSegmenter(street_labels()), None, BootstrapOptions(tolerance, min_area))


@pytest.mark.parametrize('length, count', [(1, 5), (7, 5), (100, 20), (1000, 20), (37, 1)])
def test_frames_spread_over_the_whole_input(length, count):
    frames = spread_frames((Frame(i, i / 10, None) for i in range(length)), count)
    indices = [f.index for f in frames]
    assert len(indices) == min(length, count) and indices == sorted(set(indices))
    if count > 1 and length > 1:
        assert indices[0] == 0 and indices[-1] == length - 1
        gaps = np.diff(indices)
        assert gaps.max() <= 2 * max(gaps.min(), 1) + 1       # evenly spread


def test_labels_only_come_from_the_segmenter_vocabulary():
    result = bootstrap(grey_frames(3), SyntheticSegmenter(street_labels()), None)
    assert set(result.labels) <= set(ADE20K_CLASSES)
