"""The debug drawing of a FrameResult: for the node's ~/debug_image, annotated.mp4 and the demo.

Boxes: green = normal object, red = anomalous object, thin grey = unconfirmed object (seen too briefly or
scored too low to fire a rule; its label ends in '?'), each labelled with its class, track id and the
background class it stands on. Top left: a banner (frame index, ANOMALY / normal, frame score) and the
anomalies' sentences in red. Text sits on a dark backing and scales with the image height (about 15 px
glyphs at 576 rows, 28 px at 1080). With class_map_alpha > 0 the background class map is blended in,
each class in a colour derived from its name, with a legend of the largest classes at the bottom left.
"""
from __future__ import annotations

import zlib
from datetime import datetime, timezone
from functools import lru_cache

import cv2
import numpy as np

from vad_ros.reasoning.tripwires import in_arrow
from vad_ros.types import NO_CLASS, FrameResult

GREEN, RED, WHITE, DARK = (60, 200, 60), (40, 40, 235), (255, 255, 255), (25, 25, 25)
AMBER = (0, 190, 255)              # the camera's own trouble (a frozen or blank image, a moved view)
FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_SENTENCES = 6
LEGEND_CLASSES = 8
_CLASS_HUES = tuple(range(12, 46)) + tuple(range(82, 166))   # OpenCV hues (0-180) away from green and red


def text_scale(image_height: int) -> float:
    """OpenCV font scale for the banner: readable from 480-row frames to 4K."""
    return float(np.clip(image_height / 1000.0, 0.55, 2.2))


def _thickness(scale: float) -> int:
    return max(1, int(round(scale * 2)))


def label_size(text: str, scale: float) -> tuple[int, int]:
    """(width, height) of the backed label put_label draws."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, _thickness(scale))
    pad = max(2, int(round(3 * scale)))
    return tw + 2 * pad, th + base + 2 * pad


def put_label(img: np.ndarray, text: str, x: int, y: int, colour, scale: float) -> tuple[int, int]:
    """Text on a dark box whose top-left corner is (x, y), shifted to stay inside the image; returns the
    box's (width, height)."""
    thickness = _thickness(scale)
    (_, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(2, int(round(3 * scale)))
    bw, bh = label_size(text, scale)
    h, w = img.shape[:2]
    x = int(min(max(x, 0), max(w - bw, 0)))
    y = int(min(max(y, 0), max(h - bh, 0)))
    cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), DARK, -1)
    cv2.putText(img, text, (x + pad, y + pad + th), FONT, scale, colour, thickness, cv2.LINE_AA)
    return bw, bh


def stamp_text(stamp: float) -> str:
    """A frame time for people: clock time (UTC) for stamps since 1970 (live cameras), seconds into the
    recording otherwise (video files, image folders)."""
    if stamp >= 1e9:
        clock = datetime.fromtimestamp(stamp, timezone.utc)
        return clock.strftime('%Y-%m-%d %H:%M:%S.') + f'{clock.microsecond // 10000:02d} UTC'
    return f't {stamp:.2f} s'


