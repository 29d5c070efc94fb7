"""Writers for results on disk: frames.csv, anomalies.jsonl, events.jsonl and annotated.mp4.

annotated.mp4 is H.264 (yuv420p, faststart), playable in browsers. OpenCV's pip wheels have no H.264
encoder, so the frames are piped into an ffmpeg binary: the one the imageio-ffmpeg wheel carries, else an
`ffmpeg` on PATH. Without either, OpenCV's 'avc1' is tried (system OpenCV builds may have it), then
MPEG-4 Part 2 ('mp4v'), with a warning that browsers may not play that file.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

from vad_ros.errors import VadError
from vad_ros.types import Anomaly, Event, FrameResult

log = logging.getLogger('vad_ros.outputs')
FRAME_COLUMNS = ('frame_index', 'timestamp', 'anomalous', 'score', 'num_objects', 'num_anomalies')


class OutputError(VadError):
    """An output file cannot be written; the message names it."""


def _time(stamp: float | None) -> float | None:
    return None if stamp is None else round(stamp, 6)


def anomaly_record(frame_index: int, timestamp: float | None, a: Anomaly) -> dict:
    """One line of anomalies.jsonl."""
    return {'frame_index': frame_index, 'timestamp': _time(timestamp), 'track_id': a.track_id,
            'object_class': a.object_class, 'object_score': round(a.object_score, 4),
            'background_class': a.background_class, 'background_fraction': round(a.background_fraction, 4),
            'box': [round(v, 1) for v in a.box], 'rule_id': a.rule_id, 'severity': a.severity,
            'duration_frames': a.duration_frames, 'duration': round(a.duration, 3), 'score': round(a.score, 4),
            'event_id': a.event_id, 'sentence': a.sentence}


def event_record(e: Event) -> dict:
    """One line of events.jsonl (an ended event; the same record from vad-video and from the recorder)."""
    return {'event_id': e.event_id, 'rule_id': e.rule_id, 'severity': e.severity, 'track_id': e.track_id,
            'object_class': e.object_class, 'background_class': e.background_class,
            'start_frame': e.start_frame, 'end_frame': e.end_frame, 'start_time': _time(e.start_stamp),
            'end_time': _time(e.end_stamp), 'duration': round(e.duration, 3), 'peak_score': round(e.peak_score, 4),
            'box': [round(v, 1) for v in e.box], 'sentence': e.sentence}


def find_ffmpeg() -> str | None:
    """An ffmpeg binary: imageio-ffmpeg's, else one on PATH, else None."""
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return shutil.which('ffmpeg')


# Fragmented MP4: the file is playable up to its last complete fragment (one per key frame) even when the
# writer is killed, unlike a plain MP4 whose index is written at the end. A key frame every KEYFRAME_S seconds
# bounds what a crash of ffmpeg itself loses (x264's default is one per 250 frames); -flush_packets puts the
# header and each fragment on disk as soon as they are complete.
FRAGMENTED_MP4 = 'frag_keyframe+empty_moov+default_base_moof'
KEYFRAME_S = 2.0


