"""Event-level evaluation (vad_ros.offline.event_metrics): incident label files, incidents caught, events per
incident, false events per hour, time to the first alarm, RBDC / TBDC on hand-computed cases and against
py-ssvad-metrics (a GPLv3 test-only oracle, skipped when it is not installed), and vad-video --labels / vad-eval
--incidents end to end on real frames of vtest.avi."""
from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vad_ros import limits
from vad_ros.errors import VadError
from vad_ros.offline import evaluate, event_metrics as em, runner
from vad_ros.offline.event_metrics import Incident, LabelError, Timeline, VideoIncidents
from vad_ros.types import Event


def ev(start, end, event_id=None, object_class='person', rule_id='keep-off-the-grass'):
    """A row of events.jsonl."""
    return {'event_id': event_id, 'start_frame': start, 'end_frame': end, 'object_class': object_class,
            'rule_id': rule_id}


def video(*incidents, name='v'):
    return VideoIncidents(name, tuple(incidents))


# ------------------------------------------------------------------------------------------------ events

def test_two_events_on_one_incident_and_a_false_one():
    labels = video(Incident('a', 10, 20))
    r = em.evaluate_events([ev(12, 14, 1), ev(18, 25, 2), ev(100, 110, 3)], labels, Timeline(200, fps=10.0))
    assert (r['incidents'], r['caught'], r['caught_rate']) == (1, 1, 1.0)
    assert (r['events'], r['matching_events'], r['events_per_incident']) == (3, 2, 2.0)
    assert r['false_events'] == 1
    assert r['seconds'] == pytest.approx(20.0)
    assert r['false_events_per_hour'] == pytest.approx(1 / (20 / 3600))     # 180 per hour
    assert r['alarm_precision'] == pytest.approx(2 / 3)
    assert r['per_incident'][0]['events'] == [1, 2] and r['missed'] == []


def test_time_to_first_alarm():
    labels = video(Incident('a', 10, 20), Incident('b', 50, 60), Incident('c', 80, 90))
    events = [ev(18, 19), ev(13, 16), ev(45, 52)]                 # a: first alarm at 13; b: already on at 50
    r = em.evaluate_events(events, labels, Timeline(100, fps=10.0))
    delays = {e['id']: e['first_alarm_delay_s'] for e in r['per_incident']}
    assert delays == {'a': pytest.approx(0.3), 'b': 0.0, 'c': None}
    assert r['per_incident'][0]['first_alarm_frame'] == 13
    assert r['first_alarm_delay_median_s'] == pytest.approx(0.15)
    assert r['first_alarm_delay_max_s'] == pytest.approx(0.3)
    assert r['missed'] == ['c'] and r['caught'] == 2


def test_delays_and_hours_follow_the_frame_stamps():
    stamps = (100.0, 100.5, 101.5, 103.0, 103.5)                  # irregular, absolute (a bag's header stamps)
    r = em.evaluate_events([ev(3, 4)], video(Incident('a', 1, 4)), Timeline(5, stamps=stamps))
    assert r['per_incident'][0]['first_alarm_delay_s'] == pytest.approx(2.5)
    assert r['seconds'] == pytest.approx(3.5 * 5 / 4)


def test_seconds_intervals_and_incidents_outside_the_run():
    labels = video(Incident('s', start_s=1.0, end_s=2.0), Incident('late', 500, 600), Incident('clipped', 90, 150))
    r = em.evaluate_events([ev(20, 22), ev(95, 99)], labels, Timeline(100, fps=10.0))
    spans = {e['id']: (e['first_frame'], e['last_frame']) for e in r['per_incident']}
    assert spans == {'s': (10, 20), 'clipped': (90, 99)}
    assert r['outside_run'] == ['late'] and r['incidents'] == 2 and r['caught'] == 2
    with pytest.raises(LabelError, match="incident 's' is given in seconds"):
        em.evaluate_events([], labels, Timeline(100))


def test_class_and_rule_must_agree_where_the_incident_names_them():
    labels = video(Incident('a', 0, 10, object_class='person', rule_id='keep-off-the-grass'))
    r = em.evaluate_events([ev(2, 3, object_class='car'), ev(2, 3, rule_id='no-cars')], labels, Timeline(20, fps=10))
    assert r['caught'] == 0 and r['false_events'] == 2
    r = em.evaluate_events([ev(2, 3, object_class='car')], video(Incident('a', 0, 10)), Timeline(20, fps=10))
    assert r['caught'] == 1


