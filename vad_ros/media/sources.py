"""Frame sources: a video file, a folder of images, or a rosbag2 (folder, .mcap or .db3) image topic.

Iterating a source yields Frame(index, timestamp, image) tuples, image a (H, W, 3) uint8 BGR array.
Timestamps in seconds since 1970-01-01 UTC, as ROS header stamps: video = start + index / the video's fps;
folder = start + index / fps (default 10); `start` is the recording's start time (vad-video --start-time; 0 when
unknown, i.e. the clock starts at 1970-01-01 00:00 UTC); rosbag2 = the message's header stamp (its receive time
in the bag when the header stamp is zero), the time it was recorded.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterator, NamedTuple

import cv2
import numpy as np

from vad_ros.errors import VadError
from vad_ros.media.image_codec import SUPPORTED_ENCODINGS, ImageFormatError, to_bgr

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
BAG_SUFFIXES = ('.mcap', '.db3')
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
DEFAULT_FOLDER_FPS = 10.0


class SourceError(VadError):
    """The input cannot be read; the message names it and says what is expected."""


class Frame(NamedTuple):
    index: int
    timestamp: float
    image: np.ndarray


def natural_key(name: str) -> list:
    """Sort key that orders digit runs by value: '2.jpg' before '10.jpg'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r'(\d+)', name)]


def _positive_fps(fps: float | None, default: float | None) -> float | None:
    return fps if fps is not None and math.isfinite(fps) and fps > 0 else default


class VideoSource:
    """A video file read with OpenCV; timestamps = start + index / the file's fps (10 when it has none)."""

    def __init__(self, path: str, start: float = 0.0):
        self.path, self.start = path, float(start)
        cap = cv2.VideoCapture(path)
        try:
            if not cap.isOpened():
                raise SourceError(f"cannot open video '{path}' (not a video file OpenCV can read)")
            self.fps = _positive_fps(cap.get(cv2.CAP_PROP_FPS), DEFAULT_FOLDER_FPS)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.length = count if count > 0 else None    # the container's count; decoding may differ
        finally:
            cap.release()

    def __iter__(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(self.path)
        try:
            index = 0
            while True:
                ok, image = cap.read()
                if not ok:
                    return
                yield Frame(index, self.start + index / self.fps, image)
                index += 1
        finally:
            cap.release()


class FolderSource:
    """Images of one folder (jpg, png, bmp) in natural order; timestamps = start + index / fps."""

    def __init__(self, path: str, fps: float | None = None, start: float = 0.0):
        self.path, self.start = path, float(start)
        self.files = sorted((f for f in os.listdir(path)
                             if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith('.')
                             and os.path.isfile(os.path.join(path, f))), key=natural_key)
        if not self.files:
            subfolders = sorted((d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))), key=natural_key)
            shown = ', '.join(subfolders[:3]) + (', ...' if len(subfolders) > 3 else '')
            hint = f'; it has sub-folders ({shown}): pass one of them' if subfolders else ''
            raise SourceError(f"folder '{path}' has no images ({', '.join(IMAGE_SUFFIXES)}){hint}")
        self.fps = _positive_fps(fps, DEFAULT_FOLDER_FPS)
        self.length = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        for index, name in enumerate(self.files):
            file = os.path.join(self.path, name)
            image = cv2.imread(file, cv2.IMREAD_COLOR)
            if image is None:
                raise SourceError(f"cannot read image '{file}' (damaged or not an image)")
            yield Frame(index, self.start + index / self.fps, image)


class BagSource:
    """One image topic (sensor_msgs/Image or CompressedImage) of a rosbag2, read with `rosbags`."""

    def __init__(self, path: str, topic: str | None = None):
        try:
            from rosbags.highlevel import AnyReader
            from rosbags.typesys import Stores, get_typestore
        except ImportError:
            raise SourceError(f"reading rosbag2 '{path}' needs the 'rosbags' package: pip install rosbags") from None
        self.path, self._reader_cls = Path(path), AnyReader
        self._typestore = get_typestore(Stores.ROS2_KILTED)
        try:
            with AnyReader([self.path], default_typestore=self._typestore) as reader:
                image_topics = {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}
                counts: dict[str, int] = {}
                for c in reader.connections:
                    counts[c.topic] = counts.get(c.topic, 0) + c.msgcount
                duration = reader.duration * 1e-9
        except Exception as e:  # noqa: BLE001 - rosbags raises several unrelated types for unusable bags
            raise SourceError(f"cannot read rosbag2 '{path}': {e}") from None
        listed = ', '.join(sorted(image_topics)) or 'none'
        if topic is None:
            if len(image_topics) != 1:
                raise SourceError(f"rosbag2 '{path}' has {len(image_topics)} image topics ({listed}): "
                                  'pick one with --topic')
            topic = next(iter(image_topics))
        elif topic not in image_topics:
            raise SourceError(f"topic '{topic}' is not an image topic of rosbag2 '{path}'; image topics: {listed}")
        self.topic, self.length = topic, counts.get(topic)
        # Frame rate estimated from the bag's duration (for annotated.mp4 and playback; not for timestamps).
        enough = self.length is not None and self.length > 1 and duration > 0
        self.fps = round((self.length - 1) / duration, 3) if enough else None

    def _image(self, msg, msgtype: str, index: int) -> np.ndarray:
        where = f"rosbag2 '{self.path}', message {index} on '{self.topic}'"
        if msgtype.endswith('CompressedImage'):
            image = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise SourceError(f'{where}: format {msg.format!r} is not an image OpenCV can decode')
            return image
        try:
            return to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data.tobytes(), bool(msg.is_bigendian))
        except ImageFormatError as e:
            raise SourceError(f'{where}: {e} (supported: {", ".join(SUPPORTED_ENCODINGS)}, or CompressedImage)'
                              ) from None

    def __iter__(self) -> Iterator[Frame]:
        with self._reader_cls([self.path], default_typestore=self._typestore) as reader:
            connections = [c for c in reader.connections if c.topic == self.topic]
            for index, (conn, log_time, raw) in enumerate(reader.messages(connections=connections)):
                msg = reader.deserialize(raw, conn.msgtype)
                stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                if stamp == 0:
                    stamp = log_time * 1e-9
                yield Frame(index, stamp, self._image(msg, conn.msgtype, index))


def open_source(path: str | os.PathLike, topic: str | None = None, fps: float | None = None,
                start: float | None = None):
    """The source for `path`: a rosbag2 (folder with metadata.yaml, .mcap, .db3), a folder of images, or a
    video file. `topic` picks the image topic of a bag; `fps` sets the timing of a folder of images; `start`
    (seconds since 1970 UTC) the stamp of a video's or folder's first frame (a bag has stamps of its own: a
    start for a bag is a SourceError). Raises SourceError with a clear message."""
    path = str(path)
    if not os.path.exists(path):
        raise SourceError(f"input '{path}' does not exist (expected a video file, a folder of images or a rosbag2)")
    p = Path(path)
    if (p.is_dir() and (p / 'metadata.yaml').is_file()) or (not p.is_dir() and p.suffix.lower() in BAG_SUFFIXES):
        if start is not None:
            raise SourceError(f"rosbag2 '{path}' carries its own stamps (when each image was taken): a start time "
                              'applies to video files and folders of images only; leave it out')
        return BagSource(path, topic)
    if p.is_dir():
        return FolderSource(path, fps, start or 0.0)
    return VideoSource(path, start or 0.0)
