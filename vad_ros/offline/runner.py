"""`vad-video`: the node's pipeline on recorded footage, without ROS.

    vad-video INPUT --params config/vad.yaml --out DIR [--rules F] [--scene F] [--topic T] [--annotate]
              [--max-frames N] [--fps F]

INPUT is a video file, a folder of frames, or a rosbag2 (folder, .mcap, .db3) with an image topic. Writes
DIR/frames.csv, DIR/anomalies.jsonl, DIR/events.jsonl and, with --annotate, DIR/annotated.mp4 (H.264).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from vad_ros import params as vparams
from vad_ros.drawing import draw_result
from vad_ros.offline.outputs import ResultWriter, VideoWriter
from vad_ros.offline.progress import Progress
from vad_ros.offline.sources import SourceError, open_source
from vad_ros.perception.base import PerceptionError


def load_params(path: str | None, rules: str | None = None, scene: str | None = None) -> dict[str, Any]:
    """The params file (as the node reads it) with --rules / --scene overrides, checked."""
    values = vparams.read_params_file(path) if path else {}
    if rules is not None:
        values['rules_file'] = str(Path(rules).resolve()) if rules else ''
    if scene is not None:
        values['scene_map_file'] = str(Path(scene).resolve()) if scene else ''
    return vparams.resolve(values)


def run(pipeline, source, out_dir: Path, annotate: bool = False, max_frames: int | None = None,
        progress: Progress | None = None) -> dict[str, float]:
    """Process every frame of `source`; returns a summary."""
    writer = ResultWriter(out_dir)
    video = VideoWriter(out_dir / 'annotated.mp4', source.fps or 10.0) if annotate else None
    started = time.perf_counter()
    try:
        for frame in source:
            if max_frames is not None and frame.index >= max_frames:
                break
            result = pipeline.process(frame.image, frame_index=frame.index, stamp=frame.timestamp)
            writer.write_frame(result, frame.timestamp)
            if video is not None:
                video.write(draw_result(frame.image, result))
            if progress is not None:
                progress.update(frame.index + 1, writer.anomalous_frames)
        writer.write_events(pipeline.flush_events())
    finally:
        writer.close()
        if video is not None:
            video.close()
    elapsed = time.perf_counter() - started
    return {'frames': writer.frames, 'anomalous_frames': writer.anomalous_frames, 'events': writer.events,
            'seconds': elapsed, 'fps': writer.frames / elapsed if elapsed > 0 else 0.0}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='vad-video', description=__doc__.split('\n\n')[0])
    parser.add_argument('input', help='video file, folder of frames, or rosbag2 (folder, .mcap, .db3)')
    parser.add_argument('--params', default=None, help="the node's params file (default: built-in defaults)")
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--rules', default=None, help='rule file (overrides rules_file)')
    parser.add_argument('--scene', default=None, help='static scene map (overrides scene_map_file)')
    parser.add_argument('--topic', default=None, help='rosbag2: the image topic (default: the only one)')
    parser.add_argument('--annotate', action='store_true', help='also write annotated.mp4')
    parser.add_argument('--max-frames', type=int, default=None, help='stop after N frames')
    parser.add_argument('--fps', type=float, default=None, help='frame folders: frames per second (default 10)')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vad_ros.factory import build_pipeline
    try:
        params = load_params(args.params, args.rules, args.scene)
        source = open_source(args.input, topic=args.topic, fps=args.fps)
        pipeline = build_pipeline(params)
    except (vparams.ParamError, SourceError, PerceptionError, ValueError) as e:
        print(f'vad-video: {e}', file=sys.stderr)
        return 2
    out = Path(args.out)
    total = source.length if args.max_frames is None else min(source.length or args.max_frames, args.max_frames)
    try:
        summary = run(pipeline, source, out, args.annotate, args.max_frames, Progress(total))
    except SourceError as e:
        print(f'vad-video: {e}', file=sys.stderr)
        return 2
    print(f"vad-video: {summary['frames']} frames, {summary['anomalous_frames']} anomalous, {summary['events']} "
          f"events, {summary['fps']:.1f} fps -> {out}/frames.csv, anomalies.jsonl, events.jsonl"
          + (', annotated.mp4' if args.annotate else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