def test_events_as_core_events():
    e = Event('keep-off-the-grass', 4, 'person', 'grass', 5, 9, 0.5, 0.9, 0.7, 'x', event_id=7)
    r = em.evaluate_events([e], video(Incident('a', 8, 12)), Timeline(20, fps=10.0))
    assert r['caught'] == 1 and r['per_incident'][0]['events'] == [7]
    assert r['per_incident'][0]['first_alarm_delay_s'] == 0.0


def test_empty_cases():
    r = em.evaluate_events([], video(), Timeline(50, fps=10.0))
    assert (r['incidents'], r['events'], r['false_events'], r['false_events_per_hour']) == (0, 0, 0, 0.0)
    assert math.isnan(r['caught_rate']) and math.isnan(r['events_per_incident'])
    assert math.isnan(r['first_alarm_delay_median_s']) and r['regions'] is None
    r = em.evaluate_events([], video(Incident('a', 1, 2)), Timeline(50, fps=10.0))
    assert (r['caught'], r['caught_rate'], r['missed']) == (0, 0.0, ['a'])
    assert math.isnan(r['events_per_incident']) and math.isnan(r['alarm_precision'])
    r = em.evaluate_events([ev(1, 2)], video(), Timeline(50))            # no frame times: no rate per hour
    assert r['false_events'] == 1 and math.isnan(r['false_events_per_hour'])


def test_matching_in_space_uses_the_event_boxes():
    inc = Incident('a', 0, 10, keyframes=((0, (0.0, 0.0, 10.0, 10.0)), (10, (100.0, 0.0, 110.0, 10.0))))
    elsewhere = [{'frame_index': 5, 'box': [300, 300, 310, 310], 'event_id': 1}]
    here = [{'frame_index': 5, 'box': [50, 0, 60, 10], 'event_id': 1}]        # the interpolated box at frame 5
    timeline = Timeline(20, fps=10.0)
    assert em.evaluate_events([ev(4, 6, 1)], video(inc), timeline, elsewhere)['caught'] == 0
    assert em.evaluate_events([ev(4, 6, 1)], video(inc), timeline, elsewhere, match='time')['caught'] == 1
    r = em.evaluate_events([ev(4, 6, 1)], video(inc), timeline, here)
    assert r['caught'] == 1 and r['per_incident'][0]['matched_in'] == 'space'
    assert em.evaluate_events([ev(4, 6, 1)], video(inc), timeline)['per_incident'][0]['matched_in'] == 'time'


def test_boxes_are_interpolated_between_key_frames():
    inc = Incident('a', 0, 10, keyframes=((0, (0.0, 0.0, 10.0, 10.0)), (4, (40.0, 0.0, 50.0, 20.0)),
                                          (10, (40.0, 0.0, 50.0, 20.0))))
    assert inc.box_at(2) == pytest.approx((20.0, 0.0, 30.0, 15.0))
    assert inc.box_at(4) == (40.0, 0.0, 50.0, 20.0) and inc.box_at(7) == pytest.approx((40.0, 0.0, 50.0, 20.0))
    assert inc.box_at(11) is None


def test_pooling_videos():
    a = em.evaluate_events([ev(1, 2), ev(30, 31)], video(Incident('x', 0, 5)), Timeline(100, fps=10.0))
    b = em.evaluate_events([ev(12, 13)], video(Incident('y', 10, 20), Incident('z', 40, 45)), Timeline(50, fps=10.0))
    c = em.combine([a, b])
    assert (c['incidents'], c['caught'], c['events'], c['matching_events'], c['false_events']) == (3, 2, 3, 2, 1)
    assert c['seconds'] == pytest.approx(15.0) and c['false_events_per_hour'] == pytest.approx(240.0)
    assert c['first_alarm_delay_max_s'] == pytest.approx(0.2) and c['videos'] == 2


# ------------------------------------------------------------------------------------------------ RBDC / TBDC

