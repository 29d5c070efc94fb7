"""Does the camera still show a scene? Two failures that reach the node as a healthy stream of frames, and that no
rule can notice, because nothing is detected in either: a frozen image (a driver, encoder or recorder that repeats
its last frame) and a blank one (a covered or sprayed lens, a camera turned to a wall, a dead sensor, a night
without light). Both are judged on one sample of the decoded frame, every GRID-th pixel of every GRID-th row
(bench/RESULTS.md, "Image health"), and reported once they have lasted `hold_s` seconds of image time, so a short
glitch or a moment of darkness says nothing.

- frozen: every sampled pixel equal to the previous frame's. Real cameras change at least some of them from frame
  to frame (sensor noise, compression), even on a still scene.
- blank: the sample's grey levels vary by less than BLANK_STD (standard deviation, 0-255).
"""
from __future__ import annotations

import zlib

import cv2
import numpy as np

BLANK_STD = 2.0             # grey levels; a dark street at night still has lights, edges and noise above this
GRID = 8                    # the sample: every GRID-th pixel of every GRID-th row


class ImageHealth:
    """The frozen / blank state of one camera's frames; `update` with each decoded frame."""

    def __init__(self) -> None:
        self.last_sample = None          # crc32 of the previous frame's grid, with its shape
        self.since = {'frozen': None, 'blank': None}     # image time the condition started, None = not now

    def update(self, image_bgr: np.ndarray, stamp: float, hold_s: float) -> str:
        """'' where the frame is fine or a condition has lasted less than hold_s seconds of image time (hold_s 0:
        never); else what is wrong, for /diagnostics and the log."""
        grid = np.ascontiguousarray(image_bgr[::GRID, ::GRID])
        sample = (grid.shape, zlib.crc32(grid))
        mean, std = (float(v[0][0]) for v in cv2.meanStdDev(cv2.cvtColor(grid, cv2.COLOR_BGR2GRAY)))
        now = {'frozen': sample == self.last_sample, 'blank': std < BLANK_STD}
        self.last_sample = sample
        for name, present in now.items():
            if not present:
                self.since[name] = None
            elif self.since[name] is None or stamp < self.since[name]:      # new, or the stamps went back
                self.since[name] = stamp
        lasting = {name: stamp - start for name, start in self.since.items() if start is not None}
        if hold_s <= 0 or not any(seconds >= hold_s for seconds in lasting.values()):
            return ''
        if lasting.get('blank', -1.0) >= hold_s:
            return (f'the image has been blank for {lasting["blank"]:.0f} s (uniform, mean grey {mean:.0f}): '
                    'lens covered or dirty, camera turned away, dark or off; nothing can be detected')
        return (f'the image has been frozen for {lasting["frozen"]:.0f} s (every frame the same): the camera, its '
                'driver or encoder repeats its last frame; the scene is not watched')
