"""The rule engine on constructed tracks: one test (or more) per condition of the rule language, sentences,
events, stamps that jump or go backwards, validation against the scene map."""
import logging

import numpy as np
import pytest

from vad_ros.reasoning.engine import RuleEngine
from vad_ros.reasoning.rules import PAPER_RULES_PATH, RuleFileError, load_rules, parse_rules
from vad_ros.reasoning.scene_map import SceneMapError, scene_map_from_dict
from vad_ros.types import END_STAMP_JUMP, ObjectReport

SCENE = {
    'image_size': [200, 200],
    'regions': [{'label': 'grass', 'polygon': [[0, 0], [200, 0], [200, 100], [0, 100]]},
                {'label': 'road', 'polygon': [[0, 100], [200, 100], [200, 200], [0, 200]]}],
    'zones': [{'name': 'bay', 'polygon': [[100, 100], [200, 100], [200, 200], [100, 200]]},
              {'name': 'door', 'polygon': [[0, 0], [20, 0], [20, 20], [0, 20]]}],
    'tripwires': [{'name': 'gate', 'points': [[0, 150], [200, 150]], 'tolerance': 2}],
    'ignore': [{'name': 'tree', 'polygon': [[0, 180], [50, 180], [50, 200], [0, 200]]}],
    'calibration': [{'image': [0, 0], 'ground': [0, 20]}, {'image': [200, 0], 'ground': [20, 20]},
                    {'image': [200, 200], 'ground': [20, 0]}, {'image': [0, 200], 'ground': [0, 0]}],
}                                                   # 10 px = 1 m; ground y grows up the image
SIZE = (200, 200)


def scene(**changes):
    return scene_map_from_dict({**SCENE, **changes}, 'scene.yaml')


def rules(body: str, scene_map=None):
    text = 'rules:\n' + '\n'.join('  ' + line for line in body.strip().splitlines()) + '\n'
    return parse_rules(text, 'r.yaml', None, None, scene_map if scene_map is not None else scene())


def engine(body: str, **kwargs):
    s = kwargs.pop('scene_map', None) or scene()
    return RuleEngine(rules(body, s), s, **kwargs)


def obj(x, y, track=1, cls='person', score=0.9, bg=None, frac=1.0, w=10.0, h=30.0):
    """An object whose ground point (bottom centre) is (x, y); background from the scene's halves."""
    if bg is None:
        bg = 'grass' if y < 100 else 'road'
    return ObjectReport(cls, score, (x - w / 2, y - h, x + w / 2, y), bg, frac, track)


def fire(e, frames, stamps=None, start=0):
    """[(anomalies, events)] per frame of object lists."""
    stamps = stamps or [i / 10 for i in range(len(frames))]
    out = []
    for i, (objects, t) in enumerate(zip(frames, stamps)):
        r = e.evaluate(objects, start + i, t, SIZE)
        out.append((r.anomalies, r.events))
    return out


def sentences(result):
    return [[a.sentence for a in anomalies] for anomalies, _ in result]


# ---------------------------------------------------------------- the paper's rules, unchanged
def test_paper_rules_give_the_paper_sentences_and_scores():
    e = RuleEngine(load_rules(PAPER_RULES_PATH), None, region='box')
    r = e.evaluate([obj(50, 150, track=0, score=0.87, frac=0.43), obj(50, 150, 0, 'car', 0.31, 'sidewalk', 1.0),
                    obj(50, 50, 0, score=0.9)], 0, None)
    assert [a.sentence for a in r.anomalies] == [
        'person (0.87) on road (43% of box): people must not be on the road, in the water or on a fence',
        'car (0.31) on sidewalk (100% of box): cars must not drive on the sidewalk']
    assert [a.score for a in r.anomalies] == [0.87 * 0.43 * 1.0, 0.31 * 1.0 * 1.0]
    assert [e.state for e in r.events] == ['started', 'started']