def box_track(name, first, last, box):
    return Incident(name, first, last, keyframes=((first, box), (last, box)))


def det(frame, box, score=1.0):
    return {'frame_index': frame, 'box': list(box), 'score': score}


def test_rbdc_tbdc_hand_computed():
    a = box_track('a', 0, 9, (0.0, 0.0, 10.0, 10.0))          # 10 regions
    b = box_track('b', 20, 29, (100.0, 100.0, 110.0, 110.0))  # 10 regions
    dets = [det(0, (0, 0, 10, 10)),        # IoU 1: region a@0 detected
            det(1, (5, 0, 15, 10)),        # IoU 50/150 = 0.33: a@1 detected
            det(2, (9, 0, 19, 10)),        # IoU 10/190 = 0.053 < 0.1: a@2 missed, and a false positive
            det(50, (0, 0, 5, 5)),         # nothing labelled in frame 50: a false positive
            det(20, (100, 100, 110, 110)),  # b@20 detected
            det(20, (100, 100, 110, 110))]  # the same box again (two rules): counted once
    r = em.evaluate_events([], video(a, b), Timeline(100, fps=10.0), dets)['regions']
    assert (r['regions'], r['regions_detected'], r['rbdr']) == (20, 3, 0.15)
    assert (r['tracks'], r['tracks_detected'], r['tbdr']) == (2, 2, 1.0)      # 2/10 and 1/10 >= 10 %
    assert (r['detections'], r['false_positive_regions']) == (5, 2)
    assert r['false_positives_per_frame'] == pytest.approx(0.02)


def test_tbdc_needs_ten_percent_of_the_track():
    a = box_track('a', 0, 29, (0.0, 0.0, 10.0, 10.0))          # 30 regions: 3 needed
    dets = [det(f, (0, 0, 10, 10)) for f in (0, 1)]
    assert em.evaluate_events([], video(a), Timeline(30), dets)['regions']['tracks_detected'] == 0
    dets.append(det(2, (0, 0, 10, 10)))
    assert em.evaluate_events([], video(a), Timeline(30), dets)['regions']['tracks_detected'] == 1


def test_region_areas_over_the_score_sweep():
    a = box_track('a', 0, 1, (0.0, 0.0, 10.0, 10.0))
    dets = [det(0, (0, 0, 10, 10), 0.9), det(1, (50, 50, 60, 60), 0.5)]
    r = em.evaluate_events([], video(a), Timeline(2), dets)['regions']
    # t=0.9: (FP/frame 0, RBDR 0.5, TBDR 1); t=0.5: (0.5, 0.5, 1); held to 1 FP/frame
    assert r['rbdc_auc'] == pytest.approx(0.5) and r['tbdc_auc'] == pytest.approx(1.0)
    b = box_track('b', 0, 0, (100.0, 100.0, 110.0, 110.0))
    c = box_track('c', 0, 0, (200.0, 200.0, 210.0, 210.0))
    dets = [det(0, (100, 100, 110, 110), 0.9), det(0, (0, 0, 5, 5), 0.8), det(0, (20, 20, 25, 25), 0.8),
            det(0, (200, 200, 210, 210), 0.7)]
    r = em.evaluate_events([], video(b, c), Timeline(1), dets)['regions']
    # (0, 0.5) -> (2, 0.5) -> (2, 1.0): cut at 1 FP/frame
    assert r['rbdc_auc'] == pytest.approx(0.5) and r['rbdr'] == 1.0 and r['false_positives_per_frame'] == 2.0


def test_no_boxes_no_regions():
    r = em.evaluate_events([], video(Incident('a', 0, 5)), Timeline(10), [det(1, (0, 0, 5, 5))])
    assert r['regions'] is None


ORACLE_DIR = Path(__file__).resolve().parents[2] / '.venv' / 'oracle'     # tools/setup.sh oracle


def _oracle():
    if ORACLE_DIR.is_dir() and str(ORACLE_DIR) not in sys.path:
        sys.path.append(str(ORACLE_DIR))         # last: the venv's numpy/scipy win; only the oracle's own come from it
    try:
        from ssvad_metrics import criteria, data_schema
    except Exception as e:            # not installed, or broken by its dependencies (it needs pydantic 1)
        pytest.skip(f'py-ssvad-metrics (a GPLv3 test-only oracle, never a dependency) is not usable here: {e!r}; '
                    'tools/setup.sh oracle installs it (into .venv/oracle) for this comparison')
    return criteria, data_schema


