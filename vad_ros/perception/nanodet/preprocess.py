"""NanoDet's network input: the frame padded with black at the bottom (right) to at most 4:3 (3:4), stretched to
the input size (bilinear), BGR, normalised with NanoDet's training mean/std, NCHW float32, written into buffers
kept from frame to frame. Why: this NanoDet was trained on COCO images (mostly 4:3) stretched to a square, so a
4:3 frame is stretched as is and a wider (taller) one padded first, to keep the proportions the model learnt; on
the labelled frames this beats letterboxing and the human library's RGB / 255 input, and on a 2.35:1 video it
finds the cars that plain stretching misses (bench/RESULTS.md, "NanoDet vs HOG")."""
from __future__ import annotations

import cv2
import numpy as np

from vad_ros.jit import COMPILED, compiled

MEAN_BGR = (103.53, 116.28, 123.675)            # NanoDet's training normalisation (BGR order)
STD_BGR = (57.375, 57.12, 58.395)
MAX_ASPECT = (4, 3)                             # frames wider (taller) than 4:3 (3:4) are padded to it


class InputResizer:
    """The frame padded to at most 4:3 / 3:4 and stretched to size x size (bilinear), into buffers kept from frame
    to frame: the resized image, and the black canvas of each padded frame size (only the picture part is
    written each frame)."""

    def __init__(self, size: int):
        self.size = size
        self.resized = np.empty((size, size, 3), np.uint8)
        self.canvases: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the size x size uint8 BGR input image, the (x, y, x, y) factors from network pixels to the frame).
        The returned image is overwritten by the next call."""
        height, width = image_bgr.shape[:2]
        padded_w = max(width, round(height * MAX_ASPECT[1] / MAX_ASPECT[0]))     # taller than 3:4: black at the right
        padded_h = max(height, round(width * MAX_ASPECT[1] / MAX_ASPECT[0]))     # wider than 4:3: at the bottom
        if (padded_w, padded_h) != (width, height):
            canvas = self.canvases.get((padded_h, padded_w))
            if canvas is None:
                canvas = self.canvases[(padded_h, padded_w)] = np.zeros((padded_h, padded_w, 3), np.uint8)
            canvas[:height, :width] = image_bgr
            image_bgr = canvas
        cv2.resize(image_bgr, (self.size, self.size), dst=self.resized, interpolation=cv2.INTER_LINEAR)
        return self.resized, np.array([padded_w, padded_h, padded_w, padded_h], np.float32) / np.float32(self.size)


# (pixel value - mean) / std in float32 for every uint8 value of each BGR channel: normalising is a table look-up
NORMALISED = ((np.arange(256, dtype=np.float32)[None] - np.float32(MEAN_BGR)[:, None])
              / np.float32(STD_BGR)[:, None]).astype(np.float32)


@compiled
def _normalise_compiled(image: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    height, width = image.shape[0], image.shape[1]
    for y in range(height):
        for x in range(width):
            for c in range(3):
                out[c, y, x] = table[c, image[y, x, c]]


def normalise(canvas_bgr: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(S, S, 3) uint8 BGR -> (1, 3, S, S) float32 with NanoDet's mean/std; or written into `out`, (3, S, S)
    float32 (one image of a batch), and `out` returned. One pass through NORMALISED (compiled: ~0.1 ms at 416x416
    on this machine's cores; numpy without numba: ~1.4 ms)."""
    blob = np.empty((1, 3) + canvas_bgr.shape[:2], np.float32) if out is None else out
    target = blob[0] if out is None else out
    if COMPILED:
        _normalise_compiled(canvas_bgr, NORMALISED, target)
    else:
        for c in range(3):
            np.take(NORMALISED[c], canvas_bgr[:, :, c], out=target[c])
    return blob
