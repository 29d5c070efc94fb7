"""The pipeline's reasoning on given detections and class maps.

FixedDetector and FixedSegmenter are test doubles that return given outputs: these tests check the
reasoning (paper mode, footprint, persistence, scene maps, runtime changes), not a model.
"""
import logging

import numpy as np
import pytest

from vad_ros import params as vparams
from vad_ros.perception.base import Detector, PerceptionError, Segmenter
from vad_ros.pipeline import build_pipeline
from vad_ros.reasoning.rules import RuleFileError, empty_rules, parse_rules
from vad_ros.reasoning.scene_map import SceneMapError
from vad_ros.vocabulary import ADE20K_CLASSES, COCO_CLASSES
from vad_ros.types import ClassMap, Detections

ROAD, SIDEWALK, PERSON, GRASS = (ADE20K_CLASSES.index(n) for n in ('road', 'sidewalk', 'person', 'grass'))
IMAGE = np.zeros((100, 200, 3), np.uint8)
PAPER = {'background.region': 'box', 'background.exclude_things': False, 'tracking.enabled': False,
         'confirm.enabled': False, 'persistence.min_frames': 1, 'events.grace_seconds': 0.0}


class FixedDetector:
    """Test double: returns the given (class, score, box) objects, COCO vocabulary, for every frame."""
    name, device = 'fixed', 'cpu'

    def __init__(self, objects, class_names=COCO_CLASSES):
        self.objects, self.class_names = list(objects), tuple(class_names)

    def detect(self, image):
        if not self.objects:
            return Detections.empty(self.class_names)
        return Detections(np.array([o[2] for o in self.objects], np.float32),
                          np.array([self.class_names.index(o[0]) for o in self.objects], np.int64),
                          np.array([o[1] for o in self.objects], np.float32), self.class_names)


class FixedSegmenter:
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
    seg = FixedSegmenter(street() if labels is None else labels)
    p = build_pipeline(vparams.resolve({**PAPER, **overrides}), FixedDetector(objects), seg)
    return p, seg


def test_test_doubles_implement_the_protocols():
    assert isinstance(FixedDetector([]), Detector) and isinstance(FixedSegmenter(street()), Segmenter)


def test_paper_mode_by_hand():
    # Box columns 40..79, rows 10..79 (40 x 70 = 2800 px): person rows 20-69 x columns 50-69 = 1000;
    # road rows 10-59 = 2000 minus 40 x 20 person = 1200; sidewalk rows 60-79 = 800 minus 10 x 20 = 600.
    p, _ = pipeline([('person', 0.87, (40, 10, 79, 79)), ('car', 0.29, (100, 60, 150, 99)),
                     ('car', 0.31, (100, 62, 150, 99))])
    r = p.process(IMAGE)
    assert [o.object_class for o in r.objects] == ['person', 'car']            # the 0.29 car is below 0.3
    person, car = r.objects
    assert (person.background_class, person.background_fraction) == ('road', pytest.approx(1200 / 2800))
    assert (car.background_class, car.background_fraction, car.track_id) == ('sidewalk', 1.0, 0)
    assert r.is_anomalous and [a.rule_id for a in r.anomalies] == ['person-on-road', 'car-on-sidewalk']
    sentence = r.anomalies[0].sentence
    assert sentence == 'person (0.87) on road (43% of box): people must not be on the road, in the water or ' \
                       'on a fence'
    assert r.anomalies[1].sentence.startswith('car (0.31) on sidewalk (100% of box): ')
    # Both rules are critical (weight 1): anomaly score = object score x background fraction.
    assert r.anomalies[0].score == pytest.approx(0.87 * 1200 / 2800)
    assert r.score == pytest.approx(max(0.87 * 1200 / 2800, 0.31 * 1.0))
    assert set(r.timings_ms) == {'detect', 'segment', 'reason'} and r.class_map.labels is not None
    assert r.frame_index == 0 and p.process(IMAGE).frame_index == 1


def test_paper_mode_person_votes_for_itself():
    p, _ = pipeline([('person', 0.9, (50, 20, 69, 69))])
    r = p.process(IMAGE)
    assert (r.objects[0].background_class, r.objects[0].background_fraction) == ('person', 1.0)
    assert not r.is_anomalous and r.score == 0.0


