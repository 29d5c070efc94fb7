"""A bounded soak / load run: camera frames at a fixed rate through the real vad_node over DDS for N minutes.

    python bench/soak.py --minutes 10 --width 1920 --height 1080 --fps 30 --out bench/soak_result.json

The node runs as its own process, started as `vad-launch` starts it, on an isolated ROS domain (random
ROS_DOMAIN_ID, localhost discovery, the 16 MB shared-memory profile). This process publishes real frames of
vtest.avi scaled to the size (a few distinct frames in turn, each with a fresh stamp) on a best-effort image
topic, listens to ~/anomalies and /diagnostics, and samples the node's resident memory (VmRSS of its process)
every few seconds. Perception as in the demo: HOG people detector (scale 1.1), the vtest scene map (rescaled),
and one rule that flags every person on the lawn or the road from the first frame, so anomalies and events flow.
At 1080p on a small CPU the node processes about one frame per second; the rest are dropped as "busy" (the node
always works on the newest frame), which is the load this run is about.

Reported: memory over time and its growth after a warm-up, latency percentiles (anomaly message received here
minus the image stamp, and the node's own processing time), published / received / processed / dropped /
skipped counters, and whether every frame the node received is accounted for:
    frames_received == frames_processed + frames_dropped_busy + frames_skipped_bad_input + frames_ignored_paused
and every processed frame reached this process as an AnomalyArray. `published - frames_received` is what the
best-effort transport lost (not the node's doing).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
TOPIC = '/soak/image_raw'
NODE_NS = 'soak'
COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped_busy', 'frames_skipped_bad_input',
            'frames_ignored_paused')


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB (VmRSS), None once it is gone."""
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def percentiles(values: list[float], qs=(50, 90, 99)) -> dict[str, float | None]:
    out: dict[str, float | None] = {f'p{q}': (float(np.percentile(values, q)) if values else None) for q in qs}
    out['max'] = float(max(values)) if values else None
    out['n'] = len(values)
    return out


def soak_frames(video: Path, width: int, height: int, count: int = 6) -> list[np.ndarray]:
    """`count` frames spread over the video, resized to width x height (people on the lawn and the road)."""
    cap = cv2.VideoCapture(str(video))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 795
    frames = []
    for i in range(count):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int((i + 0.5) * total / count))
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR))
    cap.release()
    if not frames:
        raise SystemExit(f"soak: cannot read frames from '{video}' (tools/setup.sh data fetches vtest.avi)")
    return frames


def write_params(folder: Path, diagnostics_period: float) -> str:
    # Every person on the lawn or the road is an anomaly from its first frame: the node processes only a
    # few frames per second of a stream that cycles through a few images, so tracks would not persist.
    rules = folder / 'soak_rules.yaml'
    rules.write_text(textwrap.dedent('''\
        rules:
          - id: soak-person-on-ground
            objects: [person]
            forbidden: [grass, road]
            sentence: soak test rule
            min_frames: 1
        '''))
    path = folder / 'soak_params.yaml'
    path.write_text(textwrap.dedent(f'''\
        /**:
          ros__parameters:
            detector:
              backend: hog
              hog:
                scale: 1.1                # the HD setting of bench/RESULTS.md: half the time of 1.05
            scene_map_file: {REPO / 'config' / 'scene_vtest.yaml'}
            rules_file: {rules}
            publish_debug_image: true     # nobody subscribes: not drawn, as on a robot without rviz
            diagnostics_period: {diagnostics_period}
        '''))
    return str(path)