# ---------------------------------------------------------------- allow-lists
def test_allowed_flags_every_other_background():
    e = engine('- {id: cars, objects: [car], allowed: [road, parking], sentence: cars belong on the road}')
    r = e.evaluate([obj(50, 150, 1, 'car'), obj(50, 50, 2, 'car'), obj(50, 50, 3, 'car', bg='sidewalk'),
                    ObjectReport('car', 0.9, (0, 0, 1, 1), None, 0.0, 4)], 0, 0.0, SIZE)
    assert [a.track_id for a in r.anomalies] == [2, 3]
    assert r.anomalies[0].sentence == ('car (0.90) on grass (100% of footprint; allowed only on parking, road): '
                                       'cars belong on the road')


# ---------------------------------------------------------------- zones
def test_in_zone_and_not_in_zone_by_the_ground_point():
    e = engine('''
- {id: in-bay, objects: [person], in_zone: bay, sentence: 'no one in the {zone}'}
- {id: off-door, objects: [person], not_in_zone: [door, bay], sentence: away from the door}''')
    r = e.evaluate([obj(150, 150, 1), obj(10, 10, 2), obj(50, 50, 3), obj(150, 99, 4)], 0, 0.0, SIZE)
    assert sorted((a.rule_id, a.track_id) for a in r.anomalies) == [('in-bay', 1), ('off-door', 3),
                                                                     ('off-door', 4)]
    assert r.anomalies[0].sentence == 'person (0.90) in bay: no one in the bay'
    assert r.anomalies[0].score == pytest.approx(0.9 * 0.75)
    assert r.anomalies[1].sentence == 'person (0.90) outside door, bay: away from the door'


# ---------------------------------------------------------------- counts
def test_min_count_is_one_group_anomaly_with_its_members():
    e = engine('- {id: crowd, objects: [person], in_zone: bay, min_count: 3, sentence: too crowded}')
    two = [obj(120, 150, 1), obj(150, 150, 2), obj(50, 150, 3)]
    three = two + [obj(180, 190, 4)]
    out = fire(e, [two, three])
    assert out[0][0] == []
    (a,) = out[1][0]
    assert (a.track_id, a.members, a.box) == (0, (1, 2, 4), (115.0, 120.0, 185.0, 190.0))
    assert a.sentence == '3 people in bay at once (min 3): too crowded'


def test_max_count_flags_too_few_even_none():
    e = engine('- {id: guard, objects: [person], in_zone: door, max_count: 0, sentence: the door is unguarded}')
    (a,) = e.evaluate([obj(150, 150)], 0, 0.0, SIZE).anomalies
    assert a.sentence == '0 people in door at once (max 0): the door is unguarded'
    assert a.box == (0.0, 0.0, 20.0, 20.0) and a.members == ()
    assert e.evaluate([obj(10, 10)], 1, 0.1, SIZE).anomalies == []


# ---------------------------------------------------------------- object filters
def test_area_and_ratio_filters():
    e = engine('- {id: big, objects: [person], in_zone: bay, min_area: 500, max_ratio: 0.5, sentence: big}')
    r = e.evaluate([obj(150, 150, 1, w=10, h=30), obj(150, 150, 2, w=20, h=30), obj(150, 150, 3, w=20, h=60)],
                   0, 0.0, SIZE)
    assert [a.track_id for a in r.anomalies] == [3]
    assert r.anomalies[0].sentence == 'person (0.90) in bay box 1200 px (min 500) width/height 0.33 (max 0.5): big'


# ---------------------------------------------------------------- motion
def track_moving(e, dx, dy, frames=6, x=100.0, y=120.0):
    return fire(e, [[obj(x + dx * i, y + dy * i)] for i in range(frames)])


