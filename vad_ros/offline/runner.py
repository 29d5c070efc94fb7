"""`vad-video`: the node's pipeline on recorded footage, without ROS.

    vad-video INPUT --params config/vad.yaml --out DIR [--rules F] [--scene F] [--topic T] [--annotate]
              [--max-frames N] [--fps F] [--start-time T] [--allow-partial] [--progress-period S] [--labels F]

INPUT is a video file, a folder of images, or a rosbag2 (folder, .mcap, .db3) with an image topic. Writes
DIR/frames.csv, DIR/anomalies.jsonl, DIR/events.jsonl and, with --annotate, DIR/annotated.mp4 (H.264).
Every frame's results are on disk before the next frame is read (a killed run keeps what it reported), and
annotated.mp4 is a fragmented MP4 that plays up to the last complete fragment after a crash. With --labels
(incident labels, docs/EVALUATION.md), the events are scored against the incidents after the run: a summary on
stdout and DIR/events_eval.json.
Frame times (and so the rules' schedules, `active:`) are image stamps: a rosbag2's own header stamps (when each
image was taken); for a video file or a folder of images the recording's start time (--start-time, ISO 8601
with its UTC offset) plus the time into the file, without it the time into the file from 1970-01-01 00:00 UTC.
Exit status: 0 done, 2 unusable input/params/models (one line on stderr), 3 the input ended early (fewer
frames decoded than the file announces: truncated or damaged; the outputs hold the frames that were decoded;
--allow-partial accepts it with the warning and exit 0), 130 interrupted (outputs kept).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vad_ros import params as vparams
from vad_ros.errors import VadError
from vad_ros.host_memory import keep_freed_memory
from vad_ros.media.sources import BagSource, FolderSource, SourceError, open_source
from vad_ros.media.writers import ResultWriter, VideoWriter
from vad_ros.offline import event_metrics
from vad_ros.offline.progress import Progress
from vad_ros.rendering.drawing import draw_result


@dataclass
class RunSummary:
    frames: int = 0
    anomalous_frames: int = 0
    events: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    video_codec: str = ''                                 # of annotated.mp4, '' without --annotate
    decisions: list[bool] = field(default_factory=list)   # per frame: anomalous
    scores: list[float] = field(default_factory=list)     # per frame: frame score
    expected_frames: int | None = None    # what the input announces (at most max_frames); None when unknown

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def partial(self) -> bool:
        """The input ended before the frames it announces (truncated or undecodable), not interrupted."""
        return not self.interrupted and self.expected_frames is not None and self.frames < self.expected_frames

    def partial_message(self, source: str) -> str:
        return (f"input '{source}' ended early: {self.frames} of the {self.expected_frames} frames it announces "
                'were decoded (truncated or damaged file); the outputs hold those frames')


def load_params(path: str | None, rules: str | None = None, scene: str | None = None,
                cameras: dict[str, dict[str, str]] | None = None, lenient: bool = False) -> dict[str, Any]:
    """The params file (read as the node reads it) with --rules / --scene overrides, checked. `cameras`: where
    named cameras' own files go (vad_ros.params.read_params_file; without it they are an error). lenient (vad-video,
    vad-eval): a bad value is logged as the node logs it (vad_ros.params.bad_value_line) and its default used,
    as the node does; otherwise (vad-check) it raises ParamError."""
    bad: list[str] | None = [] if lenient else None
    values = vparams.read_params_file(path, cameras=cameras, bad_values=bad) if path else {}
    for line in bad or ():
        logging.getLogger('vad_ros.params').warning(line)
    if rules is not None:
        values['rules_file'] = str(Path(rules).resolve()) if rules else ''
    if scene is not None:
        values['scene_map_file'] = str(Path(scene).resolve()) if scene else ''
    return vparams.resolve(values)


def run(pipeline, source, out_dir: str | Path, annotate: bool = False, max_frames: int | None = None,
        progress: Progress | None = None) -> RunSummary:
    """Every frame of `source` (at most max_frames) through `pipeline`, results written into out_dir.
    Events still open at the end are flushed. Ctrl-C stops early with the outputs complete so far
    (summary.interrupted). A source that ends before the frames it announces (source.length) gives
    summary.partial. Raises SourceError when the source yields no frame."""
    out_dir = Path(out_dir)
    writer = ResultWriter(out_dir)
    video = VideoWriter(out_dir / 'annotated.mp4', source.fps or 10.0) if annotate else None
    summary = RunSummary()
    started = time.perf_counter()
    try:
        try:
            for frame in source:
                if max_frames is not None and writer.frames >= max_frames:
                    break
                result = pipeline.process(frame.image, frame_index=frame.index, stamp=frame.timestamp)
                writer.write_frame(result, frame.timestamp)
                summary.decisions.append(result.is_anomalous)
                summary.scores.append(float(result.score))
                if video is not None:
                    video.write(draw_result(frame.image, result))
                if progress is not None:
                    progress.update(writer.frames, writer.anomalous_frames)
        except KeyboardInterrupt:
            summary.interrupted = True
        writer.write_events(pipeline.flush_events())
    finally:
        writer.close()
        if video is not None:
            video.close()
            summary.video_codec = video.codec
    if progress is not None:
        progress.finish(writer.frames, writer.anomalous_frames)
    summary.seconds = time.perf_counter() - started
    summary.frames, summary.anomalous_frames, summary.events = writer.frames, writer.anomalous_frames, writer.events
    expected = getattr(source, 'length', None)
    if expected is not None and max_frames is not None:
        expected = min(expected, max_frames)
    summary.expected_frames = expected
    if summary.frames == 0 and not summary.interrupted:
        raise SourceError(f"no frame could be read from '{getattr(source, 'path', source)}'")
    return summary


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def start_time(text: str) -> float:
    """--start-time: ISO 8601 with a UTC offset -> seconds since 1970 UTC (argparse's error on a bad value)."""
    from vad_ros.reasoning.schedule import ScheduleError, parse_start_time
    try:
        return parse_start_time(text)
    except ScheduleError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


START_TIME_HELP = ("video file or folder of images: when its first frame was recorded, ISO 8601 with the UTC "
                   "offset, e.g. 2026-03-01T22:15:00+01:00 or 2026-03-01T21:15:00Z; frames are stamped from it, so "
                   "the rules' schedules (active:) apply to when it was recorded (default: the clock starts at "
                   "1970-01-01 00:00 UTC). A rosbag2 uses its own stamps")


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be > 0, got {text}')
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='vad-video', description=__doc__.split('\n\n')[0])
    parser.add_argument('input', help='video file, folder of images, or rosbag2 (folder, .mcap, .db3)')
    parser.add_argument('--params', default=None, help="the node's params file, e.g. config/vad.yaml "
                        '(default: the built-in defaults)')
    parser.add_argument('--out', required=True, help='output folder (created; files in it are replaced)')
    parser.add_argument('--rules', default=None, help='rule file (overrides rules_file)')
    parser.add_argument('--scene', default=None, help='static scene map (overrides scene_map_file)')
    parser.add_argument('--topic', default=None, help='rosbag2: the image topic (default: the only one)')
    parser.add_argument('--annotate', action='store_true', help='also write annotated.mp4')
    parser.add_argument('--max-frames', type=positive_int, default=None, help='stop after N frames')
    parser.add_argument('--fps', type=positive_float, default=None,
                        help='folder of images: frames per second for the timestamps (default 10)')
    parser.add_argument('--start-time', type=start_time, default=None, metavar='ISO8601', help=START_TIME_HELP)
    parser.add_argument('--progress-period', type=positive_float, default=10.0,
                        help='seconds between progress lines when stderr is not a terminal (default 10)')
    parser.add_argument('--allow-partial', action='store_true',
                        help='accept an input that ends before the frames it announces (truncated or damaged '
                        'file): warn and exit 0 instead of exit status 3')
    parser.add_argument('--labels', default=None,
                        help='incident labels (JSON, docs/EVALUATION.md): score the events against them after the '
                        'run (summary on stdout, DIR/events_eval.json)')
    event_metrics.add_match_option(parser, '--labels')
    return parser