def run_soak(seconds: float, width: int = 1920, height: int = 1080, fps: float = 30.0, sample_s: float = 5.0,
             warmup_s: float | None = None, video: Path = REPO / 'data' / 'vtest.avi', log=None,
             progress=None) -> dict:
    """The soak run; returns the measurements (see the module doc). `log`: file for the node's output."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from vad_ros.launching import graph
    from vad_ros.launching.launcher import GraphProcesses, isolated_env
    from vad_ros.media import image_codec
    from vad_ros.msg import AnomalyArray
    from vad_ros.paths import share_dir

    warmup_s = min(60.0, seconds / 4) if warmup_s is None else warmup_s
    env = isolated_env()
    tmp = Path(tempfile.mkdtemp(prefix='vad_soak_'))
    params_file = write_params(tmp, diagnostics_period=1.0)
    frames = soak_frames(video, width, height)
    msgs = []
    for frame in frames:
        h, w, step, data = image_codec.from_bgr(frame)
        msgs.append(Image(height=h, width=w, encoding='bgr8', is_bigendian=0, step=step, data=data))
    del frames

    nodes = graph.vad_nodes({'image': TOPIC, 'params_file': params_file, 'namespace': NODE_NS}, share_dir())
    procs = GraphProcesses(nodes, env=env, stdout=log, stderr=subprocess.STDOUT if log else None).start()
    pid = procs.procs['vad_node'].pid
    for key in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE'):
        os.environ[key] = env[key]
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(env['ROS_DOMAIN_ID']))
    peer = rclpy.create_node('soak_peer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(peer)

    latency_ms: list[float] = []
    processing_ms: list[float] = []
    anomaly_msgs = anomalous = 0
    diag: dict[str, str] = {}
    diag_count = 0

    def on_result(msg) -> None:
        nonlocal anomaly_msgs, anomalous
        anomaly_msgs += 1
        anomalous += int(msg.is_anomalous)
        now_ns = peer.get_clock().now().nanoseconds
        latency_ms.append((now_ns - (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)) / 1e6)

    def on_diag(msg) -> None:
        nonlocal diag, diag_count
        for status in msg.status:
            if status.name.endswith(f'/{NODE_NS}/vad_node'):
                diag = {kv.key: kv.value for kv in status.values}
                diag['_level'] = str(status.level)
                diag['_message'] = status.message
                diag_count += 1
                if diag.get('state') == 'active' and int(diag['frames_processed']) > 0:
                    processing_ms.append(float(diag['processing_ms']))

    pub = peer.create_publisher(Image, TOPIC, qos_profile_sensor_data)
    sub = peer.create_subscription(AnomalyArray, f'/{NODE_NS}/vad_node/anomalies', on_result, 50)
    peer.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 50)

    def spin_until(condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not condition():
            executor.spin_once(timeout_sec=0.05)
        return condition()

    result: dict = {'width': width, 'height': height, 'fps_target': fps, 'seconds_target': seconds,
                    'node_pid': pid, 'uptime_before': _uptime()}
    timeline: list[dict] = []
    published = 0
    try:
        if not spin_until(lambda: pub.get_subscription_count() > 0 and sub.get_publisher_count() > 0
                          and diag.get('state') == 'active', 120):
            raise RuntimeError('vad_node did not come up within 120 s (see its log)')
        start = time.monotonic()
        next_pub = next_sample = start
        period = 1.0 / fps
        while True:
            now = time.monotonic()
            if now - start >= seconds:
                break
            if now >= next_pub:
                msg = msgs[published % len(msgs)]
                msg.header.stamp = peer.get_clock().now().to_msg()
                msg.header.frame_id = 'soak_camera'
                pub.publish(msg)
                published += 1
                next_pub += period
                if next_pub < now - 1.0:          # this process was starved: do not burst to catch up
                    next_pub = now
            if now >= next_sample:
                timeline.append({'t': round(now - start, 1), 'rss_mb': rss_mb(pid), 'published': published,
                                 'results': anomaly_msgs, **{k: int(diag.get(k, 0)) for k in COUNTERS}})
                if progress:
                    progress(timeline[-1])
                next_sample += sample_s
            executor.spin_once(timeout_sec=max(0.0, min(next_pub, next_sample) - time.monotonic()))
        elapsed = time.monotonic() - start

        # Drain: the frame in progress finishes; wait for diagnostics that count every frame sent.
        def settled() -> bool:
            if not diag:
                return False
            c = {k: int(diag.get(k, 0)) for k in COUNTERS}
            return (c['frames_received'] == c['frames_processed'] + c['frames_dropped_busy']
                    + c['frames_skipped_bad_input'] + c['frames_ignored_paused']
                    and anomaly_msgs == c['frames_processed'])
        seen = diag_count
        spin_until(lambda: diag_count >= seen + 2 and settled(), 60)
        spin_until(lambda: False, 2.5)             # two more diagnostics: nothing changes any more
        timeline.append({'t': round(time.monotonic() - start, 1), 'rss_mb': rss_mb(pid), 'published': published,
                         'results': anomaly_msgs, **{k: int(diag.get(k, 0)) for k in COUNTERS}})
    finally:
        executor.shutdown()
        peer.destroy_node()
        rclpy.shutdown(context=context)
        codes = procs.stop()

    counters = {k: int(diag.get(k, 0)) for k in COUNTERS}
    skipped_by_cause = {k[len('skipped_'):]: int(v) for k, v in diag.items() if k.startswith('skipped_') and int(v)}
    accounted = counters['frames_processed'] + counters['frames_dropped_busy'] + \
        counters['frames_skipped_bad_input'] + counters['frames_ignored_paused']
    rss = [(s['t'], s['rss_mb']) for s in timeline if s['rss_mb'] is not None]
    after = [m for t, m in rss if t >= warmup_s]
    baseline = after[0] if after else None
    result.update({
        'seconds': round(elapsed, 1),
        'published': published,
        'publish_rate_hz': round(published / elapsed, 2) if elapsed else 0.0,
        **counters,
        'skipped_by_cause': skipped_by_cause,
        'lost_in_transport': published - counters['frames_received'],
        'accounted': accounted,
        'every_frame_accounted': accounted == counters['frames_received'],
        'results_received': anomaly_msgs,
        'anomalous_results': anomalous,
        'every_result_received': anomaly_msgs == counters['frames_processed'],
        'processing_rate_hz': round(counters['frames_processed'] / elapsed, 2) if elapsed else 0.0,
        'latency_ms': percentiles(latency_ms),
        'processing_ms': percentiles(processing_ms),
        'rss_mb': {'warmup_s': warmup_s, 'at_warmup': baseline, 'max_after_warmup': max(after) if after else None,
                   'end': after[-1] if after else None,
                   'growth_after_warmup': (max(after) - baseline) if after else None,
                   'start': rss[0][1] if rss else None},
        'timeline': timeline,
        'node_exit_code': codes.get('vad_node'),
        'final_diagnostics_level': diag.get('_level'),
        'final_diagnostics_message': diag.get('_message'),
        'uptime_after': _uptime(),
    })
    return result


def _uptime() -> str:
    try:
        return subprocess.run(['uptime'], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ''


def markdown(r: dict) -> str:
    """A RESULTS.md section body."""
    lat, proc, mem = r['latency_ms'], r['processing_ms'], r['rss_mb']
    fmt = lambda v: '-' if v is None else f'{v:.1f}'   # noqa: E731
    lines = [
        f"{r['width']}x{r['height']} bgr8 at {r['fps_target']:g} fps for {r['seconds']:.0f} s "
        f"({r['published']} frames published, {r['publish_rate_hz']} Hz achieved).",
        '',
        '| counter | value |', '|---|---|',
        *(f'| {k} | {r[k]} |' for k in ('published',) + COUNTERS),
        f"| skipped by cause | {r['skipped_by_cause'] or 'none'} |",
        f"| lost in transport (published - received) | {r['lost_in_transport']} |",
        f"| processed + dropped + skipped + paused == received | {r['every_frame_accounted']} "
        f"({r['accounted']} == {r['frames_received']}) |",
        f"| AnomalyArray received here == processed | {r['every_result_received']} ({r['results_received']}; "
        f"{r['anomalous_results']} anomalous) |",
        f"| processing rate | {r['processing_rate_hz']} Hz |",
        f"| node exit code (SIGINT at the end) | {r['node_exit_code']} |",
        '',
        '| latency (ms) | p50 | p90 | p99 | max | n |', '|---|---|---|---|---|---|',
        f"| image stamp -> AnomalyArray here | {fmt(lat['p50'])} | {fmt(lat['p90'])} | {fmt(lat['p99'])} | "
        f"{fmt(lat['max'])} | {lat['n']} |",
        f"| node processing (diagnostics, 1 Hz samples) | {fmt(proc['p50'])} | {fmt(proc['p90'])} | "
        f"{fmt(proc['p99'])} | {fmt(proc['max'])} | {proc['n']} |",
        '',
        f"Node RSS: {fmt(mem['start'])} MiB at the first sample, {fmt(mem['at_warmup'])} MiB after the "
        f"{mem['warmup_s']:.0f} s warm-up, at most {fmt(mem['max_after_warmup'])} MiB after it, "
        f"{fmt(mem['end'])} MiB at the end: growth after warm-up {fmt(mem['growth_after_warmup'])} MiB.",
        '',
        '| t (s) | RSS (MiB) | published | received | processed | dropped busy | skipped |',
        '|---|---|---|---|---|---|---|',
    ]
    timeline = r['timeline']
    step = max(1, len(timeline) // 12)
    picked = timeline[::step] + ([timeline[-1]] if (len(timeline) - 1) % step else [])
    for s in picked:
        lines.append(f"| {s['t']:.0f} | {fmt(s['rss_mb'])} | {s['published']} | {s['frames_received']} | "
                     f"{s['frames_processed']} | {s['frames_dropped_busy']} | {s['frames_skipped_bad_input']} |")
    lines += ['', f"Load: `uptime` before: {r['uptime_before']}; after: {r['uptime_after']}"]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--width', type=int, default=1920)
    parser.add_argument('--height', type=int, default=1080)
    parser.add_argument('--fps', type=float, default=30.0)
    parser.add_argument('--sample', type=float, default=5.0, help='seconds between memory samples')
    parser.add_argument('--out', default='', help='JSON file for the full result (timeline included)')
    parser.add_argument('--markdown', default='', help='file for the RESULTS.md section')
    parser.add_argument('--log', default='', help="file for the node's output (default: a temp file)")
    args = parser.parse_args(argv)
    log_path = Path(args.log) if args.log else Path(tempfile.mkstemp(prefix='vad_soak_node_', suffix='.log')[1])
    print(f'soak: {args.width}x{args.height} at {args.fps:g} fps for {args.minutes:g} min; node log {log_path}',
          flush=True)
    with open(log_path, 'w') as log:
        result = run_soak(args.minutes * 60, args.width, args.height, args.fps, args.sample, log=log,
                          progress=lambda s: print(f"soak: t={s['t']:.0f}s rss={s['rss_mb']} MiB "
                                                   f"published={s['published']} received={s['frames_received']} "
                                                   f"processed={s['frames_processed']} "
                                                   f"dropped={s['frames_dropped_busy']}", flush=True))
    text = markdown(result)
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + '\n')
    if args.markdown:
        Path(args.markdown).write_text(text + '\n')
    ok = result['every_frame_accounted'] and result['every_result_received'] and result['node_exit_code'] == 0
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
