"""N frames spread over the whole of a frame source (video, folder of images, rosbag2), in one pass.

Sources are read front to back (no seeking), so the length need not be known: every `stride`-th frame is
kept, and when more than 4N are kept every other one is dropped and the stride doubles. At the end the kept
frames cover the whole input evenly and the N nearest to N evenly spaced times are returned.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from vad_ros.media.sources import Frame
from vad_ros.scene_tools.errors import SceneToolError


def spread_frames(frames: Iterable[Frame], count: int) -> list[Frame]:
    """At most `count` frames spread evenly over `frames` (first and last included when there are enough)."""
    if count < 1:
        raise SceneToolError(f'--frames must be at least 1, got {count}')
    kept: list[tuple[int, Frame]] = []
    stride, last = 1, None
    for position, frame in enumerate(frames):
        last = (position, frame)
        if position % stride:
            continue
        kept.append(last)
        if len(kept) > 4 * count:
            kept = kept[::2]
            stride *= 2
    if last is not None and kept[-1][0] != last[0]:
        kept.append(last)               # the end of the input is part of "over time"
    if len(kept) <= count:
        return [frame for _, frame in kept]
    positions = np.array([p for p, _ in kept], np.float64)
    chosen: list[int] = []
    for target in np.linspace(0, positions[-1], count):
        order = np.argsort(np.abs(positions - target), kind='stable')
        chosen.append(next(int(i) for i in order if int(i) not in chosen))
    return [kept[i][1] for i in sorted(chosen)]
