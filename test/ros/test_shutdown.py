"""vad_node going away, seen from its subscribers over real DDS: Ctrl-C (SIGINT to the node, and to the whole
process group of vad-launch as a terminal sends it) publishes the `ended` update of every open event before
the node exits 0 without a traceback; a node killed with SIGKILL is noticed through the liveliness of
`~/events`; every other way the node ends events (pause, deactivate, shutdown) says why, and a pause leaves
no frame behind that starts one after it.

Perception is the real default detector with a scene map that labels the whole image `road` and the rule
(person, {road}) (node_graph.write_config): every person found opens an event (once confirmed: the node's
defaults, except in the pause race test), and a long grace keeps it open.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_srvs.srv import SetBool

from node_graph import CAMERA, EVENTS_QOS, image_msg, write_config
from ros_helpers import RosPeer, isolated_env
from vad_ros.msg import AnomalyArray, AnomalyEvent

NODE = '/cam/vad_node'
KEEP_OPEN = 'events:\n  grace_seconds: 3600.0\n'        # an event stays open as long as the test


def started_ids(events) -> set[int]:
    return {e.event_id for e in events if e.state == AnomalyEvent.STATE_STARTED}


def ended(events) -> dict[int, AnomalyEvent]:
    return {e.event_id: e for e in events if e.state == AnomalyEvent.STATE_ENDED}


def open_an_event(g, frame) -> set[int]:
    """Send a frame with people until an event has started; the ids of the started events (none ended)."""
    ids = open_an_event_from(g, frame, 0)
    assert not ended(g.events), g.log()
    return ids


def open_an_event_from(g, frame, first: int) -> set[int]:
    """Send a frame with people (stamps 1 s apart from 1000 + first) until an event that has not ended has
    started; the ids of the open events."""
    still_open = lambda: started_ids(g.events) - set(ended(g.events))  # noqa: E731
    for i in range(first, first + 8):
        assert g.send_and_wait(image_msg(frame, i)) is not None, g.log()
        if g.peer.spin_until(still_open, 1):
            break
    assert still_open(), g.log()
    return still_open()


def test_ctrl_c_ends_the_open_events_and_exits_0(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path, KEEP_OPEN, confirm=True))
    ids = open_an_event(g, vtest_frames[2])
    node = g.procs.procs['vad_node']
    node.send_signal(signal.SIGINT)
    assert g.peer.spin_until(lambda: set(ended(g.events)) == ids, 15), (ids, g.events, g.log())
    assert node.wait(20) == 0, g.log()
    for event in ended(g.events).values():
        assert event.end_reason == 'node shutdown'
        assert event.last_stamp.sec >= 1000 and 'pedestrians must not enter the road' in event.sentence
    log = g.log()
    assert 'Traceback' not in log and 'KeyboardInterrupt' not in log, log


def test_ctrl_c_in_a_terminal_running_vad_launch_stops_everything_cleanly(tmp_path, vtest_frames):
    """SIGINT to the process group (vad-launch and its node), as a terminal sends it on Ctrl-C: vad-launch then
    also forwards SIGINT to the node, which gets two."""
    env = isolated_env()
    out = open(tmp_path / 'launch.log', 'w')
    launch = subprocess.Popen(['vad-launch', f'image:={CAMERA}',
                               f'params_file:={write_config(tmp_path, KEEP_OPEN, confirm=True)}', 'namespace:=cam'],
                              env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    peer = RosPeer(env)
    try:
        events, results = [], []
        pub = peer.node.create_publisher(Image, CAMERA, qos_profile_sensor_data)
        peer.node.create_subscription(AnomalyEvent, f'{NODE}/events', events.append, EVENTS_QOS)
        sub = peer.node.create_subscription(AnomalyArray, f'{NODE}/anomalies', results.append, 10)
        log = lambda: (tmp_path / 'launch.log').read_text()  # noqa: E731
        assert peer.spin_until(lambda: pub.get_subscription_count() > 0 and sub.get_publisher_count() > 0, 60), \
            log()
        for i in range(10):
            pub.publish(image_msg(vtest_frames[2], i))
            if peer.spin_until(lambda: started_ids(events), 2):
                break
        ids = started_ids(events)
        assert ids, log()
        os.killpg(launch.pid, signal.SIGINT)
        assert peer.spin_until(lambda: set(ended(events)) == ids, 15), (ids, events, log())
        assert launch.wait(30) == 0, log()
        assert all(e.end_reason == 'node shutdown' for e in ended(events).values())
        text = log()
        assert 'Traceback' not in text and 'KeyboardInterrupt' not in text, text
        assert 'exited with code' not in text, text
    finally:
        peer.close()
        if launch.poll() is None:
            os.killpg(launch.pid, signal.SIGKILL)
            launch.wait()
        out.close()


def test_a_killed_node_is_noticed_through_the_liveliness_of_events(tmp_path, node_graph):
    g = node_graph(write_config(tmp_path))
    changes = g.liveliness          # watched from before the node started (see node_graph.Graph)
    assert g.peer.spin_until(lambda: changes and changes[-1].alive_count == 1, 20), (changes, g.log())
    g.procs.procs['vad_node'].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert g.peer.spin_until(lambda: changes[-1].alive_count == 0, 10), changes
    assert changes[-1].not_alive_count == 1 or changes[-1].alive_count_change == -1
    assert time.monotonic() - killed < 2 * EVENTS_QOS.liveliness_lease_duration.nanoseconds * 1e-9 + 1.0


def test_every_way_the_node_ends_an_event_publishes_it_with_the_reason(tmp_path, node_graph, vtest_frames):
    """Pause (~/enable false), lifecycle deactivate and lifecycle shutdown while active: each ends the open
    events at once and says why; after the shutdown transition the process still runs (finalized)."""
    def transition(transition_id: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return g.call(ChangeState, f'{NODE}/change_state', request, timeout=60).success

    def reason_of_the_next_end(action) -> set[str]:
        ids = open_an_event_from(g, vtest_frames[2], len(g.results))   # stamps go on 1 s a frame, no jump
        action()
        assert g.peer.spin_until(lambda: ids <= set(ended(g.events)), 15), (ids, g.log())
        return {ended(g.events)[i].end_reason for i in ids}

    g = node_graph(write_config(tmp_path, KEEP_OPEN, confirm=True))
    enable = lambda on: g.call(SetBool, f'{NODE}/enable', SetBool.Request(data=on))  # noqa: E731
    assert reason_of_the_next_end(lambda: enable(False)) == {'paused'}
    assert enable(True).success
    assert reason_of_the_next_end(lambda: transition(Transition.TRANSITION_DEACTIVATE)) == {'deactivated'}
    assert transition(Transition.TRANSITION_ACTIVATE)
    assert g.peer.spin_until(lambda: g.pub.get_subscription_count() > 0, 20)
    assert reason_of_the_next_end(lambda: transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)) == {'node shutdown'}
    assert g.call(GetState, f'{NODE}/get_state', GetState.Request()).current_state.id == State.PRIMARY_STATE_FINALIZED
    assert g.procs.exited() == {}


def test_a_pause_ends_the_events_and_no_frame_starts_one_after_it(tmp_path, node_graph, vtest_frames):
    """~/enable false while frames keep coming as fast as a camera sends them (the worker busy with one, the
    next waiting): once the reply is in, the open events have ended ('paused') and no frame processed or
    waiting at that moment starts a new one. (Object confirmation off: every person found would fire at once.)"""
    g = node_graph(write_config(tmp_path, KEEP_OPEN))
    open_an_event(g, vtest_frames[2])
    frame = image_msg(vtest_frames[2], 0)
    sent = [0]

    def send() -> None:                # the same people, stamped as a 30 Hz camera after the frames above
        frame.header.stamp.sec = 1010 + sent[0] // 30
        frame.header.stamp.nanosec = (sent[0] % 30) * 1_000_000_000 // 30
        g.pub.publish(frame)
        sent[0] += 1
        g.peer.spin_for(1 / 30)

    start = time.monotonic()
    while time.monotonic() - start < 2.0:
        send()
    client = g.peer.node.create_client(SetBool, f'{NODE}/enable')
    assert client.wait_for_service(timeout_sec=10)
    reply = client.call_async(SetBool.Request(data=False))
    while not reply.done() and time.monotonic() - start < 30:
        send()
    assert reply.done() and reply.result().success, g.log()
    for _ in range(30):                # frames sent while paused are ignored
        send()
    g.peer.spin_for(3.0)
    events = list(g.events)
    first_end = next((i for i, e in enumerate(events) if e.state == AnomalyEvent.STATE_ENDED), None)
    assert first_end is not None, (events, g.log())
    assert all(e.end_reason == 'paused' for e in ended(events).values()), events
    # ~/events is one reliable, ordered stream: after the pause's ended updates nothing started, and nothing
    # started before them was left open.
    assert [e.state for e in events[first_end:]] == [AnomalyEvent.STATE_ENDED] * (len(events) - first_end), \
        [(e.event_id, e.state, e.end_reason) for e in events]
    assert started_ids(events) == set(ended(events)), [(e.event_id, e.state, e.end_reason) for e in events]
    published = lambda: int(g.diagnostic('events_published') or -1)  # noqa: E731
    assert g.peer.spin_until(lambda: published() == len(events), 5), (published(), len(events))
    g.peer.spin_for(1.0)
    assert published() == len(g.events) == len(events)       # nothing more while paused
    assert int(g.diagnostic('frames_ignored_paused') or 0) >= 1
    assert g.procs.exited() == {}
