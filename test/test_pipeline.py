"""The pipeline's reasoning on given detections and class maps.

FixedDetector and CountingSegmenter are test doubles that return given outputs: these tests check the
reasoning (paper mode, footprint, persistence, scene maps, runtime changes), not a model.
"""
import numpy as np
import pytest

from vad_ros import params as vparams
from vad_ros.pipeline import Pipeline
from vad_ros.reasoning.rules import RuleFileError, parse_rules
from vad_ros.reasoning.vocabulary import ADE20K_CLASSES, COCO_CLASSES
from vad_ros.types import ClassMap, Detections

ROAD, SIDEWALK, PERSON, GRASS = (ADE20K_CLASSES.index(n) for n in ('road', 'sidewalk', 'person', 'grass'))
IMAGE = np.zeros((100, 200, 3), np.uint8)
PAPER = {'background.region': 'box', 'background.exclude_things': False, 'tracking.enabled': False,
         'persistence.min_frames': 1}


class FixedDetector:
    """Test double: returns the given COCO detections for every frame."""
    name, device, class_names = 'fixed', 'cpu', COCO_CLASSES

    def __init__(self, objects):
        self.objects = objects

    def detect(self, image):
        if not self.objects:
            return Detections.empty(self.class_names)
        return Detections(np.array([o[2] for o in self.objects], np.float32),
                          np.array([COCO_CLASSES.index(o[0]) for o in self.objects], np.int64),
                          np.array([o[1] for o in self.objects], np.float32), self.class_names)


class CountingSegmenter:
    """Test double: returns a given ADE20K class map and counts its calls."""
    name, device, class_names = 'fixed', 'cpu', ADE20K_CLASSES

    def __init__(self, labels):
        self.labels, self.calls = labels, 0

    def segment(self, image):
        self.calls += 1
        return ClassMap(self.labels, self.class_names)


def street() -> np.ndarray:
    """Rows 0-59 road, rows 60-99 sidewalk; a person painted at rows 20-69, columns 50-69."""
    labels = np.full((100, 200), ROAD, np.uint16)
    labels[60:] = SIDEWALK
    labels[20:70, 50:70] = PERSON
    return labels


def pipeline(objects, labels=None, **overrides):
    seg = CountingSegmenter(street() if labels is None else labels)
    p = Pipeline.from_params(vparams.resolve({**PAPER, **overrides}), FixedDetector(objects), seg)
    return p, seg


def test_paper_mode_by_hand():
    # Box rows 10-79, cols 40-79 (70x40 = 2800 px): person 50x20 = 1000, road rows 10-59 minus person
    # = 50*40 - 40*20 = 1200, sidewalk rows 60-79 = 20*40 - 10*20 = 600 -> road wins with 1200/2800.
    p, _ = pipeline([('person', 0.87, (40, 10, 80, 80)), ('car', 0.29, (100, 60, 150, 99)),
                     ('car', 0.31, (100, 62, 150, 99))])
    r = p.process(IMAGE)
    assert [o.object_class for o in r.objects] == ['person', 'car']            # the 0.29 car is below 0.3
    person, car = r.objects
    assert (person.background_class, person.background_fraction) == ('road', pytest.approx(1200 / 2800))
    assert car.background_class == 'sidewalk'
    assert r.is_anomalous and {a.rule_id for a in r.anomalies} == {'person-on-road', 'car-on-sidewalk'}
    sentences = {a.rule_id: a.sentence for a in r.anomalies}
    assert sentences['person-on-road'].startswith('person (0.87) on road (43% of box): ')
    assert r.score == pytest.approx(max(0.87 * 1200 / 2800, 0.31 * 1.0))     # both critical (weight 1)


def test_paper_mode_person_votes_for_itself():
    p, _ = pipeline([('person', 0.9, (50, 20, 70, 70))])
    r = p.process(IMAGE)
    assert r.objects[0].background_class == 'person' and not r.is_anomalous