def test_footprint_and_thing_exclusion_see_the_ground():
    # Feet at row 72: the footprint (rows 62-72) is sidewalk around the person's legs.
    p, _ = pipeline([('person', 0.9, (45, 20, 74, 72))],
                    **{'background.region': 'footprint', 'background.exclude_things': True})
    r = p.process(IMAGE)
    assert (r.objects[0].background_class, r.objects[0].background_fraction) == ('sidewalk', 1.0)
    assert not r.is_anomalous
    p.update_params({'background.footprint_height': 1.0})                  # whole box, things excluded
    r = p.process(IMAGE)
    assert r.objects[0].background_class == 'road' and r.anomalies[0].sentence.startswith(
        'person (0.90) on road (68% of footprint): ')   # 400 of 590 px
    p.update_params({'background.exclude_things': False})
    assert p.process(IMAGE).objects[0].background_class == 'person'


def test_region_of_only_things_has_no_background_and_fires_no_rule():
    p, _ = pipeline([('person', 0.9, (50, 20, 69, 69))], **{'background.exclude_things': True})
    r = p.process(IMAGE)
    assert (r.objects[0].background_class, r.objects[0].background_fraction) == (None, 0.0)
    assert not r.is_anomalous


def test_boxes_outside_the_image_are_reported_without_background():
    p, _ = pipeline([('person', 0.9, (300, 10, 320, 50)), ('person', 0.9, (-20, -20, 5, 5))])
    r = p.process(IMAGE)
    assert [o.background_class for o in r.objects] == [None, 'road']
    assert [a.box for a in r.anomalies] == [(-20.0, -20.0, 5.0, 5.0)]


def test_rule_options_min_score_and_min_fraction():
    rules = parse_rules('rules:\n  - {id: r, objects: [person], forbidden: [road], sentence: stay off, '
                        'min_score: 0.6, min_fraction: 0.5, severity: info}\n', 'r.yaml')
    p, _ = pipeline([('person', 0.5, (0, 0, 20, 20)), ('person', 0.7, (40, 10, 79, 79)),
                     ('person', 0.7, (0, 30, 20, 50))])
    p.replace_rules(rules)
    r = p.process(IMAGE)
    assert [a.box for a in r.anomalies] == [(0.0, 30.0, 20.0, 50.0)]        # score 0.5 and fraction 0.43 fail
    assert r.score == pytest.approx(0.7 * 1.0 * 0.5)                          # info weighs 0.5


def test_frame_score_grows_with_the_detectors_confidence():
    scores = []
    for confidence in (0.3, 0.5, 0.9):
        p, _ = pipeline([('person', confidence, (0, 0, 20, 20))])
        scores.append(p.process(IMAGE).score)
    assert 0 < scores[0] < scores[1] < scores[2] <= 1


def test_no_objects_and_empty_rules():
    p, _ = pipeline([])
    r = p.process(IMAGE)
    assert (r.objects, r.anomalies, r.score, r.is_anomalous) == ([], [], 0.0, False)
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))])
    p.replace_rules(empty_rules())
    assert p.rules.is_empty and not p.process(IMAGE).is_anomalous


def test_segmentation_interval_reuses_the_map():
    p, seg = pipeline([], segmentation_interval=10)
    for _ in range(25):
        p.process(IMAGE)
    assert seg.calls == 3                               # frames 0, 10, 20
    seg.labels = np.full((50, 80), GRASS, np.uint16)
    r = p.process(np.zeros((50, 80, 3), np.uint8))     # a new frame size forces a new map
    assert seg.calls == 4 and r.class_map.shape == (50, 80)


def test_a_segmenter_map_of_the_wrong_size_is_a_perception_error():
    p, _ = pipeline([])
    with pytest.raises(PerceptionError, match=r"segmenter 'fixed' returned a 200x100 map for a 80x50 frame"):
        p.process(np.zeros((50, 80, 3), np.uint8))


def test_persistence_through_the_pipeline():
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))], **{'tracking.enabled': True, 'persistence.min_frames': 3,
                                                          'events.grace_seconds': 0.1, 'confirm.enabled': False})
    results = [p.process(IMAGE, frame_index=10 + i, stamp=1.0 + i / 10) for i in range(4)]
    assert [r.is_anomalous for r in results] == [False, False, True, True]
    assert [r.score > 0 for r in results] == [False, False, True, True]
    assert results[2].anomalies[0].track_id == 1 and results[3].anomalies[0].duration_frames == 4
    (started,) = results[2].events_started
    assert (started.start_frame, started.start_stamp, started.rule_id) == (12, 1.2, 'person-on-road')
    p.detector.objects = []
    grace = p.process(IMAGE, stamp=1.4)
    assert (grace.is_anomalous, grace.score, grace.events_ended) == (False, 0.0, [])
    (ended,) = p.process(IMAGE, stamp=1.5).events_ended
    assert (ended.start_frame, ended.end_frame, ended.end_stamp) == (12, 13, pytest.approx(1.3))
    assert p.flush_events() == []


