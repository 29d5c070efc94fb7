"""`vad-demo`: the real graph on OpenCV's sample video, end to end, with the NanoDet COCO detector
(`make demo` fetches it once: tools/setup.sh nanodet, 7.6 MB kept; without it OpenCV's HOG people detector,
with a warning).

image_publisher (vtest.avi -> /camera/image_raw) -> vad_node (NanoDet, static scene map of the campus, rule
"keep off the grass": config/demo_vtest.yaml) -> recorder (annotated.mp4, anomalies.jsonl, events.jsonl).
Runs on an isolated ROS domain (random ROS_DOMAIN_ID, localhost discovery) and stops when the video ends.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

from vad_ros.launching import graph
from vad_ros.launching.launcher import DEFAULT_VIDEO, GraphProcesses, isolated_env
from vad_ros.paths import share_dir


def summary(out: Path) -> str:
    cap = cv2.VideoCapture(str(out / 'annotated.mp4'))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    events = [json.loads(line) for line in (out / 'events.jsonl').read_text().splitlines() if line.strip()] \
        if (out / 'events.jsonl').is_file() else []
    lines = [f'annotated video: {out / "annotated.mp4"} ({frames} frames)',
             f'events:          {out / "events.jsonl"} ({len(events)} events)',
             f'anomalies:       {out / "anomalies.jsonl"}']
    for e in events:
        lines.append(f"  frames {e['start_frame']:4d}-{e['end_frame']:4d}  track {e['track_id']:3d}  {e['sentence']}")
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='vad-demo', description=__doc__.split('\n\n')[0])
    parser.add_argument('--video', default=str(DEFAULT_VIDEO), help='video file or image folder (default: '
                        'data/vtest.avi, fetched by tools/setup.sh data)')
    parser.add_argument('--out', default='out/demo', help='output folder (default: out/demo)')
    parser.add_argument('--params', default='', help='vad_node params file (default: config/demo_vtest.yaml)')
    parser.add_argument('--fps', default='0', help="highest playback rate (default 0: the file's own); each frame "
                        "waits for vad_node's result, so none is dropped")
    args = parser.parse_args(argv)
    if not Path(args.video).exists():
        print(f"vad-demo: video '{args.video}' not found: run `tools/setup.sh data` (fetches vtest.avi from "
              "Debian's opencv-doc package) or pass --video PATH", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    nodes = graph.demo_nodes({'video': str(Path(args.video).resolve()), 'out': str(out), 'fps': args.fps,
                              'params_file': args.params}, share_dir(), DEFAULT_VIDEO)
    log_path = out / 'graph.log'
    print(f'vad-demo: playing {args.video} through image_publisher -> vad_node -> recorder (log: {log_path})')
    with open(log_path, 'w') as log, GraphProcesses(nodes, env=isolated_env(), stdout=log, stderr=log) as g:
        try:
            while 'image_publisher' not in g.exited():
                if g.exited():
                    print(f'vad-demo: a node stopped early ({g.exited()}); see {log_path}', file=sys.stderr)
                    return 1
                time.sleep(0.5)
            time.sleep(3.0)   # the last frames through vad_node and the recorder
        except KeyboardInterrupt:
            print('vad-demo: interrupted')
        codes = g.stop()
    failed = {name: code for name, code in codes.items() if code and code > 0}   # signals: stopped by us
    if failed:
        print(f"vad-demo: {', '.join(f'{n} failed (exit code {c})' for n, c in sorted(failed.items()))}; "
              f'see {log_path}', file=sys.stderr)
        return 1
    print(summary(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