def _scene(rng: random.Random, frames: int):
    """One labelled track at a time (the oracle keeps one track id per frame) and detections that never touch
    each other (the oracle merges touching boxes into one region), integer pixel boxes inside 320x240."""
    tracks, frame_track, f = [], [-1] * frames, 0
    while f < frames - 3:
        f += rng.randint(0, 6)
        n = rng.randint(1, 19)
        if f + n > frames:
            break
        x, y = rng.randint(8, 200), rng.randint(0, 150)
        keys = {}
        for k in range(f, f + n, 4):
            keys[k] = (x + rng.randint(-6, 6), y, x + 40 + rng.randint(-6, 6), y + 60)
        keys[f + n - 1] = (x, y, x + 40, y + 60)
        tracks.append(Incident(f'i{len(tracks)}', f, f + n - 1,
                               keyframes=tuple(sorted((k, tuple(float(v) for v in b)) for k, b in keys.items()))))
        for k in range(f, f + n):
            frame_track[k] = len(tracks) - 1
        f += n
    dets = []
    for f in range(frames):
        cells = rng.sample(range(8), rng.randint(0, 3))               # 4 x 2 cells of 80 x 120 px
        t = frame_track[f]
        for c in cells:
            cx, cy = (c % 4) * 80, (c // 4) * 120
            if t >= 0 and rng.random() < 0.5:                        # near the labelled box, or anywhere in the cell
                gx, gy, gx1, gy1 = tracks[t].box_at(f)
                cx, cy = int(gx) // 80 * 80, int(gy) // 120 * 120
            x0, y0 = cx + rng.randint(1, 30), cy + rng.randint(1, 50)
            dets.append((f, (x0, y0, x0 + rng.randint(10, 48), y0 + rng.randint(10, 68)), rng.choice([0.3, 0.6, 0.9])))
    # keep the detections of a frame apart: drop any that touches an earlier one (8-connected)
    kept = []
    for f, b, s in dets:
        if all(g != f or b[0] > o[2] + 1 or o[0] > b[2] + 1 or b[1] > o[3] + 1 or o[1] > b[3] + 1
               for g, o, _ in kept):
            kept.append((f, b, s))
    return tracks, frame_track, kept


def test_rbdc_tbdc_agree_with_py_ssvad_metrics():
    criteria, schema = _oracle()
    rng = random.Random(23)
    for trial in range(4):
        frames = 60
        tracks, frame_track, dets = _scene(rng, frames)
        labelled = []
        for f in range(frames):
            t = frame_track[f]
            box = tracks[t].box_at(f) if t >= 0 else None
            labelled.append([] if box is None else [{'bounding_box': [int(v) for v in box], 'score': 1.0}])
        common = {'frames_count': frames, 'is_anomalous_regions_available': True, 'frame_width': 320,
                  'frame_height': 240}
        gts = schema.VADAnnotation(is_gt=True, is_anomaly_track_id_available=True, **common, frames=[
            {'frame_id': f + 1, 'anomaly_track_id': frame_track[f], 'anomalous_regions': labelled[f]}
            for f in range(frames)])
        preds = schema.VADAnnotation(is_gt=False, is_anomaly_track_id_available=False, **common, frames=[
            {'frame_id': f + 1, 'anomalous_regions': [{'bounding_box': list(b), 'score': s}
                                                      for g, b, s in dets if g == f]} for f in range(frames)])
        # the oracle keeps boxes on the pixel grid: labelled boxes are whole pixels here too
        ours_tracks = [Incident(t.id, t.first, t.last, keyframes=tuple(
            (f, tuple(float(int(v)) for v in t.box_at(f))) for f in range(t.first, t.last + 1))) for t in tracks]
        for threshold in (0.25, 0.5, 0.75):            # scores are 0.3, 0.6, 0.9
            ntp, tar, nfp, n_fs, nat, ntpt = criteria._get_cur_calcs(preds, gts, threshold, 0.1, 0.1, True, True)
            rows = [det(f, b, s) for f, b, s in dets if s >= threshold]
            r = em.evaluate_events([], video(*ours_tracks), Timeline(frames), rows)['regions']
            got = (r['regions_detected'], r['regions'], r['false_positive_regions'], r['frames'], r['tracks'],
                   r['tracks_detected'])
            assert got == (ntp, tar, nfp, n_fs, nat, ntpt), (trial, threshold)


# ------------------------------------------------------------------------------------------------ label files

def write(tmp_path: Path, text: str, name: str = 'labels.json') -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD = '''{
  "format": "vad_ros-incidents/1",
  "videos": {
    "vtest": {
      "incidents": [
        {"id": "walker", "frames": [10, 20], "object_class": "person",
         "boxes": {"10": [0, 0, 10, 20], "20": [10, 0, 20, 20]}},
        {"seconds": [5.5, 7]}
      ]
    },
    "quiet": {"incidents": []}
  }
}
'''


def test_a_good_label_file(tmp_path):
    labels = em.read_incidents(write(tmp_path, GOOD))
    assert set(labels) == {'vtest', 'quiet'} and labels['quiet'].incidents == ()
    walker, second = labels['vtest'].incidents
    assert (walker.id, walker.first, walker.last, walker.object_class) == ('walker', 10, 20, 'person')
    assert walker.box_at(15) == pytest.approx((5.0, 0.0, 15.0, 20.0))
    assert (second.id, second.start_s, second.end_s, second.has_boxes) == ('vtest#2', 5.5, 7.0, False)
    yaml_labels = em.read_incidents(write(tmp_path, 'videos:\n  cam:\n    incidents:\n      - frames: [1, 2]\n'
                                                    '        boxes: {1: [0, 0, 1, 1], 2: [0, 0, 2, 2]}\n', 'l.yaml'))
    assert yaml_labels['cam'].incidents[0].box_at(2) == (0.0, 0.0, 2.0, 2.0)


def test_the_shipped_vtest_labels(repo_root):
    labels = em.read_incidents(repo_root / 'bench' / 'labels' / 'vtest_incidents.json')
    spans = {i.id: (i.first, i.last) for i in labels['vtest'].incidents}
    assert spans == {'man-at-start': (0, 7), 'woman-crossing': (503, 753), 'man-with-woman': (506, 607),
                     'man-returns': (748, 794)}
    assert all(i.has_boxes and i.object_class == 'person' for i in labels['vtest'].incidents)


BAD = [
    ('[1, 2]', 1, 'top level', "expected a mapping with 'videos'"),
    ('{"videos": {}}', 1, 'videos', 'at least one video'),
    ('{"vidoes": {}}', 1, 'top level', "unknown key 'vidoes'"),
    ('{"format": "other/2", "videos": {"v": {"incidents": []}}}', 1, 'format', "expected 'vad_ros-incidents/1'"),
    ('{"videos": {"v": [1]}}', 1, 'videos.v', "expected a mapping with 'incidents'"),
    ('{"videos": {"v": {\n "incidents": {"a": 1}}}}', 2, 'videos.v.incidents', 'expected a list'),
    ('{"videos": {"v": {"incidents": [\n {"id": "a"}]}}}', 2, 'videos.v.incidents[0]', 'exactly one of them'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [1, 2], "seconds": [0, 1]}]}}}', 2, 'videos.v.incidents[0]',
     'exactly one of them'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [5, 2]}]}}}', 2, 'videos.v.incidents[0].frames',
     'first <= last'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [1.5, 2]}]}}}', 2, 'videos.v.incidents[0].frames',
     'frame indices'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [-1, 2]}]}}}', 2, 'videos.v.incidents[0].frames', 'first <= last'),
    ('{"videos": {"v": {"incidents": [\n {"seconds": [1, "x"]}]}}}', 2, 'videos.v.incidents[0].seconds', 'seconds'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [1, 2],\n "frame": 3}]}}}', 3, 'videos.v.incidents[0]',
     "unknown key 'frame'"),
    ('{"videos": {"v": {"incidents": [\n {"frames": [1, 2], "object_class": ""}]}}}', 2,
     'videos.v.incidents[0].object_class', 'non-empty text'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [0, 9],\n "boxes": {"0": [0, 0, 1, 1]}}]}}}', 3,
     'videos.v.incidents[0].boxes', 'no box at frame 9'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [0, 9],\n "boxes": {"0": [0, 0, 1, 1], "9": [5, 0, 1, 1]}}]}}}',
     3, 'videos.v.incidents[0].boxes[9]', 'x_max > x_min'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [0, 9],\n "boxes": {"0": [0, 0, 1], "9": [0, 0, 1, 1]}}]}}}',
     3, 'videos.v.incidents[0].boxes[0]', 'expected [x_min, y_min, x_max, y_max]'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [0, 9],\n "boxes": {"0": [0, 0, 1, 1], "12": [0, 0, 1, 1]}}]}}}',
     3, 'videos.v.incidents[0].boxes[12]', 'outside the incident'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [0, 9],\n "boxes": {"x": [0, 0, 1, 1]}}]}}}',
     3, "videos.v.incidents[0].boxes['x']", 'frame index'),
    ('{"videos": {"v": {"incidents": [\n {"seconds": [0, 9],\n "boxes": {"0": [0, 0, 1, 1]}}]}}}',
     3, 'videos.v.incidents[0].boxes', 'give the interval as frames'),
    ('{"videos": {"v": {"incidents": [\n {"id": "a", "frames": [0, 1]}, {"id": "a", "frames": [2, 3]}]}}}', 1,
     'videos.v.incidents', 'a used twice'),
    ('{"videos": {"v": {"incidents": [\n {"frames": [0, 1]\n ]}}}', 3, '', 'not valid YAML'),
]


