"""The recorder keeps open events current from the per-frame anomalies (the node sends 'ongoing' updates only
every events.update_period), and an update that arrives late does not take an event back in time."""
import json
import random

import pytest
import rclpy
from std_msgs.msg import Header

from vad_ros.ros.messages import anomaly_array, anomaly_event, to_time
from vad_ros.types import EVENT_ONGOING, EVENT_STARTED, Anomaly, Event, FrameResult

BOX = (10.0, 20.0, 30.0, 80.0)


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'OFF')           # this process only
    monkeypatch.setenv('ROS_DOMAIN_ID', str(random.randint(1, 101)))
    rclpy.init(args=['--ros-args', '-p', f'out_dir:={tmp_path}'])
    from vad_ros.ros.recorder import Recorder
    node = Recorder()
    yield node
    node.destroy_node()
    rclpy.shutdown()


def header(stamp: float) -> Header:
    return Header(stamp=to_time(stamp), frame_id='cam')


def anomaly(score: float, sentence: str, x: float = 0.0) -> Anomaly:
    return Anomaly('person', score, 'grass', 1.0, (BOX[0] + x, BOX[1], BOX[2] + x, BOX[3]), 'keep-off', 'warning',
                   sentence, track_id=3, score=score, event_id=1)


def event(state: str, frame: int, stamp: float, peak: float, sentence: str) -> Event:
    return Event('keep-off', 3, 'person', 'grass', 0, frame, 0.0, stamp, peak, sentence, event_id=1, state=state,
                 box=BOX, score=peak)


def test_open_events_follow_the_anomalies_and_ignore_late_updates(recorder, tmp_path):
    recorder._on_event(anomaly_event(event(EVENT_STARTED, 0, 0.0, 0.5, 'first'), header(0.0)))
    scores = [0.5, 0.6, 0.9, 0.7, 0.6, 0.55]                 # the best frame is frame 2
    for i, score in enumerate(scores):
        a = anomaly(score, f'frame {i}', x=i)
        recorder._on_anomalies(anomaly_array(FrameResult(i, i / 10, [], [a], score), header(i / 10)))
    # an 'ongoing' update of frame 1 that arrives after the anomalies of frame 5 (another topic)
    recorder._on_event(anomaly_event(event(EVENT_ONGOING, 1, 0.1, 0.6, 'frame 1'), header(0.1)))
    recorder.close()
    (line,) = (tmp_path / 'events.jsonl').read_text().splitlines()
    record = json.loads(line)
    assert (record['event_id'], record['start_frame'], record['end_frame']) == (1, 0, 5)
    assert record['end_time'] == pytest.approx(0.5) and record['peak_score'] == pytest.approx(0.9)
    assert record['sentence'] == 'frame 2' and record['box'] == pytest.approx([15.0, 20.0, 35.0, 80.0])
