"""The node's rule file and scene map over real DDS: a file that cannot be used is said out loud (/diagnostics
ERROR) while the previous version stays in force, a start-up without a usable file fails configure with the
reason, and a big file being reloaded never holds up the services and /diagnostics (it is read on the file
watcher thread, not the executor's).

Perception is the real default detector with node_graph.write_config's scene map (everything `road`) and rule
(person, {road}).
"""
from __future__ import annotations

import math
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from std_srvs.srv import SetBool

from node_graph import image_msg, node_status as status, write_config
from vad_ros import limits
from vad_ros.msg import AnomalyEvent

NODE = '/cam/vad_node'
GRASS = 'image_size: [768, 576]\nregions:\n  - label: grass\n    polygon: [[0, 0], [768, 0], [768, 576], [0, 576]]\n'


def level_is(g, level, text: str = ''):
    def check() -> bool:
        s = status(g)
        return s is not None and s.level == level and text in s.message
    return check


def fires(g, frame, first: int, frames: int = 6) -> bool:
    """Whether a rule fires within `frames` frames (stamps 1 s apart; a new track is confirmed first)."""
    for i in range(first, first + frames):
        result = g.send_and_wait(image_msg(frame, i))
        assert result is not None, g.log()
        if result.anomalies:
            return True
    return False


def test_rejected_reloads_show_as_error_until_fixed_and_the_old_files_stay(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path, 'events:\n  grace_seconds: 3600.0\n'))
    for i in range(6):                                     # people on the road: an event opens
        assert g.send_and_wait(image_msg(vtest_frames[2], i)) is not None, g.log()
        if g.peer.spin_until(lambda: g.events, 1):
            break
    assert g.events, g.log()
    assert g.peer.spin_until(level_is(g, DiagnosticStatus.OK), 10), status(g)

    scene = tmp_path / 'scene.yaml'
    good_scene = scene.read_text()
    scene.write_text('image_size: [768, 576]\nregions: [oops]\n')
    assert g.peer.spin_until(level_is(g, DiagnosticStatus.ERROR, 'scene map change rejected'), 10), (status(g), g.log())
    assert 'region 0' in status(g).message and 'previous map stays in force' in status(g).message
    assert g.send_and_wait(image_msg(vtest_frames[2], 10)).anomalies, g.log()     # the old map: still road
    assert not any(e.state == AnomalyEvent.STATE_ENDED for e in g.events)       # nothing was put in force

    scene.unlink()                                         # a map that vanished is no better
    assert g.peer.spin_until(level_is(g, DiagnosticStatus.ERROR, 'does not exist'), 10), status(g)
    scene.write_text(good_scene.replace('road', 'grass'))  # fixed (and different): in force, status back to OK
    assert g.peer.spin_until(level_is(g, DiagnosticStatus.OK), 10), (status(g), g.log())
    assert g.peer.spin_until(lambda: any(e.state == AnomalyEvent.STATE_ENDED for e in g.events), 10), g.log()
    assert {e.end_reason for e in g.events if e.state == AnomalyEvent.STATE_ENDED} == {'scene map changed'}
    assert g.send_and_wait(image_msg(vtest_frames[2], 11)).anomalies == []      # people now stand on grass

    rules = tmp_path / 'rules.yaml'
    rules.write_text('rules:\n  - {id: broken, objects: [persn], forbidden: [grass], sentence: x}\n')
    assert g.peer.spin_until(level_is(g, DiagnosticStatus.ERROR, "unknown object class 'persn'"), 10), status(g)
    rules.write_text('rules:\n  - {id: keep-off, objects: [person], forbidden: [grass], sentence: keep off}\n')
    assert g.peer.spin_until(level_is(g, DiagnosticStatus.OK), 10), (status(g), g.log())
    assert fires(g, vtest_frames[2], 12), g.log()        # the fixed rules are in force (new tracks: confirmed first)
    assert g.procs.exited() == {}


