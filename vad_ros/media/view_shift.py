"""Has the camera's view moved since its scene map was put in force? A bumped or loosened camera keeps streaming
and the node keeps judging, but the map's regions, zones and tripwires no longer lie on what they were drawn on:
people on a path read as on the lawn, cars on the road as on the pavement, and nothing says why.

The reference is the picture the map was drawn on, where `vad-scene edit` saved it next to the map
(reference_path: `<map>.reference.jpg`, the frame's size), so a camera bumped before the node started is seen
too; else the first frame after the scene map is put in force. Every CHECK_EVERY_S seconds of image time
the frame is compared with it by phase correlation of their edge images (Sobel magnitude of a grey copy
WIDTH pixels wide, so lighting changes matter little and moving people little against the static scene). A
shift of at least `fraction` of the frame width, measured with a correlation peak of at least MIN_RESPONSE, on
CONFIRMATIONS checks in a row, is reported. Measured on vtest.avi and shifted copies of it: bench/RESULTS.md,
"View shift". What this does not see: a rotation or a zoom, and moves so large that the views no longer
correlate (the peak falls below MIN_RESPONSE: unknown, not reported).
"""
from __future__ import annotations

import math
import os

import cv2
import numpy as np

from vad_ros.files import write_atomically

WIDTH = 192                 # the compared copies are this many pixels wide
CHECK_EVERY_S = 5.0         # image time between two comparisons
MIN_RESPONSE = 0.08         # phase correlation peak below this: the views cannot be compared (no verdict)
CONFIRMATIONS = 3           # checks in a row that must find the move


def reference_path(scene_map_file: str) -> str:
    """Where the picture a scene map was drawn on lies: next to it, `<stem>.reference.jpg`."""
    return os.path.splitext(scene_map_file)[0] + '.reference.jpg'


def write_reference(scene_map_file: str, jpeg: bytes) -> None:
    """The picture the map was drawn on (JPEG bytes), written next to it (reference_path; files.write_atomically:
    a reader never sees half of it). OSError where the folder is not writable."""
    def write(path: str) -> None:
        with open(path, 'wb') as f:
            f.write(jpeg)
    write_atomically(reference_path(scene_map_file), write)


def read_reference(scene_map_file: str, frame_shape: tuple[int, int]) -> np.ndarray | None:
    """The picture the map was drawn on, where one was saved with it and has the frame's (h, w); else None."""
    path = reference_path(scene_map_file) if scene_map_file else ''
    image = cv2.imread(path, cv2.IMREAD_COLOR) if path and os.path.isfile(path) else None
    return image if image is not None and image.shape[:2] == tuple(frame_shape) else None


def edges(image_bgr: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of a grey copy of the frame, WIDTH pixels wide and at most twice as high
    (float32; an odd-shaped frame is squeezed, the same way for the reference and the frames compared)."""
    step = max(1, image_bgr.shape[1] // (2 * WIDTH))           # sample first: resizing a 4K frame is slow
    grey = cv2.cvtColor(image_bgr[::step, ::step], cv2.COLOR_BGR2GRAY)
    height = min(max(8, round(grey.shape[0] * WIDTH / grey.shape[1])), 2 * WIDTH)   # a 1-px-wide frame: no giant
    small = cv2.resize(grey, (WIDTH, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.magnitude(cv2.Sobel(small, cv2.CV_32F, 1, 0), cv2.Sobel(small, cv2.CV_32F, 0, 1))


class ViewShift:
    """One camera's view against the reference taken when its scene map was put in force."""

    def __init__(self) -> None:
        self.reset()

    def reset(self, scene=None, image_bgr: np.ndarray | None = None, stamp: float = 0.0,
              since: str = 'was put in force') -> None:
        """Forget the reference; with a scene map and a picture, take that picture as the new reference (since:
        what the message says the view moved since)."""
        self.scene = scene               # the scene map the reference belongs to
        self.since = since
        self.frame_shape = image_bgr.shape[:2] if image_bgr is not None else None
        self.reference = edges(image_bgr) if image_bgr is not None else None
        self.window = (cv2.createHanningWindow(self.reference.shape[::-1], cv2.CV_32F)
                       if self.reference is not None else None)
        self.next_check = stamp + CHECK_EVERY_S
        self.streak = 0
        self.measured = 'not measured yet'       # the last comparison, for /diagnostics
        self.message = ''

    def update(self, image_bgr: np.ndarray, stamp: float, scene, fraction: float, scene_file: str = '') -> str:
        """'' while the view matches the reference (or cannot be compared, or fraction is 0, or there is no scene
        map); else what moved, once CONFIRMATIONS checks in a row found it. `scene`: the scene map in force (a new
        one takes a new reference: the picture saved with `scene_file`, else this frame)."""
        if scene is None or fraction <= 0:
            if self.scene is not None:
                self.reset()
            return ''
        if scene is not self.scene or image_bgr.shape[:2] != self.frame_shape:     # a new map, or another size
            drawn_on = read_reference(scene_file, image_bgr.shape[:2])
            if drawn_on is None:
                self.reset(scene, image_bgr, stamp)
                return ''
            self.reset(scene, drawn_on, stamp - CHECK_EVERY_S, 'was drawn')     # checked from this frame on
        if stamp < self.next_check:
            if stamp < self.next_check - 2 * CHECK_EVERY_S:      # the stamps went back: wait anew
                self.next_check = stamp + CHECK_EVERY_S
            return self.message
        self.next_check = stamp + CHECK_EVERY_S
        (dx, dy), response = cv2.phaseCorrelate(self.reference, edges(image_bgr), self.window)
        scale = image_bgr.shape[1] / WIDTH
        dx, dy = dx * scale, dy * scale
        self.measured = f'({dx:.0f}, {dy:.0f}) px, peak {response:.2f}'
        moved = response >= MIN_RESPONSE and math.hypot(dx, dy) >= fraction * image_bgr.shape[1]
        self.streak = self.streak + 1 if moved else 0
        if self.streak >= CONFIRMATIONS:
            self.message = (f'the view has moved by ({dx:.0f}, {dy:.0f}) px since the scene map {self.since}: '
                            'its regions, zones and tripwires no longer lie where they were drawn; fix the camera '
                            'or redraw the map (vad-scene edit)')
        elif not moved:
            self.message = ''
        return self.message