def test_flush_events_closes_the_open_ones():
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))], **{'persistence.grace_frames': 5})
    p.process(IMAGE)
    p.process(IMAGE)
    (event,) = p.flush_events()
    assert (event.start_frame, event.end_frame, event.track_id) == (0, 1, 0)


def test_without_tracking_min_frames_acts_as_1_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger='vad_ros.pipeline'):
        p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))], **{'persistence.min_frames': 5})
    assert 'each frame stands alone' in caplog.text
    assert p.process(IMAGE).is_anomalous


def test_tracking_switched_off_and_on_at_runtime_never_reuses_ids():
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))], **{'tracking.enabled': True})
    assert p.process(IMAGE).objects[0].track_id == 1
    p.update_params({'tracking.enabled': False})
    assert p.process(IMAGE).objects[0].track_id == 0
    p.update_params({'tracking.enabled': True})
    assert p.process(IMAGE).objects[0].track_id == 2


def test_scene_map_overrides_the_segmenter(tmp_path):
    (tmp_path / 'scene.yaml').write_text('image_size: [200, 100]\nregions:\n  - label: grass\n'
                                         '    polygon: [[0, 0], [100, 0], [100, 100], [0, 100]]\n')
    (tmp_path / 'rules.yaml').write_text('rules:\n  - {id: g, objects: [person], forbidden: [grass], '
                                         'sentence: "keep off the {background}"}\n')
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30)), ('person', 0.9, (150, 0, 180, 30))],
                    scene_map_file=str(tmp_path / 'scene.yaml'), rules_file=str(tmp_path / 'rules.yaml'))
    r = p.process(IMAGE)
    assert [o.background_class for o in r.objects] == ['grass', 'road']      # scene map, then segmenter
    assert [a.rule_id for a in r.anomalies] == ['g'] and r.anomalies[0].sentence.endswith('keep off the grass')
    assert p.background_vocab == ADE20K_CLASSES             # grass is an ADE20K class: no new entry


def test_scene_map_alone_without_a_segmenter(tmp_path):
    (tmp_path / 'scene.yaml').write_text('image_size: [20, 10]\nregions:\n  - label: railway\n'
                                         '    polygon: [[0, 0], [10, 0], [10, 10], [0, 10]]\n')
    (tmp_path / 'rules.yaml').write_text('rules:\n  - {id: t, objects: [person], forbidden: [railway], '
                                         'sentence: stay off the tracks}\n')
    params = vparams.resolve({**PAPER, 'scene_map_file': str(tmp_path / 'scene.yaml'),
                              'rules_file': str(tmp_path / 'rules.yaml')})
    p = build_pipeline(params, FixedDetector([('person', 0.8, (0, 0, 30, 30)),
                                                    ('person', 0.8, (150, 0, 180, 30))]))
    assert p.background_vocab == ('railway',)
    r = p.process(IMAGE)                                     # 200x100 frame: the map is scaled by 10
    assert [o.background_class for o in r.objects] == ['railway', None]
    assert r.anomalies[0].rule_id == 't'


def test_bad_files_are_refused_at_build(tmp_path):
    (tmp_path / 'rules.yaml').write_text('rules:\n  - {id: g, objects: [persom], forbidden: [grass], '
                                         'sentence: x}\n')
    with pytest.raises(RuleFileError, match=r"rules.yaml:2: rule 'g': unknown object class 'persom'"):
        pipeline([], rules_file=str(tmp_path / 'rules.yaml'))
    (tmp_path / 'scene.yaml').write_text('image_size: [10, 10]\n')
    with pytest.raises(SceneMapError, match="'regions' must be"):
        pipeline([], scene_map_file=str(tmp_path / 'scene.yaml'))


def test_paper_rules_with_a_person_only_detector(caplog):
    with caplog.at_level(logging.WARNING, logger='vad_ros.pipeline'):
        p = build_pipeline(vparams.resolve(PAPER), FixedDetector([], ('person',)),
                                 FixedSegmenter(street()))
    assert len(p.rules) == 7 and "cannot produce 'car'" in caplog.text


