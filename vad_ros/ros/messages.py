"""FrameResult -> vad_ros/AnomalyArray (needs the built messages)."""
from __future__ import annotations

from vad_ros.msg import Anomaly as AnomalyMsg
from vad_ros.msg import AnomalyArray
from vad_ros.types import FrameResult


def anomaly_array(result: FrameResult, header) -> AnomalyArray:
    """The message for one processed frame; `header` is the input image's header."""
    msg = AnomalyArray()
    msg.header = header
    msg.is_anomalous = result.is_anomalous
    msg.score = float(result.score)
    msg.num_objects = len(result.objects)
    for a in result.anomalies:
        m = AnomalyMsg()
        m.object_class = a.object_class
        m.object_score = float(a.object_score)
        m.background_class = a.background_class
        m.background_fraction = float(a.background_fraction)
        m.x_min, m.y_min, m.x_max, m.y_max = (float(v) for v in a.box)
        m.rule_id = a.rule_id
        m.severity = a.severity
        m.sentence = a.sentence
        m.track_id = int(a.track_id)
        m.duration_frames = int(a.duration_frames)
        msg.anomalies.append(m)
    return msg
