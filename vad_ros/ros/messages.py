"""Core results <-> ROS messages (needs the built messages): AnomalyArray, AnomalyEvent, the class map image,
and vision_msgs/Detection2DArray where vision_msgs is installed."""
from __future__ import annotations

import json
import math

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from vad_ros.msg import Anomaly as AnomalyMsg
from vad_ros.msg import AnomalyArray, AnomalyEvent, DetectedObject
from vad_ros.types import (END_GRACE_EXPIRED, EVENT_ENDED, EVENT_ONGOING, EVENT_STARTED, Anomaly, ClassMap, Event,
                           FrameResult, ObjectReport)

try:  # optional: a normal ROS install has vision_msgs; the PyPI wheels do not
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
except ImportError:  # pragma: no cover - depends on the machine
    Detection2DArray = None

STATES = {EVENT_STARTED: AnomalyEvent.STATE_STARTED, EVENT_ONGOING: AnomalyEvent.STATE_ONGOING,
          EVENT_ENDED: AnomalyEvent.STATE_ENDED}
STATE_NAMES = {v: k for k, v in STATES.items()}


def anomaly_array(result: FrameResult, header) -> AnomalyArray:
    """The message for one processed frame; `header` is the input image's header."""
    return _array_msg(header, bool(result.anomalies), float(result.score), len(result.objects),
                      [_object_msg(o) for o in result.objects], [_anomaly_msg(a) for a in result.anomalies])


# The per-object messages of every frame (a dozen or more) are filled straight into the slots that
# rosidl_generator_py gives each field ('_' + name): its keyword constructor and property setters cost ~2 us per
# message, ten times more than the values themselves (bench/bench_pipeline.py). Our values have the field
# types already (str, float, int). Where a message class lacks those slots (another generator), the keyword
# constructor is used; test_messages.py checks both give equal messages that serialise alike.
_new = object.__new__


def _has_slots(cls) -> bool:
    return {'_' + name for name in cls.get_fields_and_field_types()} | {'_check_fields'} <= set(cls.__slots__)


def _object_msg_by_slots(o: ObjectReport) -> DetectedObject:
    m = _new(DetectedObject)
    m._check_fields = False
    m._object_class, m._score = o.object_class, float(o.score)
    m._background_class, m._background_fraction = o.background_class or '', float(o.background_fraction)
    m._x_min, m._y_min, m._x_max, m._y_max = (float(v) for v in o.box)
    m._track_id = int(o.track_id)
    m._confirmed = bool(o.confirmed)
    return m


def _object_msg_by_keywords(o: ObjectReport) -> DetectedObject:
    return DetectedObject(
        object_class=o.object_class, score=float(o.score), background_class=o.background_class or '',
        background_fraction=float(o.background_fraction), x_min=float(o.box[0]), y_min=float(o.box[1]),
        x_max=float(o.box[2]), y_max=float(o.box[3]), track_id=int(o.track_id), confirmed=bool(o.confirmed))


def _anomaly_msg_by_slots(a: Anomaly) -> AnomalyMsg:
    m = _new(AnomalyMsg)
    m._check_fields = False
    m._object_class, m._object_score = a.object_class, float(a.object_score)
    m._background_class, m._background_fraction = a.background_class, float(a.background_fraction)
    m._x_min, m._y_min, m._x_max, m._y_max = (float(v) for v in a.box)
    m._rule_id, m._severity, m._sentence = a.rule_id, a.severity, a.sentence
    m._track_id, m._duration_frames, m._duration = int(a.track_id), int(a.duration_frames), float(a.duration)
    m._score, m._event_id = float(a.score), int(a.event_id)
    return m


def _anomaly_msg_by_keywords(a: Anomaly) -> AnomalyMsg:
    return AnomalyMsg(
        object_class=a.object_class, object_score=float(a.object_score), background_class=a.background_class,
        background_fraction=float(a.background_fraction), x_min=float(a.box[0]), y_min=float(a.box[1]),
        x_max=float(a.box[2]), y_max=float(a.box[3]), rule_id=a.rule_id, severity=a.severity,
        sentence=a.sentence, track_id=int(a.track_id), duration_frames=int(a.duration_frames),
        duration=float(a.duration), score=float(a.score), event_id=int(a.event_id))


def _array_msg_by_slots(header, is_anomalous: bool, score: float, num_objects: int, objects: list,
                        anomalies: list) -> AnomalyArray:
    m = _new(AnomalyArray)
    m._check_fields = False
    m._header, m._is_anomalous, m._score, m._num_objects = header, is_anomalous, score, num_objects
    m._objects, m._anomalies = objects, anomalies
    return m


def _array_msg_by_keywords(header, is_anomalous: bool, score: float, num_objects: int, objects: list,
                           anomalies: list) -> AnomalyArray:
    return AnomalyArray(header=header, is_anomalous=is_anomalous, score=score, num_objects=num_objects,
                        objects=objects, anomalies=anomalies)