def class_colour(name: str) -> tuple[int, int, int]:
    """A stable BGR colour for a class name (same in every vocabulary), never the boxes' green or red."""
    hue = _CLASS_HUES[zlib.crc32(name.encode()) % len(_CLASS_HUES)]
    value = 170 + zlib.crc32(name[::-1].encode()) % 86
    bgr = cv2.cvtColor(np.array([[[hue, 200, value]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


@lru_cache(maxsize=8)
def _colour_lut(class_names: tuple[str, ...]) -> np.ndarray:
    lut = np.zeros((int(NO_CLASS) + 1, 3), np.uint8)
    for i, name in enumerate(class_names[:int(NO_CLASS)]):
        lut[i] = class_colour(name)
    return lut


def _overlay_class_map(out: np.ndarray, result: FrameResult, alpha: float) -> np.ndarray:
    """out with the class map blended in (in place) and a legend of the largest classes, bottom left."""
    class_map = result.class_map
    if class_map is None or class_map.shape != out.shape[:2]:
        return out
    labels = class_map.labels
    inside = labels != NO_CLASS
    if not inside.any():
        return out
    tinted = _colour_lut(tuple(class_map.class_names))[labels]
    blended = cv2.addWeighted(tinted, alpha, out, 1.0 - alpha, 0.0)
    out[inside] = blended[inside]
    counts = np.bincount(labels[inside], minlength=len(class_map.class_names))
    largest = [int(i) for i in np.argsort(-counts, kind='stable')[:LEGEND_CLASSES] if counts[i] > 0]
    scale = text_scale(out.shape[0]) * 0.75
    line = label_size('Ag', scale)[1]
    y = out.shape[0] - line * len(largest)
    for i in largest:
        name = class_map.class_names[i]
        put_label(out, name, 0, y, class_colour(name), scale)
        y += line
    return out


LIGHT, YELLOW, GREY = (215, 215, 215), (0, 215, 255), (140, 140, 140)


def draw_tripwire_arrow(out: np.ndarray, points: np.ndarray, colour, thickness: int) -> None:
    """The direction of an "in" crossing of a tripwire (frame pixels), in place: an arrow across the middle of
    its first segment, from the side "in" crossings start on to the side they end on
    (reasoning.tripwires.in_arrow), with "in" just beyond its head. Used by the debug image and by
    scene_overlay (vad-scene show)."""
    arrow = in_arrow(points)
    if arrow is None:
        return
    mid, direction = arrow
    length = max(20.0, out.shape[0] / 20)
    tail, tip = mid - direction * length * 0.5, mid + direction * length
    cv2.arrowedLine(out, tuple(int(round(v)) for v in tail), tuple(int(round(v)) for v in tip), colour,
                    thickness, cv2.LINE_AA, tipLength=0.35)
    scale = text_scale(out.shape[0]) * 0.6
    w, h = label_size('in', scale)
    centre = tip + direction * (0.5 * float(np.hypot(w, h)) + 1)          # clear of the head, any direction
    put_label(out, 'in', int(round(centre[0] - w / 2)), int(round(centre[1] - h / 2)), colour, scale)


def _draw_rule_overlay(out: np.ndarray, overlay, scale: float) -> None:
    """Zones (thin light outlines), tripwires (yellow, with their in/out counts and the "in" arrow), ignore
    masks (grey outlines) and dwell timers (seconds held / needed, above the object)."""
    small = scale * 0.6
    for polygon in overlay.ignore:
        cv2.polylines(out, [np.round(polygon).astype(np.int32)], True, GREY, 1, cv2.LINE_8)
    for name, polygon in overlay.zones:
        pts = np.round(polygon).astype(np.int32)
        cv2.polylines(out, [pts], True, LIGHT, 1, cv2.LINE_8)
        put_label(out, name, int(pts[:, 0].min()) + 2, int(pts[:, 1].min()) + 2, LIGHT, small)
    for name, points, crossed_in, crossed_out in overlay.tripwires:
        pts = np.round(points).astype(np.int32)
        cv2.polylines(out, [pts], False, YELLOW, 2, cv2.LINE_8)
        draw_tripwire_arrow(out, points, YELLOW, 2)
        put_label(out, f'{name} in {crossed_in} out {crossed_out}', int(pts[-1, 0]), int(pts[-1, 1]) + 2, YELLOW,
                  small)
    for timer in overlay.timers:
        if timer.box is None:
            continue
        done = timer.held >= timer.needed
        text = f'{timer.rule_id} {timer.held:.1f}/{timer.needed:g} s'
        x0, y0 = int(round(timer.box[0])), int(round(timer.box[1]))
        put_label(out, text, x0, y0 - label_size(text, small)[1] - 1, RED if done else YELLOW, small)


def draw_result(image_bgr: np.ndarray, result: FrameResult, class_map_alpha: float = 0.0,
                warning: str = '') -> np.ndarray:
    """A new image (the input is not modified): every object boxed (green normal, red anomalous) with its
    background class, the anomalies' sentences in red, a banner with frame index, verdict and score;
    the class map blended in with `class_map_alpha` (0 = off); `warning` (the camera's trouble, e.g. a frozen
    image: its first clause) in amber under the banner."""
    out = image_bgr.copy()
    h = out.shape[0]
    if class_map_alpha > 0:
        out = _overlay_class_map(out, result, min(float(class_map_alpha), 1.0))
    scale = text_scale(h)
    box_width = max(2, int(round(h / 300)))
    if result.overlay is not None:
        _draw_rule_overlay(out, result.overlay, scale)
    flagged = {(a.box, a.track_id) for a in result.anomalies}
    members = {t for a in result.anomalies for t in a.members if t}       # objects counted by count rules

    def is_bad(o):
        return (o.box, o.track_id) in flagged or o.track_id in members
    # Unconfirmed objects first, then normal ones, so that anomalous boxes and labels are drawn on top.
    objects = sorted(result.objects, key=lambda o: (o.confirmed, is_bad(o)))
    for obj in objects:
        bad = is_bad(obj)
        colour = RED if bad else GREEN if obj.confirmed else GREY
        width = box_width + (1 if bad else 0) if obj.confirmed else 1
        x0, y0, x1, y1 = (int(round(v)) for v in obj.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, width)
        track = f' #{obj.track_id}' if obj.track_id else ''
        mark = '' if obj.confirmed else '?'
        put_label(out, f'{obj.object_class}{track}{mark} on {obj.background_class or "?"}', x0, y1 + 1, colour,
                  scale * (0.75 if obj.confirmed else 0.6))

    verdict = 'ANOMALY' if result.is_anomalous else 'normal'
    stamp = f'  {stamp_text(result.stamp)}' if result.stamp is not None else ''
    banner = f'frame {result.frame_index}{stamp}  {verdict}  score {result.score:.2f}'
    y = 2 + put_label(out, banner, 2, 2, RED if result.is_anomalous else WHITE, scale)[1]
    if warning:
        y += put_label(out, warning.split(':')[0], 2, y, AMBER, scale * 0.75)[1]
    sentences = [a.sentence for a in result.anomalies]
    if len(sentences) > MAX_SENTENCES:
        sentences = sentences[:MAX_SENTENCES - 1] + [f'... and {len(result.anomalies) - MAX_SENTENCES + 1} more']
    for text in sentences:
        y += put_label(out, text, 2, y, RED, scale * 0.75)[1]
    return out
