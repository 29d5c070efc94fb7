"""The generated messages import next to the Python package, and FrameResults become AnomalyArrays."""
from std_msgs.msg import Header

import vad_ros.pipeline  # noqa: F401  (the pure-Python core and the messages in one process)
from vad_ros.ros.messages import anomaly_array
from vad_ros.msg import Anomaly, AnomalyArray
from vad_ros.types import Anomaly as AnomalyResult, FrameResult, ObjectReport


def test_message_fields():
    fields = Anomaly.get_fields_and_field_types()
    assert fields['object_class'] == 'string' and fields['x_min'] == 'float' and fields['track_id'] == 'uint32'
    assert AnomalyArray.get_fields_and_field_types()['anomalies'] == 'sequence<vad_ros/Anomaly>'
    assert AnomalyArray.get_fields_and_field_types()['header'] == 'std_msgs/Header'


def test_frame_result_to_message_keeps_header_and_content():
    header = Header(frame_id='cam_optical_frame')
    header.stamp.sec, header.stamp.nanosec = 12, 34
    anomaly = AnomalyResult('person', 0.87, 'road', 0.64, (1.0, 2.0, 30.0, 80.0), 'r1', 'critical',
                            'person (0.87) on road (64% of footprint): keep off', track_id=7, duration_frames=3,
                            score=0.5)
    obj = ObjectReport('person', 0.87, (1.0, 2.0, 30.0, 80.0), 'road', 0.64, 7)
    msg = anomaly_array(FrameResult(3, 12.0, [obj, obj], [anomaly], 0.5), header)
    assert msg.header == header and msg.is_anomalous and abs(msg.score - 0.5) < 1e-6 and msg.num_objects == 2
    (m,) = msg.anomalies
    assert (m.object_class, m.background_class, m.rule_id, m.severity, m.track_id, m.duration_frames) == \
        ('person', 'road', 'r1', 'critical', 7, 3)
    assert (m.x_min, m.y_min, m.x_max, m.y_max) == (1.0, 2.0, 30.0, 80.0)
    assert m.sentence.startswith('person (0.87) on road')
    normal = anomaly_array(FrameResult(4, 13.0, [], [], 0.0), header)
    assert not normal.is_anomalous and normal.anomalies == [] and normal.score == 0.0


def test_the_recorder_reads_back_what_the_node_sent():
    """FrameResult -> AnomalyArray -> FrameResult and Event -> AnomalyEvent -> Event keep what the writers use, so
    the recorder's files equal vad-video's."""
    from vad_ros.media.writers import anomaly_record, event_record
    from vad_ros.ros.messages import anomaly_event, event_from_msg, result_from_msg
    from vad_ros.types import EVENT_ENDED, Event
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 1, 500_000_000
    anomaly = AnomalyResult('person', 0.87, 'grass', 1.0, (1.5, 2.25, 30.0, 80.0), 'r1', 'warning', 's', track_id=7,
                            duration_frames=3, score=0.6525, event_id=4, duration=0.2)
    obj = ObjectReport('person', 0.87, (1.5, 2.25, 30.0, 80.0), None, 0.0, 7)
    rock = ObjectReport('person', 0.3125, (5.0, 6.0, 7.0, 8.0), 'grass', 1.0, 9, confirmed=False)
    msg = anomaly_array(FrameResult(3, 1.5, [obj, rock], [anomaly], 0.6525), header)
    assert [o.confirmed for o in msg.objects] == [True, False] and msg.num_objects == 2
    back = result_from_msg(msg, 3)
    assert back.stamp == 1.5 and back.objects[0].background_class is None and back.objects[0].track_id == 7
    assert back.objects == [obj, rock] and [o.confirmed for o in back.objects] == [True, False]
    assert anomaly_record(3, back.stamp, back.anomalies[0]) == anomaly_record(3, 1.5, anomaly)
    event = Event('r1', 7, 'person', 'grass', 10, 14, 0.0, 0.4, 0.6525, 's', event_id=4, state=EVENT_ENDED,
                  severity='critical', box=(1.5, 2.25, 30.0, 80.0), score=0.5)
    msg = anomaly_event(event, header, b'\xff\xd8jpeg')
    assert msg.state == msg.STATE_ENDED and msg.snapshot.format == 'jpeg' and bytes(msg.snapshot.data) == b'\xff\xd8jpeg'
    assert msg.first_stamp.sec == 0 and msg.last_stamp.nanosec == 400_000_000 and abs(msg.duration - 0.4) < 1e-6
    assert event_record(event_from_msg(msg)) == event_record(event)


def test_messages_filled_by_slots_equal_and_serialise_like_the_keyword_constructor():
    from rclpy.serialization import deserialize_message, serialize_message
    from vad_ros.msg import DetectedObject
    from vad_ros.ros import messages
    assert messages._object_msg is messages._object_msg_by_slots       # the generated classes have the slots
    assert messages._anomaly_msg is messages._anomaly_msg_by_slots
    obj = ObjectReport('person', 0.875, (1.5, 2.25, 30.0, 80.0), None, 0.25, 7, False)   # floats exact in float32
    anomaly = AnomalyResult('car', 0.5, 'sidewalk', 1.0, (0.0, 1.0, 2.0, 3.0), 'r', 'info', 'a car', track_id=3,
                            duration_frames=2, score=0.25, event_id=9, duration=0.125)
    pairs = [(messages._object_msg_by_slots(obj), messages._object_msg_by_keywords(obj), DetectedObject),
             (messages._anomaly_msg_by_slots(anomaly), messages._anomaly_msg_by_keywords(anomaly), Anomaly)]
    assert pairs[0][0].confirmed is False and messages._object_msg_by_slots(obj._replace(confirmed=True)).confirmed
    for by_slots, by_keywords, cls in pairs:
        assert by_slots == by_keywords and repr(by_slots) == repr(by_keywords)
        data = serialize_message(by_slots)
        assert data == serialize_message(by_keywords) and deserialize_message(data, cls) == by_keywords
    assert messages._array_msg is messages._array_msg_by_slots
    args = (Header(frame_id='cam'), True, 0.25, 1, [pairs[0][1]], [pairs[1][1]])
    by_slots, by_keywords = messages._array_msg_by_slots(*args), messages._array_msg_by_keywords(*args)
    assert by_slots == by_keywords and serialize_message(by_slots) == serialize_message(by_keywords)
    array = anomaly_array(FrameResult(1, 0.0, [obj], [anomaly], 0.25), Header())
    assert deserialize_message(serialize_message(array), AnomalyArray) == array


def test_an_ended_event_says_why_and_the_reason_survives_the_round_trip():
    import dataclasses
    from vad_ros.ros.messages import anomaly_event, event_from_msg
    from vad_ros.types import EVENT_ENDED, EVENT_ONGOING, EVENT_STARTED, END_GRACE_EXPIRED, END_PAUSED, Event
    event = Event('r1', 7, 'person', 'grass', 10, 14, 0.0, 0.4, 0.6525, 's', event_id=4, state=EVENT_STARTED)
    for state in (EVENT_STARTED, EVENT_ONGOING):               # no reason while the event is open
        assert anomaly_event(dataclasses.replace(event, state=state), Header()).end_reason == ''
    ended = dataclasses.replace(event, state=EVENT_ENDED)
    assert anomaly_event(ended, Header()).end_reason == END_GRACE_EXPIRED == 'grace expired'   # the core's own end
    paused = dataclasses.replace(ended, end_reason=END_PAUSED)
    msg = anomaly_event(paused, Header())
    assert msg.end_reason == 'paused' and event_from_msg(msg).end_reason == 'paused'