def test_min_speed_in_pixels_and_metres_per_second():
    px = engine("- {id: run, objects: [person], min_speed: '80 px/s', sentence: running}")
    assert [len(a) for a, _ in track_moving(px, 10, 0)] == [0, 0, 0, 1, 1, 1]       # 100 px/s after 0.3 s
    assert [len(a) for a, _ in track_moving(engine("- {id: run, objects: [person], min_speed: '120 px/s', "
                                                   "sentence: running}"), 10, 0)] == [0] * 6
    m = engine("- {id: run, objects: [person], min_speed: '9 m/s', sentence: running}")
    out = track_moving(m, 10, 0)                                                     # 10 m/s
    assert out[3][0][0].sentence == 'person (0.90) at 10.0 m/s (min 9.0 m/s): running'
    slow = engine("- {id: stopped, objects: [person], max_speed: '1 km/h', sentence: stopped}")
    assert [len(a) for a, _ in track_moving(slow, 0, 0)] == [0, 0, 0, 1, 1, 1]


def test_direction_of_motion_as_a_compass_range_and_towards_a_zone():
    up = engine('- {id: north, objects: [person], direction: [315, 45], sentence: going north}')
    assert [len(a) for a, _ in track_moving(up, 0, -10, y=190)] == [0, 0, 0, 1, 1, 1]
    assert [len(a) for a, _ in track_moving(up, 10, 0)] == [0] * 6
    towards = engine('- {id: to-bay, objects: [person], direction: towards bay, sentence: approaching}')
    assert [len(a) for a, _ in track_moving(towards, 10, 10, x=20, y=20)] == [0, 0, 0, 1, 1, 1]
    away = engine('- {id: from-bay, objects: [person], direction: away from bay, sentence: leaving}')
    assert [len(a) for a, _ in track_moving(away, 10, 10, x=20, y=20)] == [0] * 6


# ---------------------------------------------------------------- tripwires
def test_crossing_a_tripwire_by_direction():
    body = '- {{id: c, objects: [person], crossing: gate, direction: {d}, sentence: crossed}}'
    ys = [170, 160, 140, 130]                     # moving up across y = 150: "in"
    frames = [[obj(100, y)] for y in ys]
    assert [len(a) for a, _ in fire(engine(body.format(d='in')), frames)] == [0, 0, 1, 0]
    assert [len(a) for a, _ in fire(engine(body.format(d='out')), frames)] == [0, 0, 0, 0]
    out = fire(engine(body.format(d='any'), grace_frames=0), frames)
    assert out[2][0][0].sentence == 'person (0.90) crossed gate inward: crossed'
    assert [[e.state for e in events] for _, events in out] == [[], [], ['started'], ['ended']]


def test_counting_crossings_over_a_window():
    e = engine('- {id: rush, objects: [person], crossing: gate, direction: in, min_count: 3, window: 60, '
               'sentence: crowd entering}')
    frames = [[obj(20, 170, 1), obj(60, 170, 2), obj(100, 170, 3)],
              [obj(20, 140, 1), obj(60, 170, 2), obj(100, 170, 3)],
              [obj(20, 130, 1), obj(60, 140, 2), obj(100, 140, 3)]]
    out = fire(e, frames, [0.0, 10.0, 20.0])
    assert [len(a) for a, _ in out] == [0, 0, 1]
    assert out[2][0][0].sentence == '3 people crossed gate inward in the last 60 s (min 3): crowd entering'
    assert fire(e, [[]], [75.0], start=3)[0][0] == []                 # the first crossing left the window


# ---------------------------------------------------------------- ignore masks
def test_ignore_masks_by_ground_point():
    e = engine('- {id: any, objects: [person], forbidden: [road], sentence: s}')
    boxes = np.array([[10, 150, 20, 190], [60, 150, 70, 190], [10, 100, 20, 170]], float)
    assert e.ignored(boxes, 200, 200).tolist() == [True, False, False]
    assert e.ignored(boxes * 2, 400, 400).tolist() == [True, False, False]      # scaled with the frame


