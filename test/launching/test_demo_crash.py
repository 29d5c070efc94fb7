"""The recorder of the real demo graph (image_publisher -> vad_node -> recorder over DDS) killed with SIGKILL
mid-run: everything vad_node had published before the kill (seen by a subscriber in this test) is in the
recorder's files, every line parses, and annotated.mp4 plays. Frames 640-794 of vtest.avi: a person crosses the
foreground lawn ("keep off the grass"), so anomalies and ended events come early."""
from __future__ import annotations

import csv
import io
import json
import signal
import subprocess

import cv2
from rclpy.qos import QoSProfile

from ros_helpers import RosPeer, isolated_env
from video_helpers import cut
from vad_ros.launching import graph
from vad_ros.launching.launcher import DEFAULT_VIDEO, GraphProcesses
from vad_ros.media.writers import FRAME_COLUMNS
from vad_ros.msg import AnomalyArray, AnomalyEvent
from vad_ros.paths import share_dir
from vad_ros.ros.camera import EVENTS_QOS


def stamp_of(time_msg) -> float:
    return round(time_msg.sec + time_msg.nanosec * 1e-9, 6)


def test_sigkill_of_the_recorder_keeps_everything_published_before(vtest_path, tmp_path):
    clip = cut(vtest_path, tmp_path, 640, 795)
    out = tmp_path / 'rec'
    env = isolated_env()
    peer = RosPeer(env)
    results: list[AnomalyArray] = []
    events: list[AnomalyEvent] = []
    peer.node.create_subscription(AnomalyArray, '/vad_node/anomalies', results.append, QoSProfile(depth=200))
    peer.node.create_subscription(AnomalyEvent, '/vad_node/events', events.append, EVENTS_QOS)
    nodes = graph.demo_nodes({'video': clip, 'out': str(out)}, share_dir(), DEFAULT_VIDEO)
    log_path = tmp_path / 'graph.log'
    try:
        with open(log_path, 'w') as log, GraphProcesses(nodes, env=env, stdout=log, stderr=subprocess.STDOUT) as g:
            ended = lambda: [e for e in events if e.state == AnomalyEvent.STATE_ENDED]  # noqa: E731
            anomalous = lambda: [r for r in results if r.is_anomalous]  # noqa: E731
            assert peer.spin_until(lambda: len(ended()) >= 1 and len(anomalous()) >= 5 or g.exited(), 300), \
                f'no ended event within 300 s:\n{log_path.read_text()[-3000:]}'
            assert not g.exited(), f'a node stopped: {g.exited()}\n{log_path.read_text()[-3000:]}'
            seen_results, seen_ended = list(results), ended()
            peer.spin_for(1.0)                     # the recorder, on the same host, has them too by now
            recorder = g.procs['recorder']
            recorder.send_signal(signal.SIGKILL)
            recorder.wait(10)
            assert g.procs['vad_node'].poll() is None
            peer.spin_for(2.0)                     # the recorder's ffmpeg finishes the file on its closed input
    finally:
        peer.close()
    assert recorder.returncode == -signal.SIGKILL

    rows = list(csv.reader(io.StringIO((out / 'frames.csv').read_text())))
    assert rows[0] == list(FRAME_COLUMNS) and all(len(r) == len(FRAME_COLUMNS) for r in rows)
    written_stamps = {round(float(r[1]), 6) for r in rows[1:]}
    assert {stamp_of(r.header.stamp) for r in seen_results} <= written_stamps

    texts = {name: (out / name).read_text() for name in ('anomalies.jsonl', 'events.jsonl')}
    assert all(t.endswith('\n') for t in texts.values()), 'a line is cut'
    anomalies = [json.loads(line) for line in texts['anomalies.jsonl'].splitlines()]
    written = {(a['timestamp'], a['track_id'], a['rule_id'], a['event_id']) for a in anomalies}
    published = {(stamp_of(r.header.stamp), a.track_id, a.rule_id, a.event_id)
                 for r in seen_results for a in r.anomalies}
    assert len(published) >= 5 and published <= written

    recorded_events = [json.loads(line) for line in texts['events.jsonl'].splitlines()]
    assert {e.event_id for e in seen_ended} <= {e['event_id'] for e in recorded_events}
    for e in seen_ended:
        record = next(r for r in recorded_events if r['event_id'] == e.event_id)
        assert (record['start_frame'], record['end_frame'], record['rule_id']) == \
            (e.first_frame, e.last_frame, e.rule_id)

    cap = cv2.VideoCapture(str(out / 'annotated.mp4'))
    played = 0
    while cap.read()[0]:
        played += 1
    cap.release()
    assert played >= 1
