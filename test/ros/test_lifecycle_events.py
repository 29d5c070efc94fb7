"""vad_node as a managed node over real DDS: lifecycle transitions, ~/enable, compressed input, ~/events with
the image stamps, reliable delivery of every event state, and the no-frames-arrive QoS warning.

Perception is the real default detector (NanoDet; HOG where its model is missing) with a scene map that labels
the whole image `road` and the rule (person, {road}) (node_graph.write_config), so every person found is an
anomaly: at once in the tests of the node's mechanics (object confirmation off), once confirmed in
test_events_start_and_end_with_the_image_stamps (the node's defaults).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage
from std_srvs.srv import SetBool

from node_graph import CAMERA, image_msg, write_config
from vad_ros.params import SPECS
from vad_ros.msg import AnomalyEvent

NODE = '/cam/vad_node'


def state_of(g) -> int:
    return g.call(GetState, f'{NODE}/get_state', GetState.Request()).current_state.id


def transition(g, transition_id: int) -> bool:
    request = ChangeState.Request(transition=Transition(id=transition_id))
    return g.call(ChangeState, f'{NODE}/change_state', request, timeout=60).success


def processes(g, frame, index: int, timeout: float = 20.0) -> bool:
    return g.send_and_wait(image_msg(frame, index), timeout=timeout) is not None


def test_lifecycle_transitions_load_and_free_models_and_gate_publishing(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path), launch_args={'autostart': 'false'}, connect=False)
    assert state_of(g) == State.PRIMARY_STATE_UNCONFIGURED
    assert g.peer.spin_until(lambda: g.diagnostic('detector') == 'not loaded', 10), g.log()

    assert transition(g, Transition.TRANSITION_CONFIGURE), g.log()
    assert state_of(g) == State.PRIMARY_STATE_INACTIVE
    loaded = lambda: g.diagnostic('detector') not in (None, 'not loaded')  # noqa: E731
    assert g.peer.spin_until(loaded, 30), 'models not loaded'
    assert g.pub.get_subscription_count() == 0                     # inactive: not subscribed to the camera
    g.pub.publish(image_msg(vtest_frames[2], 0))
    g.peer.spin_for(1.5)
    assert g.results == []                                         # ... and nothing published

    assert transition(g, Transition.TRANSITION_ACTIVATE), g.log()
    assert g.peer.spin_until(lambda: g.pub.get_subscription_count() > 0, 20)
    assert processes(g, vtest_frames[2], 1), g.log()

    assert transition(g, Transition.TRANSITION_DEACTIVATE)
    assert g.peer.spin_until(lambda: g.pub.get_subscription_count() == 0, 10)
    count = len(g.results)
    g.pub.publish(image_msg(vtest_frames[3], 2))
    g.peer.spin_for(1.5)
    assert len(g.results) == count

    assert transition(g, Transition.TRANSITION_CLEANUP)
    assert state_of(g) == State.PRIMARY_STATE_UNCONFIGURED
    assert g.peer.spin_until(lambda: g.diagnostic('detector') == 'not loaded', 10), 'models not freed'
    assert 'models freed' in g.log()

    assert transition(g, Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert state_of(g) == State.PRIMARY_STATE_FINALIZED
    assert g.procs.exited() == {}


def test_enable_service_pauses_and_resumes_without_unloading(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path))
    assert processes(g, vtest_frames[2], 0), g.log()
    assert g.peer.spin_until(lambda: g.diagnostic('detector') not in (None, 'not loaded'), 10)
    detector = g.diagnostic('detector')
    reply = g.call(SetBool, f'{NODE}/enable', SetBool.Request(data=False))
    assert reply.success and 'paused' in reply.message
    assert not processes(g, vtest_frames[3], 1, timeout=3.0)
    assert g.peer.spin_until(lambda: (g.diagnostic('state') or '').startswith('paused'), 5)
    assert g.diagnostic('detector') == detector                   # models stay loaded
    reply = g.call(SetBool, f'{NODE}/enable', SetBool.Request(data=True))
    assert reply.success and reply.message.startswith('processing')
    assert processes(g, vtest_frames[4], 2), g.log()
    assert int(g.diagnostic('frames_ignored_paused') or 0) >= 1


def compressed_msg(frame: np.ndarray, index: int, fmt: str = 'jpeg') -> CompressedImage:
    ok, data = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', frame)
    assert ok
    msg = CompressedImage(format=fmt, data=data.tobytes())
    msg.header.stamp.sec = 2000 + index
    msg.header.frame_id = 'test_camera_optical_frame'
    return msg


def test_compressed_input_real_jpeg_frames_and_corrupt_payloads(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path, 'transport: compressed\n'), camera_type=CompressedImage,
                   camera_topic=CAMERA + '/compressed')
    results = [g.send_and_wait(compressed_msg(frame, i)) for i, frame in enumerate(vtest_frames[:4])]
    assert all(r is not None for r in results), g.log()
    assert [r.header.stamp.sec for r in results] == [2000, 2001, 2002, 2003]
    assert any(r.anomalies for r in results), 'the detector found nobody on 4 real frames decoded from JPEG'
    png = g.send_and_wait(compressed_msg(vtest_frames[5], 10, 'png'))
    assert png is not None
    corrupt = compressed_msg(vtest_frames[6], 11)
    corrupt.data = corrupt.data[:200]
    assert g.send_and_wait(corrupt, timeout=2.0) is None
    assert 'cannot be decoded' in g.log()
    assert g.send_and_wait(compressed_msg(vtest_frames[7], 12)) is not None   # still serving
    assert g.peer.spin_until(lambda: int(g.diagnostic('skipped_size') or 0) >= 1, 5)


def test_events_start_and_end_with_the_image_stamps(tmp_path, node_graph, vtest_frames):
    """With the node's defaults, as an operator runs it: people are reported at once but fire only once
    confirmed (a few frames), an event starts at that frame's stamp and ends at the first frame more than
    events.grace_seconds of image time after its last anomalous frame."""
    g = node_graph(write_config(tmp_path, confirm=True))
    person = vtest_frames[2]
    empty = np.full_like(person, 128)                             # nobody: every open event runs out
    got = [g.send_and_wait(image_msg(person, i)) for i in range(5)]
    assert all(r is not None for r in got), g.log()
    grace = SPECS['events.grace_seconds'].default
    end = 1004 + math.floor(grace) + 1        # the first stamp (1 s apart) more than `grace` after the last, 1004
    for i in range(5, end - 1000 + 2):
        assert g.send_and_wait(image_msg(empty, i)) is not None
    assert got[0].objects and not got[0].anomalies, g.log()      # seen, not yet confirmed: no alarm
    assert not any(o.confirmed for o in got[0].objects)
    for r in got:                  # everybody stands on the road: the confirmed people fire, nobody else
        assert sorted(a.track_id for a in r.anomalies) == sorted(o.track_id for o in r.objects if o.confirmed)
    first = next(i for i, r in enumerate(got) if r.anomalies)      # the first frame with a confirmed person
    assert 1 <= first <= 3, [[(o.confirmed, round(o.score, 2)) for o in r.objects] for r in got]
    in_state = lambda state: {e.event_id for e in g.events if e.state == state}  # noqa: E731
    all_ended = lambda: in_state(AnomalyEvent.STATE_STARTED) == in_state(AnomalyEvent.STATE_ENDED) != set()  # noqa
    assert g.peer.spin_until(all_ended, 10), g.log()
    started = [e for e in g.events if e.state == AnomalyEvent.STATE_STARTED]
    ended = [e for e in g.events if e.state == AnomalyEvent.STATE_ENDED]
    onset = {}                                                    # event id -> stamp of its first anomaly
    for r in got:
        for a in r.anomalies:
            onset.setdefault(a.event_id, r.header.stamp.sec)
    first_of = {e.event_id: e for e in started}
    for e in ended:
        assert e.first_stamp.sec == onset[e.event_id] == first_of[e.event_id].header.stamp.sec
        assert e.last_stamp.sec == 1004                              # the last anomalous frame
        assert abs(e.duration - (1004 - e.first_stamp.sec)) < 1e-6 and 0 < e.peak_score <= 1
        assert e.header.stamp.sec == end       # the first frame more than grace_seconds after 1004, not before
        assert e.end_reason == 'grace expired'
        assert (e.rule_id, e.object_class, e.background_class) == ('no-people-on-road', 'person', 'road')
        assert 'pedestrians must not enter the road' in e.sentence
    assert min(onset.values()) == 1000 + first
    # Anomalies carry their event id and their own score.
    ids = {a.event_id for r in g.results for a in r.anomalies}
    assert ids == {e.event_id for e in started} and all(a.score > 0 for r in g.results for a in r.anomalies)


def test_every_event_state_arrives_under_a_fast_publisher(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path, 'events:\n  grace_seconds: 0.0\n'))   # ends in the first frame without
    assert g.send_and_wait(image_msg(vtest_frames[0], 0)) is not None
    for i in range(1, 300):                                   # as fast as the test can publish
        g.pub.publish(image_msg(vtest_frames[i % len(vtest_frames)] if i % 3 else
                                np.full_like(vtest_frames[0], 128), i))
        g.peer.executor.spin_once(timeout_sec=0)
    g.peer.spin_for(5.0)
    published = lambda: int(g.diagnostic('events_published') or -1)  # noqa: E731
    assert g.peer.spin_until(lambda: published() == len(g.events), 20), (published(), len(g.events))
    assert len(g.events) > 10
    by_id: dict[int, list[int]] = {}
    for e in g.events:
        by_id.setdefault(e.event_id, []).append(e.state)
    for states in by_id.values():                             # every episode: started first, ended at most once
        assert states[0] == AnomalyEvent.STATE_STARTED and states.count(AnomalyEvent.STATE_STARTED) == 1
        assert states.count(AnomalyEvent.STATE_ENDED) <= 1 and AnomalyEvent.STATE_ENDED not in states[:-1]
    assert sorted(by_id) == list(range(1, len(by_id) + 1))   # ids 1..n: none lost


def test_qos_mismatch_is_reported_with_the_setting_to_change(tmp_path, node_graph):
    best_effort = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
    g = node_graph(write_config(tmp_path, 'input:\n  reliability: reliable\n'), connect=False,
                   camera_qos=best_effort)
    assert g.peer.spin_until(lambda: 'input.reliability' in g.log() and 'BEST_EFFORT' in g.log().upper(), 20), \
        g.log()
    assert g.peer.spin_until(lambda: 'input.reliability' in (g.diagnostics[-1].status[0].message
                                                               if g.diagnostics else ''), 10)


def test_snapshots_and_the_class_map_when_asked_for(tmp_path, node_graph, vtest_frames):
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from node_graph import LATCHED_QOS
    g = node_graph(write_config(tmp_path, 'events:\n  snapshot: true\npublish_class_map: true\n'))
    maps, names = [], []
    from rclpy.qos import qos_profile_sensor_data
    g.peer.node.create_subscription(Image, f'{NODE}/class_map', maps.append, qos_profile_sensor_data)
    g.peer.node.create_subscription(String, f'{NODE}/class_names', names.append, LATCHED_QOS)
    assert g.peer.spin_until(lambda: g.peer.node.count_publishers(f'{NODE}/class_map') > 0, 10)
    for i in range(3):              # frames until the best-effort class map has arrived too
        assert g.send_and_wait(image_msg(vtest_frames[2], i)) is not None
        if g.peer.spin_until(lambda: g.events and maps and names, 3):
            break
    assert g.events and maps and names, g.log()
    started = [e for e in g.events if e.state == AnomalyEvent.STATE_STARTED]
    assert started and all(e.snapshot.format == 'jpeg' for e in started)
    jpeg = cv2.imdecode(np.frombuffer(bytes(started[0].snapshot.data), np.uint8), cv2.IMREAD_COLOR)
    assert jpeg.shape == (576, 768, 3) and started[0].snapshot.header.stamp.sec == 1000
    class_map = maps[-1]
    assert (class_map.encoding, class_map.width, class_map.height) == ('mono16', 768, 576)
    ids = np.frombuffer(bytes(class_map.data), '<u2')
    assert __import__('json').loads(names[-1].data)[int(ids[0])] == 'road'   # the scene map: road everywhere


def test_a_saved_scene_map_is_picked_up_and_a_bad_one_rejected(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path))
    assert g.send_and_wait(image_msg(vtest_frames[2], 0)).anomalies, g.log()      # people on the road
    scene = tmp_path / 'scene.yaml'
    scene.write_text('image_size: [768, 576]\nregions:\n  - {label: road, polygon: [[0, 0], [10, 0], [10, 10]]}\n'
                     '  - label: grass\n    polygon: [[0, 0], [768, 0], [768, 576], [0, 576]]\n')
    assert g.peer.spin_until(lambda: 'scene map changed' in g.log(), 10), g.log()
    assert g.send_and_wait(image_msg(vtest_frames[2], 1)).anomalies == []         # now they stand on grass
    scene.write_text('image_size: [768, 576]\nregions: [oops]\n')
    assert g.peer.spin_until(lambda: 'scene map change rejected' in g.log(), 10), g.log()
    assert g.send_and_wait(image_msg(vtest_frames[2], 2)).anomalies == []         # the good map stays
    assert g.procs.exited() == {}