class VideoWriter:
    """Frames (BGR uint8) to an mp4 file at `fps`; the size is set by the first frame (later frames of
    another size are resized). `codec` says what was used: 'h264' (ffmpeg, fragmented MP4: a killed run
    leaves a playable file), 'avc1' (OpenCV) or 'mp4v'."""

    def __init__(self, path: str | os.PathLike, fps: float, ffmpeg: str | None = 'auto'):
        self.path, self.fps = str(path), float(fps) if fps and fps > 0 else 10.0
        self._ffmpeg = find_ffmpeg() if ffmpeg == 'auto' else ffmpeg
        self._proc: subprocess.Popen | None = None
        self._cv: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0
        self.codec = ''

    def _open(self, width: int, height: int) -> None:
        self._size = (width, height)
        if self._ffmpeg:
            # H.264 in yuv420p needs even sizes: pad by one pixel where needed.
            self._proc = subprocess.Popen(
                [self._ffmpeg, '-y', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'bgr24',
                 '-s', f'{width}x{height}', '-r', f'{self.fps}', '-i', '-',
                 '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23',
                 '-g', str(max(1, round(self.fps * KEYFRAME_S))),
                 '-pix_fmt', 'yuv420p', '-movflags', FRAGMENTED_MP4, '-flush_packets', '1', self.path],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.codec = 'h264'
            return
        for fourcc in ('avc1', 'mp4v'):
            writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*fourcc), self.fps, (width, height))
            if writer.isOpened():
                self._cv, self.codec = writer, fourcc
                break
        else:
            raise OutputError(f"cannot write video '{self.path}': OpenCV has no mp4 encoder here "
                              '(pip install imageio-ffmpeg)')
        if self.codec == 'mp4v':
            log.warning("no H.264 encoder (pip install imageio-ffmpeg, or install ffmpeg): writing '%s' as "
                        'MPEG-4 Part 2 (mp4v), which browsers may not play', self.path)

    def _ffmpeg_failed(self) -> OutputError:
        self._proc.kill()
        detail = self._proc.stderr.read().decode(errors='replace').strip() if self._proc.stderr else ''
        self._proc.wait()
        self._proc = None
        return OutputError(f"ffmpeg stopped while writing '{self.path}': {detail or 'no message'}")

    def write(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if self._size is None:
            self._open(width, height)
        if (width, height) != self._size:
            frame = cv2.resize(frame, self._size)
        if self._proc is not None:
            try:
                self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
            except (BrokenPipeError, OSError):
                raise self._ffmpeg_failed() from None
        elif self._cv is not None:
            self._cv.write(frame)
        self.frames += 1

    def close(self) -> None:
        """Finish the file (safe to call twice)."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            detail = proc.stderr.read().decode(errors='replace').strip()
            if proc.wait() != 0:
                raise OutputError(f"ffmpeg could not finish '{self.path}': {detail or f'exit {proc.returncode}'}")
        if self._cv is not None:
            self._cv.release()
            self._cv = None


class ResultWriter:
    """frames.csv, anomalies.jsonl and events.jsonl of one run in `out_dir` (created if needed).

    Durable: every frame's row and records are flushed to the operating system before write_frame returns,
    and events are also fsynced, so a crash (even kill -9) loses nothing already reported."""

    def __init__(self, out_dir: str | os.PathLike):
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._frames_file = open(self.out_dir / 'frames.csv', 'w', newline='', encoding='utf-8')
            self._anomalies = open(self.out_dir / 'anomalies.jsonl', 'w', encoding='utf-8')
            self._events = open(self.out_dir / 'events.jsonl', 'w', encoding='utf-8')
        except OSError as e:
            raise OutputError(f"cannot write results into '{self.out_dir}': {e.strerror or e}") from None
        self._frames = csv.writer(self._frames_file)
        self._frames.writerow(FRAME_COLUMNS)
        self._frames_file.flush()
        self.frames = self.anomalous_frames = self.events = 0

    def write_frame(self, result: FrameResult, timestamp: float | None = None) -> None:
        """A frames.csv row, its anomalies, and the events that ended with it."""
        ts = result.stamp if timestamp is None else timestamp
        self._frames.writerow([result.frame_index, '' if ts is None else f'{ts:.6f}', int(result.is_anomalous),
                               f'{result.score:.6f}', len(result.objects), len(result.anomalies)])
        for a in result.anomalies:
            self._anomalies.write(json.dumps(anomaly_record(result.frame_index, ts, a)) + '\n')
        self._write(self._anomalies.flush, self._frames_file.flush)
        self.write_events(result.events_ended)
        self.frames += 1
        self.anomalous_frames += int(result.is_anomalous)

    def write_events(self, events: list[Event]) -> None:
        if not events:
            return
        for e in events:
            self._events.write(json.dumps(event_record(e)) + '\n')
            self.events += 1
        self._write(self._events.flush, lambda: os.fsync(self._events.fileno()))

    def _write(self, *steps) -> None:
        try:
            for step in steps:
                step()
        except OSError as e:
            raise OutputError(f"cannot write results into '{self.out_dir}': {e.strerror or e}") from None

    def close(self) -> None:
        for f in (self._frames_file, self._anomalies, self._events):
            f.close()