def test_no_background_source_warns_and_reports_objects_without_background(caplog):
    with caplog.at_level(logging.WARNING, logger='vad_ros.pipeline'):
        p = build_pipeline(vparams.resolve(PAPER), FixedDetector([('person', 0.9, (0, 0, 30, 30))]))
        results = [p.process(IMAGE) for _ in range(3)]
    assert caplog.text.count('no background source') == 1
    assert all(r.objects[0].background_class is None and not r.is_anomalous and r.class_map is None
               for r in results)


def test_runtime_parameters_are_checked():
    p, _ = pipeline([('person', 0.5, (0, 0, 30, 30))])
    p.update_params({'score_threshold': 0.6})
    assert p.process(IMAGE).objects == []
    with pytest.raises(vparams.ParamError, match='cannot be changed while running'):
        p.update_params({'detector.backend': 'mmdet'})
    with pytest.raises(vparams.ParamError, match='did you mean score_threshold'):
        p.update_params({'score_treshold': 0.5})
    with pytest.raises(vparams.ParamError, match='must be between'):
        p.update_params({'score_threshold': 0.1, 'background.footprint_height': 3.0})
    assert p.params['score_threshold'] == 0.6                # nothing applied from a refused update


def test_bad_inputs_are_refused_clearly():
    p, _ = pipeline([])
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8'):
        p.process(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8 BGR image, got float32'):
        p.process(np.zeros((10, 10, 3), np.float32))
    bad = Detections(np.zeros((1, 4), np.float32), np.array([99], np.int64), np.ones(1, np.float32), ('person',))
    with pytest.raises(PerceptionError, match='label 99 outside its 1 class names'):
        p.reason(bad, None, 0)


def test_replacing_rules_at_runtime(tmp_path):
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))])
    assert p.process(IMAGE).is_anomalous
    p.replace_rules(parse_rules('rules:\n  - {id: s, objects: [person], forbidden: [sidewalk], sentence: x}\n',
                                'new.yaml', COCO_CLASSES, ADE20K_CLASSES))
    assert not p.process(IMAGE).is_anomalous
    with pytest.raises(TypeError, match='expects a RuleSet'):
        p.replace_rules(['r'])


def test_switching_rule_files_through_the_rule_source(tmp_path):
    p, _ = pipeline([('person', 0.9, (0, 0, 30, 30))])
    good = tmp_path / 'good.yaml'
    good.write_text('rules:\n  - {id: r, objects: [person], forbidden: [road], sentence: off the road}\n')
    p.rule_source.switch(str(good))
    assert [a.rule_id for a in p.process(IMAGE).anomalies] == ['r']
    bad = tmp_path / 'bad.yaml'
    bad.write_text('rules:\n  - {id: w, objects: [person], forbidden: [raod], sentence: x}\n')
    with pytest.raises(RuleFileError, match=r"bad.yaml:2: .*'raod' \(closest known: road"):
        p.rule_source.switch(str(bad))                                   # checked against the vocabularies
    assert [a.rule_id for a in p.process(IMAGE).anomalies] == ['r']      # the old rules stay


# ---------------------------------------------------------------- confirmation, object ids, grace in seconds
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / 'config'
VTEST = np.zeros((576, 768, 3), np.uint8)            # frames of the demo camera (config/scene_vtest.yaml)


class Scripted:
    """Test double: frame i returns frames[i] (the last one after the end), a list of (class, score, box)."""
    name, device, class_names = 'scripted', 'cpu', COCO_CLASSES

    def __init__(self, frames):
        self.frames, self.i = frames, 0

    def detect(self, image):
        objects = self.frames[min(self.i, len(self.frames) - 1)]
        self.i += 1
        return FixedDetector(objects).detect(image)


def person_at(x, y, score=0.6, h=100.0):
    """A person box whose feet (bottom centre) are at (x, y)."""
    return ('person', score, (x - h / 5, y - h, x + h / 5, y))


def lawn_pipeline(frames, rules_file=str(CONFIG / 'rules_keep_off_grass.yaml'), **overrides):
    """Defaults (tracking, confirmation, grace in seconds) + the demo camera's scene map + a rule file."""
    params = vparams.resolve({'scene_map_file': str(CONFIG / 'scene_vtest.yaml'), 'rules_file': rules_file,
                              **overrides})
    return build_pipeline(params, Scripted(frames))


def run_at(p, fps, frames):
    return [p.process(VTEST, stamp=i / fps) for i in range(frames)]