def setup_logging(prog: str) -> None:
    """Warnings of the pipeline and writers on stderr (no-op when the caller configured logging)."""
    logging.basicConfig(level=logging.WARNING, format=f'{prog}: %(levelname)s: %(message)s')


def open_input(path: str, topic: str | None, fps: float | None, start: float | None = None):
    source = open_source(path, topic=topic, fps=fps, start=start)
    if topic is not None and not isinstance(source, BagSource):
        raise SourceError(f"--topic applies to rosbag2 inputs only; '{path}' is not a rosbag2")
    if fps is not None and not isinstance(source, FolderSource):
        raise SourceError(f"--fps applies to folders of images only; '{path}' carries its own timing")
    return source


def format_summary(summary: RunSummary, out: Path, annotate: bool) -> str:
    files = 'frames.csv, anomalies.jsonl, events.jsonl' + (f', annotated.mp4 ({summary.video_codec})'
                                                            if annotate else '')
    state = 'interrupted after ' if summary.interrupted else ''
    return (f'{state}{summary.frames} frames, {summary.anomalous_frames} anomalous, {summary.events} events, '
            f'{summary.fps:.1f} fps -> {out}: {files}')


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()                 # before any thread starts (see vad_ros.host_memory)
    args = build_parser().parse_args(argv)
    setup_logging('vad-video')
    from vad_ros.pipeline import build_pipeline
    out = Path(args.out)
    try:
        params = load_params(args.params, args.rules, args.scene, lenient=True)
        labels = (event_metrics.labels_for_input(event_metrics.read_incidents(args.labels), args.input, args.labels)
                  if args.labels else None)
        source = open_input(args.input, args.topic, args.fps, args.start_time)
        pipeline = build_pipeline(params)
        total = source.length if args.max_frames is None else min(source.length or args.max_frames,
                                                                   args.max_frames)
        summary = run(pipeline, source, out, args.annotate, args.max_frames,
                      Progress(total, period=args.progress_period))
    except VadError as e:          # what a user can cause and fix: one line, exit status 2
        print(f'vad-video: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('vad-video: interrupted', file=sys.stderr)
        return 130
    print(f'vad-video: {format_summary(summary, out, args.annotate)}')
    if labels is not None and not summary.interrupted:
        try:
            print('\n'.join(f'vad-video: {line}' for line in
                            event_metrics.write_evaluation(out, labels, args.event_match).splitlines()))
        except VadError as e:
            print(f'vad-video: {e}', file=sys.stderr)
            return 2
    if summary.partial:
        accepted = ' (accepted: --allow-partial)' if args.allow_partial else '; pass --allow-partial to accept it'
        print(f'vad-video: warning: {summary.partial_message(args.input)}{accepted}', file=sys.stderr)
        if not args.allow_partial:
            return 3
    return 130 if summary.interrupted else 0


if __name__ == '__main__':
    sys.exit(main())
