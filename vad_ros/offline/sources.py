"""Frame sources: a video file, a folder of images, or a rosbag2 (directory, .mcap or .db3) image topic.

Each yields Frame(index, timestamp, image_bgr). Timestamps: video = index / its fps; folder = index / fps
(default 10); bag = the message header stamp in seconds.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from vad_ros.image_codec import ImageFormatError, to_bgr

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')


class SourceError(ValueError):
    """The input cannot be read; the message names it and says what is expected."""


@dataclass(frozen=True)
class Frame:
    index: int
    timestamp: float
    image: np.ndarray


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r'(\d+)', name)]


class VideoSource:
    def __init__(self, path: str):
        self.path = path
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise SourceError(f"cannot open video '{path}' (not a video OpenCV can read)")
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
        self.length = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        cap.release()

    def __iter__(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(self.path)
        try:
            index = 0
            while True:
                ok, image = cap.read()
                if not ok:
                    return
                yield Frame(index, index / self.fps, image)
                index += 1
        finally:
            cap.release()


class FolderSource:
    def __init__(self, path: str, fps: float | None = None):
        self.path = path
        self.files = sorted((f for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES)), key=_natural_key)
        if not self.files:
            raise SourceError(f"folder '{path}' has no images ({', '.join(IMAGE_SUFFIXES)})")
        self.fps = fps or 10.0
        self.length = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        for index, name in enumerate(self.files):
            image = cv2.imread(os.path.join(self.path, name), cv2.IMREAD_COLOR)
            if image is None:
                raise SourceError(f"cannot read image '{os.path.join(self.path, name)}'")
            yield Frame(index, index / self.fps, image)


class BagSource:
    def __init__(self, path: str, topic: str | None = None):
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        self.path, self._typestore = Path(path), get_typestore(Stores.ROS2_KILTED)
        self._reader_cls = AnyReader
        try:
            with AnyReader([self.path], default_typestore=self._typestore) as reader:
                topics = {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}
                counts = {c.topic: c.msgcount for c in reader.connections}
        except Exception as e:  # noqa: BLE001 - rosbags raises several types for unreadable bags
            raise SourceError(f"cannot read rosbag2 '{path}': {e}") from None
        if topic is None:
            if len(topics) != 1:
                listed = ', '.join(sorted(topics)) or 'none'
                raise SourceError(f"rosbag2 '{path}' has {len(topics)} image topics ({listed}): pick one with --topic")
            topic = next(iter(topics))
        elif topic not in topics:
            raise SourceError(f"topic '{topic}' is not an image topic of '{path}'; image topics: "
                              f"{', '.join(sorted(topics)) or 'none'}")
        self.topic, self.length, self.fps = topic, counts.get(topic), None

    def __iter__(self) -> Iterator[Frame]:
        with self._reader_cls([self.path], default_typestore=self._typestore) as reader:
            connections = [c for c in reader.connections if c.topic == self.topic]
            for index, (conn, _, raw) in enumerate(reader.messages(connections=connections)):
                msg = reader.deserialize(raw, conn.msgtype)
                stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                if conn.msgtype.endswith('CompressedImage'):
                    image = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
                    if image is None:
                        raise SourceError(f"{self.path}: message {index} on '{self.topic}' is not a decodable image")
                else:
                    try:
                        image = to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data.tobytes(),
                                       bool(msg.is_bigendian))
                    except ImageFormatError as e:
                        raise SourceError(f"{self.path}: message {index} on '{self.topic}': {e}") from None
                yield Frame(index, stamp, image)


def open_source(path: str, topic: str | None = None, fps: float | None = None):
    """The right source for `path`; raises SourceError with a clear message."""
    if not os.path.exists(path):
        raise SourceError(f"input '{path}' does not exist (a video file, a folder of images or a rosbag2)")
    p = Path(path)
    if p.is_dir():
        if (p / 'metadata.yaml').is_file():
            return BagSource(path, topic)
        return FolderSource(path, fps)
    if p.suffix in ('.mcap', '.db3'):
        return BagSource(path, topic)
    return VideoSource(path)
