"""The debug drawing of a FrameResult: for ~/debug_image, annotated.mp4 and the demo."""
from __future__ import annotations

import cv2
import numpy as np

from vad_ros.types import NO_CLASS, FrameResult

GREEN, RED, WHITE, DARK = (60, 200, 60), (40, 40, 235), (255, 255, 255), (30, 30, 30)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _label(img: np.ndarray, text: str, x: int, y: int, colour, scale: float) -> None:
    """Text with a dark backing box whose top-left corner is (x, y), kept inside the image."""
    thickness = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    h, w = img.shape[:2]
    x = int(min(max(x, 0), max(w - tw - 4, 0)))
    y = int(min(max(y, 0), max(h - th - base - 4, 0)))
    cv2.rectangle(img, (x, y), (x + tw + 4, y + th + base + 4), DARK, -1)
    cv2.putText(img, text, (x + 2, y + th + 2), FONT, scale, colour, thickness, cv2.LINE_AA)


def _palette(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(40, 255, size=(max(n, 1), 3), dtype=np.uint8)


def draw_result(image_bgr: np.ndarray, result: FrameResult, class_map_alpha: float = 0.0) -> np.ndarray:
    """A new image: all objects boxed (green normal, red anomalous) with their background class, the
    anomalies' sentences in red, a banner with frame index, verdict and score; optionally the class map
    blended in with `class_map_alpha`."""
    out = image_bgr.copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(1.2, w / 1600))
    if class_map_alpha > 0 and result.class_map is not None and result.class_map.shape == (h, w):
        labels = result.class_map.labels
        colours = _palette(len(result.class_map.class_names))
        inside = labels != NO_CLASS
        tinted = out.copy()
        tinted[inside] = colours[labels[inside]]
        out = cv2.addWeighted(tinted, class_map_alpha, out, 1 - class_map_alpha, 0)
    flagged = {(a.box, a.track_id) for a in result.anomalies}
    for obj in result.objects:
        bad = (obj.box, obj.track_id) in flagged
        colour = RED if bad else GREEN
        x0, y0, x1, y1 = (int(round(v)) for v in obj.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, 3 if bad else 2)
        tag = f'{obj.object_class}{" #" + str(obj.track_id) if obj.track_id else ""} on {obj.background_class or "?"}'
        _label(out, tag, x0, y1 + 2, colour, scale * 0.8)
    lines = [a.sentence for a in result.anomalies]
    verdict = f'ANOMALY score {result.score:.2f}' if result.is_anomalous else 'normal'
    _label(out, f'frame {result.frame_index}  {verdict}', 4, 4, RED if result.is_anomalous else WHITE, scale)
    line_h = int(32 * scale) + 8
    for i, text in enumerate(lines[:6]):
        _label(out, text, 4, 4 + line_h * (i + 1), RED, scale * 0.8)
    if len(lines) > 6:
        _label(out, f'... and {len(lines) - 6} more', 4, 4 + line_h * 7, RED, scale * 0.8)
    return out