@pytest.mark.parametrize('tracker', ['iou', 'byte'])
def test_a_static_low_score_object_never_alarms(tracker):
    """A rock on the lawn that the detector scores 0.30-0.34 as a person: the IoU tracker tracks it and it is
    reported, unconfirmed; the byte tracker (the default) starts no track below score_threshold + 0.1, so it is
    no object at all. Neither fires."""
    rock = [[('person', 0.30 + 0.04 * (i % 2), (155.0, 300.0, 185.0, 340.0))] for i in range(200)]
    results = run_at(lawn_pipeline(rock, **{'tracking.tracker': tracker}), 10, 200)
    if tracker == 'iou':
        assert all(r.objects and r.objects[0].background_class == 'grass' for r in results)
        assert not any(o.confirmed for r in results for o in r.objects)
    else:
        assert not any(r.objects for r in results)
    assert not any(r.anomalies or r.events for r in results)


@pytest.mark.parametrize('fps, scale', [(10, 1.0), (5, 1.0), (10, 0.5)])
def test_a_person_scored_0_6_stepping_onto_the_lawn_alarms_within_half_a_second(fps, scale):
    """Walking down at 1 m/s-ish (100 px/s at full size) from the road onto the foreground lawn, with the shipped
    rule file and the defaults, at 10 and 5 fps and at half the image size (the scene map scales itself): one
    event, its alarm within 0.5 s of the first frame with the feet on the lawn (the person was confirmed on the
    road already: it may be that very frame)."""
    ys = [280 + 100 * i / fps for i in range(3 * fps)]
    p = lawn_pipeline([[person_at(450 * scale, y * scale, h=100 * scale)] for y in ys])
    image = np.zeros((round(576 * scale), round(768 * scale), 3), np.uint8)
    results = [p.process(image, stamp=i / fps) for i in range(len(ys))]
    on_grass = next(r.stamp for r in results if r.objects[0].background_class == 'grass')
    alarm = next(r.stamp for r in results if r.is_anomalous)
    assert on_grass >= 0.5 and all(r.objects[0].confirmed for r in results if r.stamp >= on_grass)
    assert 0 <= alarm - on_grass <= 0.5 + 1e-9
    assert len({a.event_id for r in results for a in r.anomalies}) == 1


@pytest.mark.parametrize('fps, first', [(10, 0.3), (5, 0.4)])
def test_a_person_appearing_on_the_lawn_alarms_once_confirmed(tmp_path, fps, first):
    (tmp_path / 'r.yaml').write_text('rules:\n  - {id: lawn, objects: [person], forbidden: [grass], '
                                     'sentence: keep off}\n')
    results = run_at(lawn_pipeline([[person_at(300, 450)]], str(tmp_path / 'r.yaml')), fps, 2 * fps)
    assert [r.objects[0].confirmed for r in results] == [r.stamp >= first - 1e-9 for r in results]
    assert next(r.stamp for r in results if r.is_anomalous) == pytest.approx(first)


def test_unconfirmed_objects_count_for_nothing(tmp_path):
    (tmp_path / 'r.yaml').write_text('rules:\n  - {id: two, objects: [person], forbidden: [grass], min_count: 2, '
                                     'sentence: crowd on the lawn}\n')
    frames = [[person_at(300, 450, 0.9), ('person', 0.32, (155.0, 300.0, 185.0, 340.0))]]
    iou = {'tracking.tracker': 'iou'}                  # tracks the weak rock: an unconfirmed object
    results = run_at(lawn_pipeline(frames, str(tmp_path / 'r.yaml'), **iou), 10, 20)
    assert [o.confirmed for o in results[-1].objects] == [True, False] and not any(r.is_anomalous for r in results)
    p = lawn_pipeline(frames, str(tmp_path / 'r.yaml'), **iou, **{'confirm.enabled': False})
    assert all(r.is_anomalous for r in run_at(p, 10, 3))          # without confirmation: both count at once


