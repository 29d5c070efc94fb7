"""vad-video killed with SIGKILL mid-run keeps everything it had reported; inputs that end early are not a
success. The clip is frames 560-794 of vtest.avi (people cross the foreground lawn; one leaves it early on)
with the demo's parameters (the vtest scene map, "keep off the grass"), so anomalies and events come early."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time

import cv2
import pytest

from video_helpers import cut
from vad_ros import params as vparams
from vad_ros.media.writers import FRAME_COLUMNS
from vad_ros.offline import runner

PROGRESS = re.compile(r'(\d+)/(\d+) frames, (\d+) anomalous')


def read_outputs(out) -> tuple[list[list[str]], list[dict], list[dict]]:
    """frames.csv rows (header first), anomalies.jsonl and events.jsonl records; every line must parse."""
    rows = list(csv.reader(io.StringIO((out / 'frames.csv').read_text())))
    assert rows[0] == list(FRAME_COLUMNS)
    assert all(len(r) == len(rows[0]) for r in rows), 'a frames.csv row is cut'
    records = []
    for name in ('anomalies.jsonl', 'events.jsonl'):
        text = (out / name).read_text()
        assert text == '' or text.endswith('\n'), f'{name}: last line is cut'
        records.append([json.loads(line) for line in text.splitlines()])
    return rows, records[0], records[1]


def grace_frames(repo_root) -> int:
    """Frames of the 10 fps clip from an event's last anomalous frame to the frame that ends it (and writes it):
    the demo's events.grace_seconds, then one frame more."""
    params = vparams.resolve(vparams.read_params_file(str(repo_root / 'config' / 'demo_vtest.yaml')))
    return math.floor(params['events.grace_seconds'] * 10 + 1e-6) + 1


def video_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope='module')
def lawn_clip(vtest_path, tmp_path_factory):
    return cut(vtest_path, tmp_path_factory.mktemp('clip'), 560, 795)


@pytest.fixture(scope='module')
def reference(lawn_clip, repo_root, tmp_path_factory):
    """The complete run of the clip: what a killed run's files must be a prefix of."""
    out = tmp_path_factory.mktemp('reference')
    assert runner.main([lawn_clip, '--params', str(repo_root / 'config' / 'demo_vtest.yaml'), '--out', str(out)]) == 0
    rows, anomalies, events = read_outputs(out)
    assert anomalies and events, 'the clip must give anomalies and events, or the kill test proves nothing'
    return rows, anomalies, events


