"""bench/bench_alerts.py's conversions: incident labels and grass frames for the 5 fps and half-size runs, and
the params files it writes for vad-video."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'bench'))
spec = importlib.util.spec_from_file_location('bench_alerts', REPO / 'bench' / 'bench_alerts.py')
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

from vad_ros import params as vparams  # noqa: E402
from vad_ros.offline import event_metrics  # noqa: E402


@pytest.fixture
def labels(tmp_path, monkeypatch):
    monkeypatch.setenv('VAD_ALERTS_DIR', str(tmp_path))
    path = tmp_path / 'incidents.json'
    path.write_text(json.dumps({'format': event_metrics.FORMAT, 'videos': {'vtest': {'incidents': [
        {'id': 'a', 'frames': [3, 11], 'boxes': {'3': [10, 20, 30, 60], '11': [26, 20, 46, 60]}}]}}}))
    monkeypatch.setattr(tool, 'INCIDENTS', path)
    return path


def test_the_10_fps_run_uses_the_labels_as_they_are(labels):
    assert tool.convert_incidents('10fps') == labels


def test_every_second_frame_halves_the_frames_and_keeps_the_boxes_where_the_person_is(labels):
    (inc,) = event_metrics.read_incidents(tool.convert_incidents('5fps'))['vtest'].incidents
    assert (inc.first, inc.last) == (2, 5)                  # frames 4, 6, 8, 10 of the video
    assert inc.box_at(2) == (12.0, 20.0, 32.0, 60.0) and inc.box_at(5) == (24.0, 20.0, 44.0, 60.0)


def test_half_size_halves_the_boxes(labels):
    (inc,) = event_metrics.read_incidents(tool.convert_incidents('half'))['vtest'].incidents
    assert (inc.first, inc.last) == (3, 11) and inc.box_at(3) == (5.0, 10.0, 15.0, 30.0)


def test_grass_frames_follow_the_run():
    full, half_rate = tool.grass_truth('10fps'), tool.grass_truth('5fps')
    assert len(full) == len(half_rate) == 80 and sorted(half_rate) == [f // 2 for f in sorted(full)]
    assert [half_rate[f // 2] for f in sorted(full)] == [full[f] for f in sorted(full)]


def test_params_files_are_read_back_as_the_same_parameters(tmp_path):
    wanted = {'tracking.tracker': 'iou', 'events.grace_seconds': 1.0, 'score_threshold': 0.4}
    assert vparams.read_params_file(str(tool.params_file(wanted, tmp_path / 'p.yaml'))) == wanted