@pytest.mark.parametrize('reacquire, events', [(1.0, 1), (0.0, 2)])
def test_a_reacquired_person_keeps_the_event_and_the_dwell_timer(tmp_path, reacquire, events):
    """The detector misses a person on the lawn for 3 frames; she comes back 50 px on (no overlap with her last
    box: the IoU tracker starts a new track). Re-acquired, she is the same object: the same event, and her 2 s
    dwell timer goes on; without re-acquisition a second event starts and the dwell time starts again."""
    (tmp_path / 'r.yaml').write_text('rules:\n  - {id: lawn, objects: [person], forbidden: [grass], '
                                     'min_duration: 2, sentence: keep off}\n')
    frames = [[person_at(300, 450)]] * 25 + [[]] * 3 + [[person_at(350, 450)]] * 30
    p = lawn_pipeline(frames, str(tmp_path / 'r.yaml'), **{'events.reacquire_seconds': reacquire,
                                                            'tracking.tracker': 'iou'})
    results = run_at(p, 10, len(frames))
    assert {o.track_id for r in results[28:] for o in r.objects} == ({1} if reacquire else {2})
    ids = [a.event_id for r in results for a in r.anomalies]
    ended = [e for r in results for e in r.events_ended] + p.flush_events()
    assert len(set(ids)) == len(ended) == events
    back = results[28:]
    if reacquire:                       # dwell from her confirmation at 0.3 s: anomalous from 2.3 s on, the gap
        assert [r.is_anomalous for r in results[20:25]] == [False] * 3 + [True] * 2     # bridged by the grace
        assert all(r.is_anomalous for r in back) and back[0].anomalies[0].duration == pytest.approx(2.5)
    else:                               # a new object: 0.3 s to confirm, then 2 s of dwell
        assert next(r.stamp for r in back if r.is_anomalous) == pytest.approx(2.8 + 0.3 + 2.0)


def test_grace_in_seconds_and_the_deprecated_grace_frames(caplog):
    frames = [[person_at(300, 450, 0.9)]] * 10 + [[]] * 30
    for fps in (10, 30):
        p = lawn_pipeline(frames, **{'events.grace_seconds': 0.5, 'confirm.enabled': False})
        results = run_at(p, fps, len(frames))
        (end,) = [r.stamp for r in results if r.events_ended]
        assert 0.5 < end - 9 / fps <= 0.5 + 1 / fps + 1e-9
    with caplog.at_level(logging.WARNING, logger='vad_ros.pipeline'):
        p = lawn_pipeline(frames, **{'persistence.grace_frames': 2, 'confirm.enabled': False})
    assert 'persistence.grace_frames is deprecated' in caplog.text
    results = run_at(p, 30, len(frames))
    assert [r.frame_index for r in results if r.events_ended] == [12]


def test_confirmation_parameters_apply_at_runtime():
    # a person scored 0.45: tracked from a first pass at 0.3 (by default 0.5 and tracks from 0.6: never an object)
    assert not lawn_pipeline([[person_at(300, 450, 0.45)]]).process(VTEST, stamp=0.0).objects
    p = lawn_pipeline([[person_at(300, 450, 0.45)]], **{'tracking.high_score': 0.3})
    assert not any(r.is_anomalous for r in run_at(p, 10, 10))
    p.update_params({'confirm.score': 0.4})
    assert p.process(VTEST, stamp=1.0).is_anomalous                  # confirmed now: the rule fires at once
    p.update_params({'confirm.score': 0.5})
    assert not p.process(VTEST, stamp=1.1).is_anomalous              # and no longer
    p.update_params({'confirm.enabled': False, 'tracking.enabled': False})
    assert p.process(VTEST, stamp=2.0).objects[0].confirmed


# ---------------------------------------------------------------- paper mode against a plain implementation
def paper_reference(objects, labels: np.ndarray, rules_path: Path) -> list[tuple[str, str]]:
    """The paper's rule (Section III), written out plainly: every detection with score >= 0.3, the most frequent
    class among the pixels of its whole box (every class votes; ties: the lowest class index), and the frame is
    anomalous when some (object class, background) pair is forbidden. Returns the forbidden pairs found."""
    forbidden = {(o, b) for rule in yaml.safe_load(rules_path.read_text())['rules']
                 for o in rule['objects'] for b in rule['forbidden']}
    h, w = labels.shape
    found = []
    for name, score, (x0, y0, x1, y1) in objects:
        if score < 0.3:
            continue
        region = labels[max(int(y0), 0):min(int(y1), h - 1) + 1, max(int(x0), 0):min(int(x1), w - 1) + 1]
        if region.size == 0:
            continue
        background = ADE20K_CLASSES[int(np.bincount(region.ravel()).argmax())]
        if (name, background) in forbidden:
            found.append((name, background))
    return found