_array_msg = _array_msg_by_slots if _has_slots(AnomalyArray) else _array_msg_by_keywords
_object_msg = _object_msg_by_slots if _has_slots(DetectedObject) else _object_msg_by_keywords
_anomaly_msg = _anomaly_msg_by_slots if _has_slots(AnomalyMsg) else _anomaly_msg_by_keywords


def result_from_msg(msg: AnomalyArray, frame_index: int) -> FrameResult:
    """The core FrameResult of an AnomalyArray (objects, anomalies, score; events travel on ~/events)."""
    box = lambda m: (float(m.x_min), float(m.y_min), float(m.x_max), float(m.y_max))  # noqa: E731
    objects = [ObjectReport(o.object_class, float(o.score), box(o), o.background_class or None,
                            float(o.background_fraction), int(o.track_id), bool(o.confirmed)) for o in msg.objects]
    anomalies = [Anomaly(a.object_class, float(a.object_score), a.background_class, float(a.background_fraction),
                         box(a), a.rule_id, a.severity, a.sentence, int(a.track_id), int(a.duration_frames),
                         float(a.score), int(a.event_id), float(a.duration)) for a in msg.anomalies]
    return FrameResult(frame_index, from_time(msg.header.stamp), objects, anomalies, float(msg.score))


def to_time(stamp: float | None) -> Time:
    if stamp is None:
        return Time()
    sec = math.floor(stamp)
    return Time(sec=sec, nanosec=min(int(round((stamp - sec) * 1e9)), 999_999_999))


def from_time(t: Time) -> float:
    return t.sec + t.nanosec * 1e-9


def anomaly_event(event: Event, header, snapshot_jpeg: bytes | None = None) -> AnomalyEvent:
    """One event update; `header` is the image header of the frame that caused it. An ended event says why
    (end_reason; the core's own ends, without a reason, are the grace frames running out)."""
    end_reason = (event.end_reason or END_GRACE_EXPIRED) if event.state == EVENT_ENDED else ''
    msg = AnomalyEvent(
        header=header, event_id=int(event.event_id), state=STATES[event.state], rule_id=event.rule_id,
        severity=event.severity, track_id=int(event.track_id), object_class=event.object_class,
        background_class=event.background_class, x_min=float(event.box[0]), y_min=float(event.box[1]),
        x_max=float(event.box[2]), y_max=float(event.box[3]), first_stamp=to_time(event.start_stamp),
        last_stamp=to_time(event.end_stamp), duration=float(event.duration), first_frame=int(event.start_frame),
        last_frame=int(event.end_frame), peak_score=float(event.peak_score), score=float(event.score),
        sentence=event.sentence, end_reason=end_reason)
    if snapshot_jpeg is not None:
        msg.snapshot = CompressedImage(header=header, format='jpeg', data=snapshot_jpeg)
    return msg


def event_from_msg(msg: AnomalyEvent) -> Event:
    """The core Event of a message (the recorder writes events.jsonl with the same code as vad-video)."""
    return Event(msg.rule_id, int(msg.track_id), msg.object_class, msg.background_class, int(msg.first_frame),
                 int(msg.last_frame), from_time(msg.first_stamp), from_time(msg.last_stamp), float(msg.peak_score),
                 msg.sentence,
                 event_id=int(msg.event_id), state=STATE_NAMES[msg.state], severity=msg.severity,
                 box=(float(msg.x_min), float(msg.y_min), float(msg.x_max), float(msg.y_max)), score=float(msg.score),
                 end_reason=msg.end_reason)


def detections(result: FrameResult, header):
    """vision_msgs/Detection2DArray of every checked object (class id = class name, as vision_msgs allows);
    None where vision_msgs is not installed."""
    if Detection2DArray is None:
        return None
    out = Detection2DArray(header=header)
    for o in result.objects:
        d = Detection2D(header=header, id=str(o.track_id) if o.track_id else '')
        x0, y0, x1, y1 = (float(v) for v in o.box)
        d.bbox.center.position.x, d.bbox.center.position.y = (x0 + x1) / 2, (y0 + y1) / 2
        d.bbox.size_x, d.bbox.size_y = x1 - x0, y1 - y0
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = o.object_class, float(o.score)
        d.results.append(hypothesis)
        out.detections.append(d)
    return out


def class_map_image(class_map: ClassMap, header) -> Image:
    """The background map as mono16 class ids (65535 = no class); names on ~/class_names."""
    labels = np.ascontiguousarray(class_map.labels, dtype='<u2')
    h, w = labels.shape
    return Image(header=header, height=h, width=w, encoding='mono16', is_bigendian=0, step=2 * w,
                 data=labels.tobytes())


def class_names_msg(class_map: ClassMap) -> String:
    """JSON list: index i of the list is class id i of ~/class_map."""
    return String(data=json.dumps(list(class_map.class_names)))