@pytest.mark.parametrize('text,line,field,message', BAD, ids=[b[3] for b in BAD])
def test_malformed_label_files_name_the_line_and_field(tmp_path, text, line, field, message):
    path = write(tmp_path, text)
    with pytest.raises(LabelError) as e:
        em.read_incidents(path)
    assert isinstance(e.value, VadError)
    assert f'{path}:{line}:' in str(e.value) and field in str(e.value) and message in str(e.value)


def test_label_files_that_are_missing_or_too_large(tmp_path, monkeypatch):
    with pytest.raises(LabelError, match="does not exist"):
        em.read_incidents(tmp_path / 'none.json')
    path = write(tmp_path, GOOD)
    monkeypatch.setattr(limits, 'MAX_YAML_BYTES', 100)
    with pytest.raises(LabelError, match='more than the 100'):
        em.read_incidents(path)
    monkeypatch.setattr(limits, 'MAX_YAML_BYTES', 10_000)
    monkeypatch.setattr(limits, 'MAX_YAML_NODES', 20)
    with pytest.raises(LabelError, match='more than 20 (nodes|values)'):
        em.read_incidents(path)


def test_labels_for_an_input(tmp_path):
    labels = em.read_incidents(write(tmp_path, GOOD))
    assert em.labels_for_input(labels, 'data/vtest.avi', 'l.json').name == 'vtest'
    with pytest.raises(LabelError, match="none named 'other' like the input"):
        em.labels_for_input(labels, 'data/other.avi', 'l.json')
    one = {'x': labels['vtest']}
    assert em.labels_for_input(one, '/any/name.mp4', 'l.json').name == 'vtest'