def test_paper_mode_matches_a_plain_implementation_of_the_paper():
    params = vparams.read_params_file(str(CONFIG / 'paper.yaml'))
    assert (params['tracking.enabled'], params['confirm.enabled'], params['events.grace_seconds']) == \
        (False, False, 0.0)
    rng = np.random.default_rng(23)
    backgrounds = [ADE20K_CLASSES.index(n) for n in ('road', 'sidewalk', 'grass', 'water', 'fence', 'person',
                                                     'car', 'building')]
    classes = ['person', 'car', 'bicycle', 'skateboard', 'truck', 'bus', 'motorcycle', 'dog']
    detector, segmenter = FixedDetector([]), FixedSegmenter(street())
    p = build_pipeline(params, detector, segmenter)
    anomalous = 0
    for frame in range(150):
        blocks = rng.choice(backgrounds, size=(5, 10)).astype(np.uint16)        # 20 x 20 px blocks
        segmenter.labels = np.kron(blocks, np.ones((20, 20), np.uint16))
        objects = []
        for _ in range(rng.integers(0, 6)):
            x0, y0 = rng.integers(-20, 190), rng.integers(-20, 90)
            box = (float(x0), float(y0), float(x0 + rng.integers(1, 60)), float(y0 + rng.integers(1, 60)))
            objects.append((str(rng.choice(classes)), float(np.float32(rng.uniform(0.1, 1.0))), box))
        detector.objects = objects
        result = p.process(IMAGE, stamp=frame / 10)
        expected = paper_reference(objects, segmenter.labels, Path(vparams.__file__).parent / 'data' /
                                   'rules_paper.yaml')
        assert [(a.object_class, a.background_class) for a in result.anomalies] == expected
        assert result.is_anomalous == bool(expected)
        anomalous += bool(expected)
    assert 20 < anomalous < 130                      # both verdicts were exercised


def test_a_tracker_with_a_second_pass_gets_weak_detections_and_only_the_tracked_ones_are_objects():
    from vad_ros.reasoning.tracker import ByteTracker
    weak = [person_at(300, 450, 0.2), ('person', 0.2, (600.0, 100.0, 640.0, 200.0))]
    frames = [[person_at(300, 450, 0.8)]] * 10 + [weak] * 3 + [[person_at(300, 450, 0.8)]] * 3
    p = lawn_pipeline(frames, **{'tracking.tracker': 'iou'})
    assert [len(r.objects) for r in run_at(p, 10, 16)] == [1] * 10 + [0] * 3 + [1] * 3      # IoU tracker: >= 0.3
    p = lawn_pipeline(frames)                                   # the default tracker: byte, low_score 0.1
    tracker = p._tracker
    assert isinstance(tracker, ByteTracker) and tracker.low_score == 0.1
    assert tracker.high_score == 0.5                            # tracking.high_score (above score_threshold)
    p.update_params({'score_threshold': 0.6})
    assert p._tracker is tracker and tracker.high_score == 0.6  # score_threshold where it is higher
    p.update_params({'score_threshold': 0.3, 'tracking.high_score': 0.3})
    assert tracker.high_score == 0.3
    results = run_at(p, 10, 16)
    assert [len(r.objects) for r in results] == [1] * 16        # the lone weak detection continues no track
    assert {o.track_id for r in results for o in r.objects} == {1}
    assert results[11].objects[0].score == pytest.approx(0.2)
    # the median of the last 5 scores: two weak ones are outvoted, three are not, until strong ones are back
    assert [r.objects[0].confirmed for r in results[9:16]] == [True] * 3 + [False] * 3 + [True]


def test_the_default_tracker_gets_the_frame_and_keeps_the_colours_of_what_it_tracks():
    from vad_ros.reasoning import kernels
    p = lawn_pipeline([[person_at(300, 450, 0.8)]])
    image = VTEST.copy()
    image[350:450, 280:320] = (0, 0, 200)                      # a person in red
    p.process(image, stamp=0.0)
    (track,) = p._tracker._tracks
    colours = track[kernels.M_APPEARANCE:kernels.M_APPEARANCE + kernels.APPEARANCE]
    assert track[kernels.M_APPEARANCE_SET] == 1.0 and colours[1] > 0.5          # red: R - G high
    assert np.allclose(colours, kernels.box_appearance(image, np.array([person_at(300, 450)[2]]))[0])