# ---------------------------------------------------------------- schedules
def test_rules_apply_only_when_the_stamp_is_in_their_schedule():
    e = engine("- {id: night, objects: [person], in_zone: bay, active: ['22:00-06:00'], sentence: after hours}")
    day = 12 * 3600.0
    night = 23 * 3600.0
    assert e.evaluate([obj(150, 150)], 0, day, SIZE).anomalies == []
    (a,) = e.evaluate([obj(150, 150)], 1, night, SIZE).anomalies
    assert a.sentence == 'person (0.90) in bay during 22:00-06:00: after hours'
    assert e.evaluate([obj(150, 150)], 2, None, SIZE).anomalies == []


def test_a_schedule_across_midnight_keeps_an_event_going():
    e = engine("- {id: night, objects: [person], in_zone: bay, active: ['22:00-06:00'], sentence: late}")
    stamps = [86400 - 1.0, 86400 - 0.5, 86400.0, 86400 + 0.5]         # 23:59:59 .. 00:00:00.5 next day
    out = fire(e, [[obj(150, 150)]] * 4, stamps)
    assert [len(a) for a, _ in out] == [1, 1, 1, 1]
    assert len({a[0].event_id for a, _ in out}) == 1


# ---------------------------------------------------------------- dwell, cooldown, stamps
def test_dwell_on_the_lawn_with_its_time_in_the_sentence():
    e = engine('- {id: lawn, objects: [person], forbidden: [grass], min_duration: 1, '
               'sentence: keep off the grass}')
    out = fire(e, [[obj(50, 50)]] * 14)
    assert [len(a) for a, _ in out].index(1) == 10
    assert out[12][0][0].sentence == 'person (0.90) on grass (100% of footprint) for 1.2 s (min 1 s): keep off the grass'
    timers = e.evaluate([obj(50, 50)], 14, 1.4, SIZE).overlay.timers
    assert [(t.track_id, t.rule_id, round(t.held, 3), t.needed) for t in timers] == [(1, 'lawn', 1.4, 1.0)]


def test_cooldown_in_seconds_between_events_of_a_track():
    e = engine('- {id: c, objects: [person], crossing: gate, cooldown: 5, sentence: crossed}', grace_frames=0)
    ys = [160, 140, 130, 160, 170, 140]           # in at 1 s, out at 3 s (cooling down until 6 s), in at 7 s
    out = fire(e, [[obj(100, y)] for y in ys], [0.0, 1.0, 2.0, 3.0, 4.0, 7.0])
    assert [len(a) for a, _ in out] == [0, 1, 0, 0, 0, 1]
    assert [a[0].event_id for a, _ in out if a] == [1, 2]


def test_stamps_that_go_backwards_end_events_and_restart_timers(caplog):
    e = engine('- {id: lawn, objects: [person], forbidden: [grass], min_duration: 0.5, sentence: s}')
    out = fire(e, [[obj(50, 50)]] * 8, [0.0, 0.2, 0.4, 0.6, 0.8, 0.1, 0.3, 0.6])
    assert [len(a) for a, _ in out] == [0, 0, 0, 1, 1, 0, 0, 1]
    assert [(e.state, e.event_id, e.end_reason) for e in out[5][1]] == [('ended', 1, 'stamp jump')]
    assert out[7][0][0].event_id == 2
    assert 'went from 0.800 to 0.100 s (backwards)' in caplog.text


def test_a_forward_jump_ends_the_open_events_saying_so_and_grace_ends_say_nothing():
    e = engine('- {id: bay, objects: [person], in_zone: bay, sentence: s}', grace_seconds=1.0, max_stamp_gap=5.0)
    here = [obj(150, 150)]
    out = fire(e, [here, here, here, here, [], []], [0.0, 0.1, 5.1, 10.2, 10.3, 12.0])
    assert [len(a) for a, _ in out] == [1, 1, 1, 1, 0, 0]
    assert [[(x.state, x.event_id) for x in ev] for _, ev in out] == [
        [('started', 1)], [('ongoing', 1)], [('ongoing', 1)],
        [('ended', 1), ('started', 2)], [], [('ended', 2)]]            # 5.1 s -> 10.2 s: more than 5 s
    jumped, grace = out[3][1][0], out[5][1][0]
    assert (jumped.end_reason, jumped.end_stamp) == (END_STAMP_JUMP, 5.1)   # ended where it was last seen
    assert grace.end_reason == ''                          # its grace ran out ('grace expired' on ~/events)