def start_vad_video(args, **kwargs) -> tuple[subprocess.Popen, list[tuple[int, int]]]:
    """vad-video as a child process; its progress lines (frames done, anomalous) are collected as they come."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.Popen([sys.executable, '-m', 'vad_ros.offline.runner', *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)
    reported: list[tuple[int, int]] = []

    def read() -> None:
        for line in proc.stderr:
            m = PROGRESS.search(line)
            if m:
                reported.append((int(m.group(1)), int(m.group(3))))
    threading.Thread(target=read, daemon=True).start()
    return proc, reported


@pytest.mark.parametrize('whole_group', [False, True], ids=['vad-video', 'vad-video-and-ffmpeg'])
def test_sigkill_keeps_every_reported_frame_anomaly_and_event(lawn_clip, reference, repo_root, tmp_path,
                                                              whole_group):
    """Killed once its progress has reported a few frames past the first event's end (and at least 40, or 60
    frames): the files hold at least the reported
    frames, are exactly the complete run's first frames (anomalies and ended events included), every line
    parses, and annotated.mp4 plays. whole_group: ffmpeg is killed too (else it finishes the file on EOF)."""
    ref_rows, ref_anomalies, ref_events = reference
    out = tmp_path / 'out'
    proc, reported = start_vad_video([lawn_clip, '--params', str(repo_root / 'config' / 'demo_vtest.yaml'),
                                      '--out', str(out), '--annotate', '--progress-period', '0.5'],
                                     start_new_session=True)
    deadline = time.monotonic() + 300
    # Killed once an event has ended well before (whatever the detector makes of the clip), and at 60 frames at
    # the least when ffmpeg goes too (its first fragment must be out).
    grace = grace_frames(repo_root)
    first_end = min(e['end_frame'] for e in ref_events)
    kill_at = max(first_end + grace + 8, 60 if whole_group else 40)
    assert kill_at < len(ref_rows) - 10, 'the clip ends too soon after its first event for this test'
    while not (reported and reported[-1][0] >= kill_at) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, 'vad-video finished before it could be killed'
    assert reported and reported[-1][0] >= kill_at, 'no progress reported'
    if whole_group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    frames_seen, anomalous_seen = reported[-1]
    time.sleep(2.0)     # ffmpeg (when it survived) finishes the file on its closed input

    rows, anomalies, events = read_outputs(out)
    done = len(rows) - 1
    assert frames_seen <= done < len(ref_rows) - 1, (frames_seen, done)
    assert rows == ref_rows[:done + 1]
    assert sum(int(r[2]) for r in rows[1:]) >= anomalous_seen
    assert anomalies == [a for a in ref_anomalies if a['frame_index'] < done]
    assert anomalies, 'no anomaly before the kill: the clip does not test what it should'
    # Ended events are written with the frame that ended them: a prefix of the complete run's, with every
    # event that ended well before the kill (the demo's grace in frames + 2).
    assert events == ref_events[:len(events)]
    ended = [e for e in ref_events if e['end_frame'] + grace + 2 < done]
    assert ended == events[:len(ended)]
    assert ended, 'no event ended before the kill'

    # annotated.mp4: fragmented MP4 with a key frame every 2 s (20 frames at 10 fps) plays up to its last
    # complete fragment even when ffmpeg is killed too (x264 holds a few frames back: 60 frames in, at least
    # the first fragment is out).
    played = video_frames(out / 'annotated.mp4')
    if whole_group:
        assert played >= 20 and played <= done
    else:
        assert done - 1 <= played <= done


def test_truncated_video_exits_non_zero_unless_partial_is_allowed(vtest_path, tmp_path, capsys):
    """The first 100 KB of vtest.avi: the container announces 795 frames, 3 decode."""
    truncated = tmp_path / 'truncated.avi'
    truncated.write_bytes(vtest_path.read_bytes()[:100_000])
    assert runner.main([str(truncated), '--out', str(tmp_path / 'a')]) == 3
    err = capsys.readouterr().err
    assert re.search(r'ended early: (\d+) of the 795 frames', err) and '--allow-partial' in err
    decoded = int(re.search(r'ended early: (\d+) of', err).group(1))
    assert 0 < decoded < 795
    rows, _, _ = read_outputs(tmp_path / 'a')
    assert len(rows) - 1 == decoded

    assert runner.main([str(truncated), '--out', str(tmp_path / 'b'), '--allow-partial']) == 0
    assert f'{decoded} of the 795 frames' in capsys.readouterr().err

    # A complete file stops at --max-frames without being partial.
    assert runner.main([str(vtest_path), '--out', str(tmp_path / 'c'), '--max-frames', '3']) == 0
    assert 'ended early' not in capsys.readouterr().err


def test_truncated_video_through_the_console_script_exits_non_zero(vtest_path, tmp_path):
    truncated = tmp_path / 'truncated.avi'
    truncated.write_bytes(vtest_path.read_bytes()[:100_000])
    proc = subprocess.run(['vad-video', str(truncated), '--out', str(tmp_path / 'o')], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert 'ended early' in proc.stderr


def test_vad_eval_with_a_truncated_video_exits_non_zero_unless_partial_is_allowed(vtest_frames, tmp_path, capsys):
    """An NWPU-layout dataset whose one video lost its second half: metrics on the decoded frames, exit 3."""
    import numpy as np
    from vad_ros.offline import evaluate

    root = tmp_path / 'nwpu'
    (root / 'test').mkdir(parents=True)
    (root / 'test_frame_mask').mkdir()
    video = root / 'test' / '01_0001.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10, (768, 576))
    for frame in vtest_frames:
        writer.write(frame)
    writer.release()
    np.save(root / 'test_frame_mask' / '01_0001.npy', np.zeros(len(vtest_frames), np.uint8))
    video.write_bytes(video.read_bytes()[:video.stat().st_size // 2])
    decoded = video_frames(video)
    assert 0 < decoded < len(vtest_frames)

    assert evaluate.main(['--dataset', 'nwpu', '--root', str(root), '--out', str(tmp_path / 'e')]) == 3
    assert '01_0001 ended early' in capsys.readouterr().err
    report = json.loads((tmp_path / 'e' / 'metrics.json').read_text())
    assert report['partial_videos'] == ['01_0001'] and report['videos'][0]['frames'] == decoded
    assert evaluate.main(['--dataset', 'nwpu', '--root', str(root), '--out', str(tmp_path / 'e2'),
                          '--allow-partial']) == 0
    assert 'accepted: --allow-partial' in capsys.readouterr().err