# ---------------------------------------------------------------- the tracker parameters (tracking.*)
def test_the_default_tracker_continues_a_track_through_weak_detections_and_the_iou_tracker_does_not():
    frames = [[person_at(300, 450, 0.8)]] * 10 + [[person_at(300, 450, 0.2)]] * 3 + [[person_at(300, 450, 0.8)]] * 3
    byte = run_at(lawn_pipeline(frames), 10, 16)
    assert [len(r.objects) for r in byte] == [1] * 16 and {o.track_id for r in byte for o in r.objects} == {1}
    iou = run_at(lawn_pipeline(frames, **{'tracking.tracker': 'iou'}), 10, 16)
    assert [len(r.objects) for r in iou] == [1] * 10 + [0] * 3 + [1] * 3


def test_low_score_is_the_floor_of_the_second_pass_and_applies_at_runtime():
    p = lawn_pipeline([[person_at(300, 450, 0.8)]] * 5 + [[person_at(300, 450, 0.2)]] * 10)
    assert [len(r.objects) for r in run_at(p, 10, 7)] == [1] * 7
    p.update_params({'tracking.low_score': 0.25})
    assert p.process(VTEST, stamp=0.7).objects == []          # 0.2 is below the new floor


@pytest.mark.parametrize('fps', [10, 5])
def test_lost_seconds_is_how_long_a_lost_track_can_come_back_at_any_frame_rate(fps):
    """Someone walking right at 100 px/s is missed for 1.5 s and found again where the motion leads: the same
    track with lost_seconds 2, a new one with 1 (re-acquisition off, so the object id shows the track)."""
    xs = [100 + 100 * i / fps for i in range(4 * fps)]
    frames = [[] if 2 * fps <= i < 2 * fps + round(1.5 * fps) else [person_at(x, 450, 0.8)] for i, x in enumerate(xs)]

    def ids(lost_seconds):
        p = lawn_pipeline(frames, **{'tracking.lost_seconds': lost_seconds, 'events.reacquire_seconds': 0.0})
        return {o.track_id for r in run_at(p, fps, len(frames)) for o in r.objects}
    assert ids(2.0) == {1} and ids(1.0) == {1, 2}


def test_the_tracker_is_switched_at_runtime_and_ids_are_never_reused():
    p = lawn_pipeline([[person_at(300, 450, 0.8)]])
    assert {o.track_id for r in run_at(p, 10, 5) for o in r.objects} == {1}
    p.update_params({'tracking.tracker': 'iou'})
    later = [p.process(VTEST, stamp=0.5 + i / 10) for i in range(5)]
    assert {o.track_id for r in later for o in r.objects} == {2}           # new objects: confirmed anew
    assert [r.objects[0].confirmed for r in later] == [False] * 3 + [True] * 2
    p.update_params({'tracking.tracker': 'iou', 'score_threshold': 0.3})    # the same tracker: kept
    assert p.process(VTEST, stamp=1.0).objects[0].track_id == 2
    p.update_params({'tracking.tracker': 'byte'})
    assert p.process(VTEST, stamp=1.1).objects[0].track_id == 3


def test_lost_seconds_changed_at_runtime_applies_to_the_tracks_the_tracker_already_has():
    """Seen at 0 and 0.1 s, back at 1.8 s (1.7 s after): with lost_seconds 2.5 the same track; lowered to 1.5
    while the track is lost, a new one (the tracker is kept, so ids go on counting; re-acquisition off)."""
    frames = [[person_at(300, 450, 0.8)]] * 2 + [[]] * 16 + [[person_at(300, 450, 0.8)]]

    def last_id(lower_at):
        p = lawn_pipeline(frames, **{'tracking.lost_seconds': 2.5, 'events.reacquire_seconds': 0.0})
        tracker, results = p._tracker, []
        for i in range(len(frames)):
            if i == lower_at:
                p.update_params({'tracking.lost_seconds': 1.5})
            results.append(p.process(VTEST, stamp=i / 10))
        assert p._tracker is tracker and tracker.lost_seconds == (2.5 if lower_at is None else 1.5)
        return results[-1].objects[0].track_id
    assert last_id(None) == 1 and last_id(5) == 2


@pytest.mark.parametrize('name, value, message', [
    ('tracking.tracker', 'sort', "is not one of 'byte', 'iou'"),
    ('tracking.low_score', 1.5, 'must be between 0.0 and 1.0'),
    ('tracking.lost_seconds', -1.0, 'must be between 0.0 and 60.0')])
def test_tracker_parameters_are_checked_and_apply_at_runtime(name, value, message):
    assert not vparams.SPECS[name].read_only
    p = lawn_pipeline([])
    with pytest.raises(vparams.ParamError, match=message):
        p.update_params({name: value})