def test_a_forward_jump_of_the_stamps_does_not_count_as_dwell():
    e = engine('- {id: lawn, objects: [person], forbidden: [grass], min_duration: 5, sentence: s}',
               max_stamp_gap=2.0)
    out = fire(e, [[obj(50, 50)]] * 4, [0.0, 0.1, 100.0, 100.1])
    assert [len(a) for a, _ in out] == [0, 0, 0, 0]


def test_tracks_that_vanish_within_grace_keep_their_event():
    e = engine('- {id: bay, objects: [person], in_zone: bay, sentence: s}', grace_frames=2)
    out = fire(e, [[obj(150, 150)], [], [], [obj(150, 150)], [], [], []])
    assert [len(a) for a, _ in out] == [1, 0, 0, 1, 0, 0, 0]
    assert [[x.state for x in ev] for _, ev in out] == [['started'], [], [], ['ongoing'], [], [], ['ended']]


# ---------------------------------------------------------------- overlay
def test_overlay_has_zones_tripwires_with_counts_and_masks_in_frame_pixels():
    e = engine('- {id: any, objects: [person], forbidden: [road], sentence: s}')
    fire(e, [[obj(100, 160)], [obj(100, 140)]])
    o = e.evaluate([], 2, 0.2, (400, 400)).overlay
    assert [name for name, _ in o.zones] == ['bay', 'door'] and o.zones[0][1].max() == 400
    assert [(n, i, out) for n, _, i, out in o.tripwires] == [('gate', 1, 0)]
    assert len(o.ignore) == 1


# ---------------------------------------------------------------- validation against the scene map
@pytest.mark.parametrize('body, error', [
    ('- {id: a, objects: [person], in_zone: bya, sentence: s}',
     r"r.yaml:2: rule 'a': unknown zone 'bya' \(scene map 'scene.yaml' has bay, door \(closest known: bay\)\)"),
    ('- {id: a, objects: [person], crossing: gat, sentence: s}', r"unknown tripwire 'gat'.*closest known: gate"),
    ('- {id: a, objects: [person], direction: towards dor, sentence: s}', r"unknown zone 'dor'"),
])
def test_unknown_places_are_named_with_the_closest(body, error):
    with pytest.raises(RuleFileError, match=error):
        rules(body)


def test_metres_per_second_need_a_calibration_and_zones_need_a_scene_map():
    no_cal = scene(calibration=None)
    with pytest.raises(RuleFileError, match=r"r.yaml:2: rule 'a': a speed in m/s needs a ground-plane calibration"):
        rules("- {id: a, objects: [person], min_speed: '2 m/s', sentence: s}", no_cal)
    with pytest.raises(RuleFileError, match="unknown zone 'bay' \\(set scene_map_file to a scene map with zones\\)"):
        RuleEngine(parse_rules('rules:\n  - {id: a, objects: [person], in_zone: bay, sentence: s}\n', 'r.yaml'),
                   None)


def test_replace_rules_checks_places_and_keeps_the_old_rules_on_error():
    e = engine('- {id: a, objects: [person], in_zone: bay, sentence: s}')
    bad = parse_rules('rules:\n  - {id: b, objects: [person], in_zone: nowhere, sentence: s}\n', 'r.yaml')
    with pytest.raises(RuleFileError):
        e.replace_rules(bad)
    assert [r.id for r in e.rules] == ['a']


