"""Writers for results on disk: frames.csv, anomalies.jsonl, events.jsonl and annotated.mp4.

annotated.mp4 is H.264 (yuv420p, faststart), playable in browsers, encoded by the ffmpeg binary that the
imageio-ffmpeg wheel carries; without it, OpenCV's MPEG-4 Part 2 ('mp4v') is used and a warning says that
browsers may not play it.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np

from vad_ros.types import Anomaly, Event, FrameResult

log = logging.getLogger('vad_ros.outputs')
FRAME_COLUMNS = ('frame_index', 'timestamp', 'anomalous', 'score', 'num_objects', 'num_anomalies')


def anomaly_record(frame_index: int, timestamp: float | None, a: Anomaly) -> dict:
    return {'frame_index': frame_index, 'timestamp': timestamp, 'track_id': a.track_id,
            'object_class': a.object_class, 'object_score': round(a.object_score, 4),
            'background_class': a.background_class, 'background_fraction': round(a.background_fraction, 4),
            'box': [round(v, 1) for v in a.box], 'rule_id': a.rule_id, 'severity': a.severity,
            'duration_frames': a.duration_frames, 'score': round(a.score, 4), 'sentence': a.sentence}


def event_record(e: Event) -> dict:
    return {'rule_id': e.rule_id, 'track_id': e.track_id, 'object_class': e.object_class,
            'background_class': e.background_class, 'start_frame': e.start_frame, 'end_frame': e.end_frame,
            'start_time': e.start_stamp, 'end_time': e.end_stamp, 'peak_score': round(e.peak_score, 4),
            'sentence': e.sentence}


class VideoWriter:
    """Frames (BGR uint8, all the same size) to an mp4 file at `fps`."""

    def __init__(self, path: str | os.PathLike, fps: float):
        self.path, self.fps = str(path), float(fps) if fps and fps > 0 else 10.0
        self._proc: subprocess.Popen | None = None
        self._cv: cv2.VideoWriter | None = None
        self.frames = 0
        self.codec = ''

    def _open(self, width: int, height: int) -> None:
        try:
            import imageio_ffmpeg
            exe = imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):
            exe = None
        if exe:
            # H.264 wants even sizes: pad by one pixel where needed.
            self._proc = subprocess.Popen(
                [exe, '-y', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', f'{width}x{height}',
                 '-r', f'{self.fps}', '-i', '-', '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', 'libx264',
                 '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', self.path],
                stdin=subprocess.PIPE)
            self.codec = 'h264'
        else:
            log.warning('imageio-ffmpeg is not installed: writing %s as MPEG-4 Part 2 (mp4v), which browsers '
                        'may not play; pip install imageio-ffmpeg for H.264', self.path)
            self._cv = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*'mp4v'), self.fps, (width, height))
            self.codec = 'mp4v'
        self._size = (width, height)

    def write(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if self._proc is None and self._cv is None:
            self._open(width, height)
        if (width, height) != self._size:
            frame = cv2.resize(frame, self._size)
        if self._proc is not None:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        else:
            self._cv.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.wait()
            self._proc = None
        if self._cv is not None:
            self._cv.release()
            self._cv = None


class ResultWriter:
    """frames.csv, anomalies.jsonl and events.jsonl of one run in `out_dir`."""

    def __init__(self, out_dir: str | os.PathLike):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._frames_file = open(self.out_dir / 'frames.csv', 'w', newline='', encoding='utf-8')
        self._frames = csv.writer(self._frames_file)
        self._frames.writerow(FRAME_COLUMNS)
        self._anomalies = open(self.out_dir / 'anomalies.jsonl', 'w', encoding='utf-8')
        self._events = open(self.out_dir / 'events.jsonl', 'w', encoding='utf-8')
        self.frames = self.anomalous_frames = self.events = 0

    def write_frame(self, result: FrameResult, timestamp: float | None = None) -> None:
        ts = result.stamp if timestamp is None else timestamp
        self._frames.writerow([result.frame_index, '' if ts is None else f'{ts:.3f}', int(result.is_anomalous),
                               f'{result.score:.4f}', len(result.objects), len(result.anomalies)])
        for a in result.anomalies:
            self._anomalies.write(json.dumps(anomaly_record(result.frame_index, ts, a)) + '\n')
        self.write_events(result.events_ended)
        self.frames += 1
        self.anomalous_frames += int(result.is_anomalous)

    def write_events(self, events: list[Event]) -> None:
        for e in events:
            self._events.write(json.dumps(event_record(e)) + '\n')
            self.events += 1

    def close(self) -> None:
        for f in (self._frames_file, self._anomalies, self._events):
            f.close()
