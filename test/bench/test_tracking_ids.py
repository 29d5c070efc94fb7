"""bench/bench_tracking_ids.py's scoring: labelled tracks interpolated between key frames (null = not scored),
and id switches, fragmentations and the main-id share counted as its doc says."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location('bench_tracking_ids', REPO / 'bench' / 'bench_tracking_ids.py')
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_key_frames_are_interpolated_and_null_leaves_a_gap(tmp_path, monkeypatch):
    labels = tmp_path / 'tracks.json'
    labels.write_text(json.dumps({'people': [{'name': 'a', 'keyframes': {
        '10': [0, 0, 10, 20], '14': [4, 0, 14, 20], '15': None, '20': [0, 0, 10, 20], '22': [2, 0, 12, 20]}}]}))
    monkeypatch.setattr(tool, 'LABELS', labels)
    track = tool.labelled_tracks()['a']
    assert sorted(track) == [10, 11, 12, 13, 14, 20, 21, 22]                    # 15-19 not visible
    assert track[12].tolist() == [2, 0, 12, 20] and track[21].tolist() == [1, 0, 11, 20]
    assert tool.labelled_tracks(0.5)['a'][14].tolist() == [2, 0, 7, 10]


def test_switches_fragmentations_and_main_id():
    box = np.array([0.0, 0.0, 10.0, 20.0])
    people = {'a': {f: box for f in range(8)}}
    ids = [5, 5, 7, None, 7, 5, 5, 5]                # a swap to 7 (with a gap) and back to 5
    tracked = {f: (box[None], np.array([i])) if i else (np.zeros((0, 4)), np.zeros(0, np.int64))
               for f, i in enumerate(ids)}
    result = tool.score(tracked, people)['a']
    assert (result['frames'], result['matched'], result['switches'], result['fragmentations']) == (8, 7, 2, 1)
    assert result['ids'] == [5, 7] and result['main_id_frames'] == 5


def test_a_detection_is_matched_to_one_person_only_and_needs_iou_one_half():
    people = {'a': {0: np.array([0.0, 0, 10, 20])}, 'b': {0: np.array([1.0, 0, 11, 20])}}
    tracked = {0: (np.array([[1.0, 0, 11, 20], [30, 0, 40, 20]]), np.array([3, 4]))}
    result = tool.score(tracked, people)
    assert result['b']['ids'] == [3] and result['a']['matched'] == 0            # b fits best; 4 is too far