@pytest.mark.parametrize('changes, error', [
    ({'tripwires': [{'name': 'g', 'points': [[0, 0]]}]}, r"tripwire 0 \('g'\): 'points' must be a list of at "
                                                         r"least 2"),
    ({'tripwires': [{'name': 'g', 'points': [[0, 0], [0, 0]]}]}, 'two consecutive points are the same'),
    ({'zones': [{'name': 'a', 'polygon': [[0, 0], [1, 0], [1, 1]]}] * 2}, "two zones are named 'a'"),
    ({'zones': [{'nme': 'a', 'polygon': [[0, 0], [1, 0], [1, 1]]}]}, r"unknown key 'nme' \(did you mean 'name'"),
    ({'calibration': [{'image': [0, 0], 'ground': [0, 0]}] * 3}, 'at least 4'),
    ({'calibration': [{'image': [i, i], 'ground': [i, 0]} for i in range(4)]}, 'do not define a ground plane'),
    ({'zone': []}, r"unknown key 'zone' \(did you mean 'zones'"),
])
def test_bad_scene_places_are_clear_errors(changes, error):
    with pytest.raises(SceneMapError, match=error):
        scene(**changes)


def test_a_scene_map_of_places_only_needs_no_regions():
    s = scene_map_from_dict({'image_size': [10, 10], 'zones': [{'name': 'a', 'polygon': [[0, 0], [5, 0], [5, 5]]}]})
    assert s.labels == () and s.zone_names == ('a',)
    assert scene_map_from_dict(s.to_dict()).zone_names == ('a',)


def test_no_stamp_warns_once_for_time_rules(caplog):
    e = engine('- {id: lawn, objects: [person], forbidden: [grass], min_duration: 1, sentence: s}')
    with caplog.at_level(logging.WARNING):
        e.evaluate([obj(50, 50)], 0, None, SIZE)
        e.evaluate([obj(50, 50)], 1, None, SIZE)
    assert caplog.text.count('without a stamp') == 1


def test_scene_map_errors_name_the_line(tmp_path):
    from vad_ros.reasoning.scene_map import load_scene_map
    path = tmp_path / 'site.yaml'
    path.write_text('image_size: [10, 10]\nzones:\n  - name: a\n    polygon: [[0, 0], [1, 0], [1, 1]]\n'
                    'tripwires:\n  - name: g\n    points: [[0, 0]]\n')
    with pytest.raises(SceneMapError, match=r"site.yaml' line 6, tripwire 0 \('g'\): 'points' must be a list of at "
                                            r"least 2"):
        load_scene_map(path)


def test_new_anomaly_equals_the_dataclass_constructor():
    import dataclasses
    from vad_ros.types import Anomaly, new_anomaly
    fast = new_anomaly('person', 0.9, 'road', 0.5, (1.0, 2.0, 3.0, 4.0), 'r', 'warning', 7, 0.3)
    assert fast == Anomaly('person', 0.9, 'road', 0.5, (1.0, 2.0, 3.0, 4.0), 'r', 'warning', '', 7, 1, 0.3)
    assert set(vars(fast)) == {f.name for f in dataclasses.fields(Anomaly)}      # every field, no other
    assert hash(fast) == hash(dataclasses.replace(fast))


@pytest.mark.parametrize('fps', [10, 4])
def test_objects_that_vanish_within_grace_seconds_keep_their_event(fps):
    e = engine('- {id: bay, objects: [person], in_zone: bay, sentence: s}', grace_seconds=0.5)
    pattern = [1, 0, 1] + [0] * fps                   # back after 2 / fps <= 0.5 s; then gone for good
    out = fire(e, [[obj(150, 150)] if on else [] for on in pattern], [i / fps for i in range(len(pattern))])
    states = [[x.state for x in ev] for _, ev in out]
    assert states[:3] == [['started'], [], ['ongoing']]
    (end,) = [i for i, s in enumerate(states) if s == ['ended']]
    assert (end - 1 - 2) / fps <= 0.5 < (end - 2) / fps
    assert e.grace_seconds == 0.5 and e.grace_frames is None
