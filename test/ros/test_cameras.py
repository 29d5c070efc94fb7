"""One vad_node serving two cameras with one set of models, over real DDS: per-camera outputs, scene maps and
diagnostics, and fairness: a camera flooding at 30 Hz does not starve a slow one."""
from __future__ import annotations

import subprocess
import textwrap
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from node_graph import image_msg, write_config
from ros_helpers import RosPeer, isolated_env
from vad_ros.launching import graph
from vad_ros.launching.launcher import GraphProcesses
from vad_ros.msg import AnomalyArray
from vad_ros.paths import share_dir


def two_camera_config(tmp_path) -> str:
    """Both cameras: the rule (person, {road}); front: the whole image is road (node_graph.write_config);
    rear: its own scene map, all grass, so nobody there breaks the rule. Object confirmation is off (this is about
    the node's mechanics): every person found on the road fires in every frame."""
    write_config(tmp_path)
    (tmp_path / 'rear_scene.yaml').write_text(textwrap.dedent('''\
        image_size: [768, 576]
        regions:
          - label: grass
            polygon: [[0, 0], [768, 0], [768, 576], [0, 576]]
        '''))
    params = tmp_path / 'cameras.yaml'
    params.write_text(textwrap.dedent('''\
        /**:
          ros__parameters:
            scene_map_file: scene.yaml
            rules_file: rules.yaml
            diagnostics_period: 0.5
            confirm:
              enabled: false
            rear:
              scene_map_file: rear_scene.yaml
        '''))
    return str(params)


def test_two_cameras_one_node_own_outputs_and_no_starvation(tmp_path, vtest_frames):
    env = isolated_env()
    spec = graph.vad_nodes({'cameras': 'front=/t_front/image_raw,rear=/t_rear/image_raw',
                            'params_file': two_camera_config(tmp_path)}, share_dir())
    log_path = tmp_path / 'node.log'
    with open(log_path, 'w') as log, GraphProcesses(spec, env=env, stdout=log, stderr=subprocess.STDOUT) as procs:
        peer = RosPeer(env)
        try:
            node = peer.node
            pubs = {cam: node.create_publisher(Image, f'/t_{cam}/image_raw', qos_profile_sensor_data)
                    for cam in ('front', 'rear')}
            results: dict[str, list[AnomalyArray]] = {'front': [], 'rear': []}
            front_times: list[float] = []          # when each front result arrived (time.monotonic())

            def on_result(cam: str, msg: AnomalyArray) -> None:
                results[cam].append(msg)
                if cam == 'front':
                    front_times.append(time.monotonic())
            subs = [node.create_subscription(AnomalyArray, f'/{cam}/vad_node/anomalies',
                                             lambda msg, cam=cam: on_result(cam, msg), 100) for cam in results]
            diagnostics: list[DiagnosticArray] = []
            node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
            assert peer.spin_until(lambda: all(p.get_subscription_count() for p in pubs.values())
                                   and all(s.get_publisher_count() for s in subs), 40), log_path.read_text()
            # Warm up both cameras until the first frame of each is through.
            for cam, index in (('front', 0), ('rear', 0)):
                deadline = time.monotonic() + 20
                while not results[cam] and time.monotonic() < deadline:
                    pubs[cam].publish(image_msg(vtest_frames[2], index))
                    peer.spin_for(1.0)
                assert results[cam], f'{cam}: no result\n{log_path.read_text()}'
            for r in results.values():
                r.clear()
            front_times.clear()

            # 8 s: front floods (bursts of 4 at ~30 Hz), rear sends one frame a second (a round of both takes well under 1 s).
            rear_sent, front_sent, start = [], 0, time.monotonic()
            while time.monotonic() - start < 8.0:
                elapsed = time.monotonic() - start
                if len(rear_sent) <= elapsed / 1.0:
                    msg = image_msg(vtest_frames[2], 1 + len(rear_sent))
                    pubs['rear'].publish(msg)
                    rear_sent.append(msg.header.stamp.sec)
                for _ in range(4):        # a burst of 4 per tick: more than any machine processes, so it must thin
                    msg = image_msg(vtest_frames[2], 1000)      # stamped as a 30 Hz camera: no jump in image time
                    msg.header.stamp.sec, nanos = 1001 + front_sent // 30, (front_sent % 30) * 1_000_000_000 // 30
                    msg.header.stamp.nanosec = nanos
                    pubs['front'].publish(msg)
                    front_sent += 1
                peer.spin_for(1 / 30)
            peer.spin_for(3.0)

            rear_done = {r.header.stamp.sec for r in results['rear']}
            rear_status = next(s for s in diagnostics[-1].status if s.name.endswith('/rear/vad_node'))
            rear_values = {kv.key: kv.value for kv in rear_status.values}
            # Every round serves each camera that has a frame waiting, so a rear frame (one a second) is lost only
            # on the best-effort way (one allowed) or when a newer one replaced it during a round slower than 1 s:
            # a loaded machine. Front floods, so it has a frame in every round and its results mark the ends of
            # the rounds: g seconds between two of them let at most int(g) rear frames be replaced. On a machine
            # fast enough that is 0 (at most one rear frame lost); a node that let front starve rear loses most
            # of them however fast it is.
            gaps = [b - a for a, b in zip([start] + front_times, front_times)]
            lost = len(rear_sent) - len(rear_done & set(rear_sent))
            assert lost <= 1 + sum(int(g) for g in gaps), \
                (rear_sent, sorted(rear_done), [round(g, 2) for g in gaps], rear_values)
            assert results['front'] and len(results['front']) < front_sent      # the flood is thinned, not queued
            # Per-camera scene maps: people on the road in front, on grass at the rear.
            assert all(r.anomalies for r in results['front']) and not any(r.anomalies for r in results['rear'])
            assert all(r.objects for r in results['rear'])
            names = {s.name for d in diagnostics[-4:] for s in d.status}
            assert {'vad_ros: /front/vad_node', 'vad_ros: /rear/vad_node'} <= names, names
            front_status = next(s for s in diagnostics[-1].status if s.name.endswith('/front/vad_node'))
            values = {kv.key: kv.value for kv in front_status.values}
            assert int(values['frames_dropped_busy']) > 0 and values['scene_map'].endswith('scene.yaml')
            assert log_path.read_text().count('configured: detector') == 1            # one set of models
            # the rear map has no road: its camera's start-up warning says so, and says which camera it is
            warnings = [line for line in log_path.read_text().splitlines() if 'cannot produce' in line]
            assert warnings and all("[rear] " in line and "'road'" in line for line in warnings), warnings
            assert procs.exited() == {}
        finally:
            peer.close()