def test_footprint_and_thing_exclusion_see_the_ground():
    p, _ = pipeline([('person', 0.9, (45, 20, 75, 72))],
                    **{'background.region': 'footprint', 'background.exclude_things': True})
    r = p.process(IMAGE)
    assert r.objects[0].background_class == 'sidewalk' and not r.is_anomalous
    p.update_params({'background.footprint_height': 1.0})
    assert p.process(IMAGE).objects[0].background_class == 'road'


def test_no_objects_and_empty_rules():
    p, _ = pipeline([])
    r = p.process(IMAGE)
    assert (r.objects, r.anomalies, r.score, r.is_anomalous) == ([], [], 0.0, False)
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))])
    p.replace_rules(p.empty_rules())
    assert not p.process(IMAGE).is_anomalous


def test_segmentation_interval_reuses_the_map():
    p, seg = pipeline([], segmentation_interval=10)
    for _ in range(25):
        p.process(IMAGE)
    assert seg.calls == 3
    p.process(np.zeros((50, 80, 3), np.uint8))       # a new frame size forces a new map
    assert seg.calls == 4


def test_persistence_through_the_pipeline():
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))], **{'tracking.enabled': True, 'persistence.min_frames': 3,
                                                          'persistence.grace_frames': 0})
    results = [p.process(IMAGE) for _ in range(4)]
    assert [r.is_anomalous for r in results] == [False, False, True, True]
    assert results[2].anomalies[0].track_id == 1 and results[3].anomalies[0].duration_frames == 4
    assert len(results[2].events_started) == 1
    (event,) = p.flush_events()
    assert (event.start_frame, event.end_frame, event.rule_id) == (2, 3, 'person-on-road')


def test_scene_map_overrides_the_segmenter(tmp_path):
    (tmp_path / 'scene.yaml').write_text('image_size: [200, 100]\nregions:\n  - label: grass\n'
                                         '    polygon: [[0, 0], [199, 0], [199, 99], [0, 99]]\n')
    (tmp_path / 'rules.yaml').write_text('rules:\n  - {id: g, objects: [person], forbidden: [grass], '
                                         'sentence: keep off the grass}\n')
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))], scene_map_file=str(tmp_path / 'scene.yaml'),
                    rules_file=str(tmp_path / 'rules.yaml'))
    r = p.process(IMAGE)
    assert r.objects[0].background_class == 'grass' and r.anomalies[0].rule_id == 'g'
    assert 'grass' in p.background_vocab


def test_rules_naming_unknown_classes_are_refused_at_build(tmp_path):
    (tmp_path / 'rules.yaml').write_text('rules:\n  - {id: g, objects: [persom], forbidden: [grass], '
                                         'sentence: x}\n')
    with pytest.raises(RuleFileError, match="persom"):
        pipeline([], rules_file=str(tmp_path / 'rules.yaml'))


def test_no_background_source_reports_objects_without_background():
    p = Pipeline.from_params(vparams.resolve(PAPER), FixedDetector([('person', 0.9, (0, 0, 30, 30))]))
    r = p.process(IMAGE)
    assert r.objects[0].background_class is None and not r.is_anomalous


def test_runtime_parameters_are_checked():
    p, _ = pipeline([('person', 0.5, (0, 0, 30, 30))])
    p.update_params({'score_threshold': 0.6})
    assert p.process(IMAGE).objects == []
    with pytest.raises(vparams.ParamError, match='cannot be changed while running'):
        p.update_params({'detector.backend': 'mmdet'})
    with pytest.raises(vparams.ParamError, match='must be between'):
        p.update_params({'score_threshold': 3.0})


def test_bad_images_are_refused_clearly():
    p, _ = pipeline([])
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8'):
        p.process(np.zeros((10, 10), np.uint8))


def test_replacing_rules_at_runtime():
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))])
    assert p.process(IMAGE).is_anomalous
    p.replace_rules(parse_rules('rules:\n  - {id: s, objects: [person], forbidden: [sidewalk], sentence: x}\n',
                                'new.yaml', COCO_CLASSES, ADE20K_CLASSES))
    assert not p.process(IMAGE).is_anomalous