def test_unusable_run_outputs(tmp_path):
    with pytest.raises(LabelError, match='events.jsonl: line 1: an event needs start_frame'):
        em.evaluate_events(em._named([{'start_frame': 3}], 'events.jsonl'), video(), Timeline(5))
    (tmp_path / 'frames.csv').write_text('frame_index,timestamp,anomalous,score\n0,x,0,0\n')
    with pytest.raises(LabelError, match='frames.csv:2: not a row'):
        em.evaluate_folder(tmp_path, video())


# ------------------------------------------------------------------------------------------------ end to end

def test_vad_video_with_labels(repo_root, vtest_path, tmp_path, capsys):
    """The first 30 frames of vtest with the demo config: the man on the lawn edge at the start is the one
    incident in the run; the others lie after it."""
    out = tmp_path / 'out'
    labels = repo_root / 'bench' / 'labels' / 'vtest_incidents.json'
    code = runner.main([str(vtest_path), '--params', str(repo_root / 'config' / 'demo_vtest.yaml'), '--out', str(out),
                        '--max-frames', '30', '--labels', str(labels)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert 'incidents caught' in stdout and 'events_eval.json' in stdout
    report = json.loads((out / 'events_eval.json').read_text())
    events = (out / 'events.jsonl').read_text().splitlines()
    assert report['events'] == len(events) and report['frames'] == 30
    assert report['incidents'] == 1 and [i['id'] for i in report['per_incident']] == ['man-at-start']
    assert report['outside_run'] == ['woman-crossing', 'man-with-woman', 'man-returns']
    assert report['caught'] == sum(i['caught'] for i in report['per_incident'])
    assert report['matching_events'] + report['false_events'] == report['events']
    assert report['frame_level']['incident_frames'] == 8 and report['regions']['regions'] == 8
    assert f"{report['caught']}/1" in stdout


def test_the_demo_raises_one_event_per_visit(repo_root, vtest_path, tmp_path):
    """The whole of vtest.avi with the demo's params (the defaults plus the site's scene map and rule): each of
    the four labelled person-visits to the lawn is caught by exactly one event, and no event matches none."""
    out = tmp_path / 'out'
    labels = repo_root / 'bench' / 'labels' / 'vtest_incidents.json'
    assert runner.main([str(vtest_path), '--params', str(repo_root / 'config' / 'demo_vtest.yaml'), '--out', str(out),
                        '--labels', str(labels)]) == 0
    report = json.loads((out / 'events_eval.json').read_text())
    assert report['incidents'] == 4 and report['caught'] == 4, report['per_incident']
    assert report['events'] == 4 and report['false_events'] == 0, report


def test_vad_video_refuses_bad_labels_before_running(vtest_path, tmp_path, capsys):
    bad = write(tmp_path, '{"videos": {"vtest": {"incidents": [{"frames": [3, 1]}]}}}')
    assert runner.main([str(vtest_path), '--out', str(tmp_path / 'out'), '--labels', bad]) == 2
    err = capsys.readouterr().err
    assert 'videos.vtest.incidents[0].frames' in err and not (tmp_path / 'out').exists()


def test_vad_eval_with_incidents(repo_root, vtest_path, tmp_path, capsys):
    root = tmp_path / 'st'
    frames_dir = root / 'testing' / 'frames' / '01_0001'
    frames_dir.mkdir(parents=True)
    cap = cv2.VideoCapture(str(vtest_path))
    for i in range(12):
        ok, frame = cap.read()
        assert ok
        cv2.imwrite(str(frames_dir / f'{i}.jpg'), frame)
    masks = root / 'testing' / 'test_frame_mask'
    masks.mkdir(parents=True)
    np.save(masks / '01_0001.npy', np.array([1] * 8 + [0] * 4))
    labels = write(tmp_path, '{"videos": {"01_0001": {"incidents": [{"frames": [0, 7], "boxes": '
                             '{"0": [252, 220, 282, 307], "7": [292, 214, 333, 299]}}]}, '
                             '"99_9999": {"incidents": []}}}')
    args = ['--dataset', 'shanghaitech', '--root', str(root), '--params', str(repo_root / 'config' / 'demo_vtest.yaml'),
            '--out', str(tmp_path / 'eval')]
    assert evaluate.main(args + ['--incidents', labels]) == 0
    stdout = capsys.readouterr().out
    report = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())
    level = report['event_level']
    row = level['videos']['01_0001']
    assert row['incidents'] == 1 and row['frames'] == 12 and 'frame_level' not in row
    assert level['overall']['incidents'] == 1 and level['overall']['caught'] == row['caught']
    assert level['overall']['regions']['regions'] == 8
    assert (tmp_path / 'eval' / 'event_metrics.csv').read_text().splitlines()[0].startswith('video,incidents,caught')
    assert 'delay med' in stdout and '01_0001' in stdout
    wrong = write(tmp_path, '{"videos": {"other": {"incidents": []}}}', 'wrong.json')
    assert evaluate.main(args + ['--incidents', wrong]) == 2
    assert 'name none of the videos evaluated' in capsys.readouterr().err