def test_configure_fails_on_a_missing_scene_map_and_succeeds_once_it_exists(tmp_path, node_graph):
    params = write_config(tmp_path)
    scene = tmp_path / 'scene.yaml'
    good_scene = scene.read_text()
    scene.unlink()
    g = node_graph(params, launch_args={'autostart': 'false'}, connect=False)
    configure = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
    assert g.call(ChangeState, f'{NODE}/change_state', configure, timeout=60).success is False
    assert g.call(GetState, f'{NODE}/get_state', GetState.Request()).current_state.id == \
        State.PRIMARY_STATE_UNCONFIGURED
    assert g.peer.spin_until(level_is(g, DiagnosticStatus.ERROR, 'does not exist'), 10), status(g)
    message = status(g).message                          # the file, where it was looked for, the parameter
    assert "'scene.yaml'" in message and str(tmp_path) in message and 'scene_map_file' in message
    scene.write_text(good_scene)
    assert g.call(ChangeState, f'{NODE}/change_state', configure, timeout=60).success is True, g.log()
    assert g.peer.spin_until(level_is(g, DiagnosticStatus.OK, 'inactive'), 10), status(g)


def big_scene_map() -> str:
    """A valid scene map as big as the limits let a file be read in reasonable time: 80 % of the vertices
    (and YAML nodes) allowed, in polygons of at most MAX_POLYGON_VERTICES, all `road` (as write_config's)."""
    vertices = int(0.8 * min(limits.MAX_SCENE_VERTICES, limits.MAX_YAML_NODES / 3))
    per_polygon = min(limits.MAX_POLYGON_VERTICES, 5000)
    lines = ['image_size: [768, 576]', 'regions:', '  - label: road',
             '    polygon: [[0, 0], [768, 0], [768, 576], [0, 576]]']
    for r in range(vertices // per_polygon):
        cx, cy = 60 + 80 * (r % 8), 100 + 150 * (r // 8)
        points = ', '.join(f'[{cx + 30 * math.cos(2 * math.pi * k / per_polygon):.2f}, '
                           f'{cy + 30 * math.sin(2 * math.pi * k / per_polygon):.2f}]' for k in range(per_polygon))
        lines += ['  - label: road', f'    polygon: [{points}]']
    text = '\n'.join(lines) + '\n'
    assert len(text.encode()) < limits.MAX_YAML_BYTES
    return text


def test_a_big_scene_map_being_reloaded_never_holds_up_services_or_diagnostics(tmp_path, node_graph):
    g = node_graph(write_config(tmp_path))               # diagnostics every 0.5 s
    client = g.peer.node.create_client(SetBool, f'{NODE}/enable')
    assert client.wait_for_service(timeout_sec=10)
    published: list[float] = []      # when the node published /diagnostics (its stamp: the node's executor ran)
    g.peer.node.create_subscription(
        DiagnosticArray, '/diagnostics',
        lambda msg: published.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9), 10)
    assert g.peer.spin_until(lambda: len(published) >= 3, 10)

    def call_enable() -> float:
        """Seconds ~/enable took to answer."""
        t0 = time.monotonic()
        future = client.call_async(SetBool.Request(data=True))
        assert g.peer.spin_until(future.done, 30), 'no answer from ~/enable'
        return time.monotonic() - t0

    def watch(until, timeout: float) -> tuple[float, float]:
        """Call ~/enable over and over until `until()`; the longest answer and the longest /diagnostics gap
        from the last /diagnostics before the watch to the first after it (a read shorter than the period
        still lies between two of them)."""
        start, answers = len(published), []
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            answers.append(call_enable())
            g.peer.spin_for(0.1)
        assert until(), g.log()
        end = len(published)
        assert g.peer.spin_until(lambda: len(published) > end, 10), 'no /diagnostics after the watch'
        times = published[start - 1:]
        return max(answers, default=0.0), max(b - a for a, b in zip(times, times[1:]))

    # The same watch while nothing is read: the baseline of this (possibly busy) machine.
    quiet_until = time.monotonic() + 3.0
    quiet_answer, quiet_gap = watch(lambda: time.monotonic() > quiet_until, 10)
    assert quiet_answer < 1.0 and quiet_gap < 1.0, (quiet_answer, quiet_gap)

    (tmp_path / 'scene.yaml').write_text(big_scene_map())
    changed = lambda: 'scene map changed' in g.log()    # noqa: E731 - the node read, checked and took it
    answer, gap = watch(changed, 120)
    assert 'scene map changed: ' in g.log() and 'rejected' not in g.log(), g.log()
    assert answer < 1.0, f'~/enable took {answer:.2f} s while the scene map was read'
    assert gap < 1.0, f'/diagnostics stopped for {gap:.2f} s while the scene map was read'
