"""Recorded footage on the clock of when it was recorded: vad-video / vad-eval --start-time stamp a video's or an
image folder's frames from the recording's start (ISO 8601 with its UTC offset), a rosbag2 keeps its own stamps,
so a night-only rule fires on a night recording and not on a day one (real frames of vtest.avi, HOG, the demo's
scene map: a person crosses the foreground lawn)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from vad_ros.media.image_codec import from_bgr
from vad_ros.offline import evaluate, runner
from vad_ros.reasoning.schedule import ScheduleError, parse_start_time
from video_helpers import cut

START, STOP = 640, 656                  # a person on the foreground lawn
NIGHT, DAY = '2026-03-01T22:15:00+01:00', '2026-03-01T12:15:00+01:00'


@pytest.fixture(scope='module')
def night_params(repo_root, tmp_path_factory):
    """HOG + the demo's scene map + keep-off-the-grass active only at night in Berlin."""
    d = tmp_path_factory.mktemp('night')
    rules = d / 'rules.yaml'
    rules.write_text("rules:\n  - id: night-lawn\n    objects: [person]\n    forbidden: [grass]\n"
                     "    active: {hours: ['22:00-06:00'], timezone: Europe/Berlin}\n"
                     "    sentence: nobody on the lawn at night\n")
    path = d / 'params.yaml'
    path.write_text(f'/**:\n  ros__parameters:\n    detector: {{backend: hog, hog: {{upscale: 1.5}}}}\n'
                    f'    confirm: {{enabled: false}}\n'
                    f'    scene_map_file: {repo_root / "config" / "scene_vtest.yaml"}\n    rules_file: {rules}\n')
    return str(path)


@pytest.fixture(scope='module')
def clip(vtest_path, tmp_path_factory):
    return cut(vtest_path, tmp_path_factory.mktemp('clip'), START, STOP)


def outputs(out: Path) -> tuple[list[str], list[dict]]:
    rows = (out / 'frames.csv').read_text().splitlines()[1:]
    events = [json.loads(line) for line in (out / 'events.jsonl').read_text().splitlines()]
    return rows, events


def test_the_start_time_is_iso_8601_with_its_offset():
    assert parse_start_time(NIGHT) == datetime(2026, 3, 1, 21, 15, tzinfo=timezone.utc).timestamp() == 1772399700.0
    assert parse_start_time('2026-03-01T21:15:00Z') == parse_start_time(' 2026-03-01T21:15:00.000+00:00 ')
    for bad, says in (('2026-03-01T22:15:00', 'has no UTC offset'), ('yesterday', 'not an ISO 8601'),
                      ('1969-12-31T23:00:00Z', 'before 1970'), ('', 'not an ISO 8601')):
        with pytest.raises(ScheduleError, match=says):
            parse_start_time(bad)


def test_a_night_only_rule_fires_on_a_night_recording_and_not_on_a_day_one(clip, night_params, tmp_path, capsys):
    night, day = tmp_path / 'night', tmp_path / 'day'
    assert runner.main([clip, '--params', night_params, '--out', str(night), '--start-time', NIGHT]) == 0
    assert runner.main([clip, '--params', night_params, '--out', str(day), '--start-time', DAY]) == 0
    rows, events = outputs(night)
    assert float(rows[0].split(',')[1]) == 1772399700.0 and float(rows[5].split(',')[1]) == 1772399700.5
    assert events and {e['rule_id'] for e in events} == {'night-lawn'}
    assert events[0]['start_time'] >= 1772399700.0
    rows, events = outputs(day)
    assert float(rows[0].split(',')[1]) == 1772363700.0 and events == []
    # without a start time the clock starts at 1970-01-01 00:00 UTC (01:00 in Berlin): night, from frame 0
    assert runner.main([clip, '--params', night_params, '--out', str(tmp_path / 'none')]) == 0
    assert outputs(tmp_path / 'none')[1]


def test_a_bad_start_time_is_a_clear_error(clip, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        runner.main([clip, '--out', str(tmp_path / 'o'), '--start-time', '2026-03-01 22:15'])
    assert exited.value.code == 2
    assert ("argument --start-time: start time '2026-03-01 22:15' has no UTC offset: add the camera's, e.g. "
            "2026-03-01 22:15+01:00 (or Z for UTC)") in capsys.readouterr().err


def write_bag(path: Path, frames, first_stamp: int) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)
    Image, Header, Time = (store.types[t] for t in ('sensor_msgs/msg/Image', 'std_msgs/msg/Header',
                                                      'builtin_interfaces/msg/Time'))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/camera/image_raw', Image.__msgtype__, typestore=store)
        for i, frame in enumerate(frames):
            sec, nsec = divmod(first_stamp * 10**9 + i * 10**8, 10**9)
            h, w, step, data = from_bgr(frame, 'bgr8')
            msg = Image(header=Header(stamp=Time(sec=sec, nanosec=nsec), frame_id='cam'), height=h, width=w,
                        encoding='bgr8', is_bigendian=0, step=step, data=np.frombuffer(data, np.uint8))
            writer.write(conn, sec * 10**9 + nsec, store.serialize_cdr(msg, Image.__msgtype__))


def read_clip(path: str) -> list[np.ndarray]:
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_a_rosbag2_is_judged_by_its_own_stamps(clip, night_params, tmp_path, capsys):
    frames = read_clip(clip)
    for name, start, fires in (('night', NIGHT, True), ('day', DAY, False)):
        bag = tmp_path / f'{name}_bag'
        write_bag(bag, frames, int(parse_start_time(start)))
        out = tmp_path / f'{name}_out'
        assert runner.main([str(bag), '--params', night_params, '--out', str(out)]) == 0
        rows, events = outputs(out)
        assert float(rows[0].split(',')[1]) == parse_start_time(start)
        assert bool(events) is fires, name
    capsys.readouterr()
    assert runner.main([str(tmp_path / 'day_bag'), '--out', str(tmp_path / 'o'), '--start-time', NIGHT]) == 2
    assert "carries its own stamps (when each image was taken): a start time applies to video files and " \
           "folders of images only" in capsys.readouterr().err


def test_vad_eval_stamps_every_video_from_the_start_time(clip, night_params, tmp_path, capsys):
    root = tmp_path / 'st'
    folder = root / 'testing' / 'frames' / '01_0001'
    folder.mkdir(parents=True)
    for i, frame in enumerate(read_clip(clip)):
        cv2.imwrite(str(folder / f'{i:03d}.jpg'), frame)
    (root / 'testing' / 'test_frame_mask').mkdir()
    np.save(root / 'testing' / 'test_frame_mask' / '01_0001.npy', np.ones(STOP - START, np.uint8))
    flagged = {}
    for name, start in (('night', NIGHT), ('day', DAY)):
        out = tmp_path / name
        assert evaluate.main(['--dataset', 'shanghaitech', '--root', str(root), '--params', night_params,
                              '--out', str(out), '--start-time', start]) == 0
        rows, events = outputs(out / '01_0001')
        assert float(rows[0].split(',')[1]) == parse_start_time(start)
        flagged[name] = json.loads((out / 'metrics.json').read_text())['overall']['recall']
    assert flagged['night'] > 0.5 and flagged['day'] == 0
