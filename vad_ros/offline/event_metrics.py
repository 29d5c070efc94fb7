"""Event-level evaluation against incident labels, as an operator judges alarms, and the region- and track-based
detection criteria (RBDC, TBDC) of Ramachandra & Jones, "Street Scene" (WACV 2020), where the labels have boxes.

Definitions (docs/EVALUATION.md, "Event-level evaluation"):
- an incident is a labelled interval of frames [first, last] (or seconds) of one video, optionally with an object
  class, a rule id and sparse boxes (linearly interpolated between key frames);
- an event (a line of events.jsonl, or a vad_ros.types.Event) matches an incident when its frames
  [start_frame, end_frame] overlap the incident's, its object class and rule id agree with the incident's where
  the incident names them, and, "in space" (the default where the incident has boxes and the anomalies are
  known), one of the event's anomaly boxes in a frame of the incident overlaps the incident's box there with
  IoU >= 0.1;
- caught = incidents matched by at least one event; events per incident = matching events / caught incidents;
  false events = events matching no incident, per hour of video; time to the first alarm = stamp of the first
  matching event's first frame - stamp of the incident's first frame (0 when the alarm was already on);
- RBDC / TBDC: every anomaly box is a detected region; a labelled region (an incident's box in one frame) is
  detected when a detected region of that frame has IoU >= beta (0.1) with it; a detected region is a false
  positive when its IoU with every labelled region of its frame is < beta; an incident with boxes is a track,
  detected when at least alpha (10 %) of its regions are detected. RBDR = detected regions / labelled regions,
  TBDR = detected tracks / tracks, both against false-positive regions per frame.

Everything here is pure (numbers in, numbers out) except the readers of the label file and of a run's output
folder, which raise LabelError (a VadError) naming the file, the line where known, the field and the fix, and
write_evaluation (vad-video --labels), which also writes events_eval.json.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from vad_ros import limits
from vad_ros.errors import VadError
from vad_ros.files import key_line, line_of, read_yaml
from vad_ros.offline import metrics as frame_metrics
from vad_ros.types import Event

IOU = 0.1          # beta of the paper: minimum IoU between a detected and a labelled region
COVERAGE = 0.1     # alpha of the paper: share of a track's regions that must be detected
MATCH_MODES = ('auto', 'time', 'space')


def add_match_option(parser, labels_flag: str) -> None:
    """--event-match for a command line whose incident labels come with `labels_flag` (vad-video, vad-eval)."""
    parser.add_argument('--event-match', choices=MATCH_MODES, default='auto',
                        help=f'with {labels_flag}: events match incidents in time only, or also in space (their '
                        'boxes); auto = in space where an incident has boxes (default)')
FORMAT = 'vad_ros-incidents/1'
_TOP_KEYS = {'format', 'videos', 'note'}
_VIDEO_KEYS = {'incidents', 'note'}
_INCIDENT_KEYS = {'id', 'frames', 'seconds', 'object_class', 'rule_id', 'boxes', 'note'}

Box = tuple[float, float, float, float]


class LabelError(VadError):
    """An incident label file (or a run's output read back for evaluation) is unusable; the message names the
    file, the line where known, the field and the fix."""


# ----------------------------------------------------------------------------------------------- label model

@dataclass(frozen=True)
class Incident:
    """One labelled incident. Frames are inclusive; `seconds` intervals are resolved to frames against the run's
    frame times (resolve())."""

    id: str
    first: int | None = None                 # frame interval, inclusive
    last: int | None = None
    start_s: float | None = None             # or seconds from the video's first frame, inclusive
    end_s: float | None = None
    object_class: str | None = None
    rule_id: str | None = None
    keyframes: tuple[tuple[int, Box], ...] = ()   # sorted by frame; first and last = the interval's ends

    @property
    def has_boxes(self) -> bool:
        return bool(self.keyframes)

    def box_at(self, frame: int) -> Box | None:
        """The box at `frame`: a key frame's box, linear between key frames, None outside them."""
        keys = self.keyframes
        if not keys or frame < keys[0][0] or frame > keys[-1][0]:
            return None
        lo, hi = 0, len(keys) - 1
        while hi - lo > 1:                      # keys[lo].frame <= frame <= keys[hi].frame
            mid = (lo + hi) // 2
            if keys[mid][0] <= frame:
                lo = mid
            else:
                hi = mid
        (f0, b0), (f1, b1) = keys[lo], keys[hi]
        if frame == f0 or f1 == f0:
            return b0
        if frame == f1:
            return b1
        t = (frame - f0) / (f1 - f0)
        return tuple(a + (b - a) * t for a, b in zip(b0, b1))  # type: ignore[return-value]


@dataclass(frozen=True)
class VideoIncidents:
    """The incidents of one video (possibly none: a video where nothing should raise an alarm)."""

    name: str
    incidents: tuple[Incident, ...] = ()
    source: str = ''                          # the label file, for messages


# ----------------------------------------------------------------------------------------------- label file

def _fail(path: str, line: int, where: str, message: str) -> LabelError:
    at = f'{path}:{line}' if line else path
    return LabelError(limits.bounded_message(f'{at}: {where}: {message}'))


def read_incidents(path: str | os.PathLike) -> dict[str, VideoIncidents]:
    """The incident label file (JSON, or YAML: docs/EVALUATION.md) as {video name: VideoIncidents}, checked.
    Raises LabelError naming the file, line and field."""
    path = str(path)
    fix = 'give the incident label file (JSON, format in docs/EVALUATION.md)'
    doc = read_yaml(path, 'incident label file', fix, LabelError)     # size, depth and alias caps: files.py
    return parse_incidents(doc, path)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _pair(value: Any, path: str, line: int, where: str, integer: bool) -> tuple:
    kind = 'frame indices (integers >= 0)' if integer else 'seconds (numbers >= 0)'
    ok = isinstance(value, list) and len(value) == 2 and all(
        (isinstance(v, int) and not isinstance(v, bool)) if integer else _number(v) for v in value)
    if not ok or value[0] < 0 or value[1] < value[0]:
        raise _fail(path, line, where, f'expected [first, last], two {kind} with first <= last, got '
                                       f'{limits.excerpt(value)}')
    return tuple(value)


def _text(value: Any, path: str, line: int, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, line, where, f'expected a non-empty text, got {limits.excerpt(value)}')
    return str(value)


def _keys(mapping: dict, allowed: set[str], path: str, where: str) -> None:
    for k in mapping:
        if k not in allowed:
            raise _fail(path, key_line(mapping, k, line_of(mapping)), where,
                        f"unknown key {limits.excerpt(k)} (allowed: {', '.join(sorted(allowed))})")


def _boxes(value: Any, first: int, last: int, path: str, line: int, where: str) -> tuple[tuple[int, Box], ...]:
    if not isinstance(value, dict) or not value:
        raise _fail(path, line, where, 'expected a mapping {frame: [x_min, y_min, x_max, y_max]} with at least '
                                       f'the first and the last frame, got {limits.excerpt(value)}')
    keys: dict[int, Box] = {}
    for k, box in value.items():
        kline = key_line(value, k, line) if isinstance(k, str) else line_of(box, line)
        text = str(k).strip()
        if not text.isdigit():
            raise _fail(path, kline, f'{where}[{limits.excerpt(k)}]', 'a key must be a frame index (an integer >= 0)')
        frame = int(text)
        if frame in keys:
            raise _fail(path, kline, f'{where}[{frame}]', 'frame given twice')
        if not first <= frame <= last:
            raise _fail(path, kline, f'{where}[{frame}]', f'frame outside the incident [{first}, {last}]: give '
                                                          'boxes only within its frames')
        ok = isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)
        if not ok or not (box[2] > box[0] and box[3] > box[1]):
            raise _fail(path, kline, f'{where}[{frame}]', 'expected [x_min, y_min, x_max, y_max] in pixels with '
                                                          f'x_max > x_min and y_max > y_min, got {limits.excerpt(box)}')
        keys[frame] = tuple(float(v) for v in box)  # type: ignore[assignment]
    if first not in keys or last not in keys:
        missing = ' and '.join(str(f) for f in (first, last) if f not in keys)
        raise _fail(path, line, where, f'no box at frame {missing}: boxes must start at the incident\'s first '
                                       'frame and end at its last (they are interpolated in between)')
    return tuple(sorted(keys.items()))


def _incident(raw: Any, video: str, n: int, path: str, fallback_line: int) -> Incident:
    where = f'videos.{video}.incidents[{n}]'
    line = line_of(raw, fallback_line)
    if not isinstance(raw, dict):
        raise _fail(path, line, where, f'expected a mapping with frames (or seconds), got {limits.excerpt(raw)}')
    _keys(raw, _INCIDENT_KEYS, path, where)
    ident = _text(raw['id'], path, key_line(raw, 'id', line), f'{where}.id') if 'id' in raw else f'{video}#{n + 1}'
    if ('frames' in raw) == ('seconds' in raw):
        raise _fail(path, line, where, 'give the interval as frames: [first, last] or as seconds: [start, end] '
                                       '(exactly one of them)')
    kwargs: dict[str, Any] = {'id': ident}
    if 'frames' in raw:
        kwargs['first'], kwargs['last'] = _pair(raw['frames'], path, key_line(raw, 'frames', line),
                                                f'{where}.frames', integer=True)
    else:
        start, end = _pair(raw['seconds'], path, key_line(raw, 'seconds', line), f'{where}.seconds', integer=False)
        kwargs['start_s'], kwargs['end_s'] = float(start), float(end)
    for key in ('object_class', 'rule_id'):
        if key in raw and raw[key] is not None:
            kwargs[key] = _text(raw[key], path, key_line(raw, key, line), f'{where}.{key}')
    if 'note' in raw:
        _text(raw['note'], path, key_line(raw, 'note', line), f'{where}.note')
    if 'boxes' in raw:
        bline = key_line(raw, 'boxes', line)
        if 'frames' not in raw:
            raise _fail(path, bline, f'{where}.boxes', 'boxes are keyed by frame: give the interval as frames: '
                                                       '[first, last]')
        kwargs['keyframes'] = _boxes(raw['boxes'], kwargs['first'], kwargs['last'], path, bline, f'{where}.boxes')
    return Incident(**kwargs)


def parse_incidents(doc: Any, path: str = '<labels>') -> dict[str, VideoIncidents]:
    """A label document (already parsed: JSON / YAML) as {video name: VideoIncidents}; LabelError otherwise."""
    if not isinstance(doc, dict):
        raise _fail(path, line_of(doc, 1), 'top level', "expected a mapping with 'videos' (format in "
                                                        'docs/EVALUATION.md)')
    _keys(doc, _TOP_KEYS, path, 'top level')
    if 'format' in doc and doc['format'] != FORMAT:
        raise _fail(path, key_line(doc, 'format', 1), 'format', f"expected '{FORMAT}', got "
                                                               f"{limits.excerpt(doc['format'])}")
    videos = doc.get('videos')
    vline = key_line(doc, 'videos', line_of(doc, 1))
    if not isinstance(videos, dict) or not videos:
        raise _fail(path, vline, 'videos', 'expected a mapping {video name: {incidents: [...]}} with at least one '
                                           f'video, got {limits.excerpt(videos)}')
    out: dict[str, VideoIncidents] = {}
    for name, entry in videos.items():
        nline = key_line(videos, name, vline) if isinstance(name, str) else vline
        if not isinstance(name, str) or not name.strip():
            raise _fail(path, nline, 'videos', f'a video name must be a non-empty text, got {limits.excerpt(name)}')
        where = f'videos.{name}'
        if not isinstance(entry, dict) or 'incidents' not in entry:
            raise _fail(path, line_of(entry, nline), where, "expected a mapping with 'incidents': [...] (an empty "
                                                            'list for a video without incidents)')
        _keys(entry, _VIDEO_KEYS, path, where)
        raw = entry['incidents']
        iline = key_line(entry, 'incidents', nline)
        if not isinstance(raw, list):
            raise _fail(path, iline, f'{where}.incidents', f'expected a list, got {limits.excerpt(raw)}')
        incidents = [_incident(item, name, n, path, iline) for n, item in enumerate(raw)]
        ids = [i.id for i in incidents]
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        if twice:
            raise _fail(path, iline, f'{where}.incidents', f"incident id(s) {', '.join(twice)} used twice; ids must "
                                                           'be unique within a video')
        out[str(name)] = VideoIncidents(str(name), tuple(incidents), path)
    return out


def labels_for_input(labels: Mapping[str, VideoIncidents], input_path: str, source: str) -> VideoIncidents:
    """The entry for one input of vad-video: the only video of the file, else the one named like the input
    (file stem or folder name)."""
    if len(labels) == 1:
        return next(iter(labels.values()))
    stem = Path(input_path.rstrip('/')).stem
    if stem in labels:
        return labels[stem]
    raise LabelError(f"incident labels '{source}': {len(labels)} videos ({', '.join(sorted(labels)[:6])}"
                     f"{', ...' if len(labels) > 6 else ''}) and none named '{stem}' like the input; name its entry "
                     f"'{stem}' or give a file with this video only")


# ----------------------------------------------------------------------------------------------- the run

@dataclass(frozen=True)
class Timeline:
    """The frames of a run, 0 .. frames-1, with their stamps (seconds; None where unknown) or a frame rate."""

    frames: int
    stamps: tuple[float | None, ...] | None = None
    fps: float | None = None

    def time(self, frame: int) -> float | None:
        """Seconds of `frame` from the run's first frame (None when unknown)."""
        if self.stamps and 0 <= frame < len(self.stamps) and self.stamps[frame] is not None \
                and self.stamps[0] is not None:
            return float(self.stamps[frame]) - float(self.stamps[0])
        if self.fps:
            return frame / self.fps
        return None

    @property
    def seconds(self) -> float | None:
        """Length of the run: from its first frame to one frame period after its last."""
        known = [s for s in (self.stamps or ()) if s is not None]
        if len(known) >= 2 and known[-1] > known[0]:
            return (known[-1] - known[0]) * len(known) / (len(known) - 1)
        if self.fps:
            return self.frames / self.fps
        return None


def resolve(incident: Incident, timeline: Timeline) -> tuple[int, int] | None:
    """The incident's frames within the run (clipped to it), None when it lies outside the run. A seconds interval
    covers the frames whose time lies in it."""
    if incident.first is not None:
        first, last = incident.first, min(incident.last, timeline.frames - 1)
        return (first, last) if first <= last else None
    times = [timeline.time(f) for f in range(timeline.frames)]
    if timeline.frames and times[0] is None:
        raise LabelError(f"incident '{incident.id}' is given in seconds but the frame times of the run are unknown; "
                         'give it as frames: [first, last]')
    inside = [f for f, t in enumerate(times) if t is not None and incident.start_s - 1e-6 <= t <= incident.end_s + 1e-6]
    return (inside[0], inside[-1]) if inside else None


@dataclass(frozen=True)
class EventRow:
    """What the evaluation needs of an event (from an Event or a line of events.jsonl)."""

    start_frame: int
    end_frame: int
    event_id: int | None = None
    rule_id: str | None = None
    object_class: str | None = None
    track_id: int | None = None


def event_rows(events: Iterable[Event | Mapping[str, Any]], source: str = 'events') -> list[EventRow]:
    """Events (vad_ros.types.Event or rows of events.jsonl) as EventRows; LabelError for a row without frames."""
    rows = []
    for n, e in enumerate(events, 1):
        if isinstance(e, Event):
            rows.append(EventRow(e.start_frame, e.end_frame, e.event_id or None, e.rule_id, e.object_class,
                                 e.track_id))
            continue
        s, f = (e.get('start_frame'), e.get('end_frame')) if isinstance(e, Mapping) else (None, None)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (s, f)) or f < s:
            raise LabelError(f"{source}: line {n}: an event needs start_frame <= end_frame (integers), got "
                             f"{limits.excerpt(e)}; is this a vad-video events.jsonl?")
        rows.append(EventRow(s, f, e.get('event_id') or None, e.get('rule_id'), e.get('object_class'),
                             e.get('track_id')))
    return rows


@dataclass(frozen=True)
class Detection:
    """A detected region: one anomaly box in one frame (a line of anomalies.jsonl)."""

    frame: int
    box: Box
    score: float = 1.0
    event_id: int | None = None


def detections(anomalies: Iterable[Mapping[str, Any]], source: str = 'anomalies') -> list[Detection]:
    """Rows of anomalies.jsonl as Detections; LabelError for a row without frame_index and box."""
    out = []
    for n, a in enumerate(anomalies, 1):
        frame, box = (a.get('frame_index'), a.get('box')) if isinstance(a, Mapping) else (None, None)
        ok = isinstance(frame, int) and not isinstance(frame, bool) and isinstance(box, (list, tuple)) \
            and len(box) == 4 and all(_number(v) for v in box)
        if not ok:
            raise LabelError(f'{source}: line {n}: an anomaly needs frame_index and box [x_min, y_min, x_max, '
                             f'y_max], got {limits.excerpt(a)}; is this a vad-video anomalies.jsonl?')
        score = a.get('score')
        out.append(Detection(frame, tuple(float(v) for v in box), float(score) if _number(score) else 1.0,
                             a.get('event_id') or None))
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (x_min, y_min, x_max, y_max); 0 for empty boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# ----------------------------------------------------------------------------------------------- event metrics

def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def evaluate_events(events: Iterable[Event | Mapping[str, Any]], labels: VideoIncidents, timeline: Timeline,
                    anomalies: Iterable[Mapping[str, Any]] | None = None, match: str = 'auto',
                    iou_min: float = IOU, coverage: float = COVERAGE) -> dict[str, Any]:
    """Event-level metrics of one video's events against its incidents (module docstring); with `anomalies`
    (rows of anomalies.jsonl) also RBDC / TBDC where incidents have boxes. `match`: 'time' (interval overlap
    only), 'space' (also the boxes: incidents without boxes cannot be caught), 'auto' (space where an incident
    has boxes and anomalies are given, time otherwise)."""
    if match not in MATCH_MODES:
        raise ValueError(f'match must be one of {MATCH_MODES}, got {match!r}')
    if match == 'space' and anomalies is None:
        raise ValueError("match='space' needs the anomalies (their boxes say where each event was)")
    rows = event_rows(events, getattr(events, 'path', 'events'))
    dets = detections(anomalies, getattr(anomalies, 'path', 'anomalies')) if anomalies is not None else None
    by_event: dict[int, list[Detection]] = {}
    for d in dets or ():
        if d.event_id is not None:
            by_event.setdefault(d.event_id, []).append(d)
    resolved, outside = [], []
    for inc in labels.incidents:
        span = resolve(inc, timeline)
        (resolved if span else outside).append((inc, span))
    matched_events: set[int] = set()
    per_incident = []
    delays: list[float] = []
    for inc, (first, last) in resolved:
        spatial = match == 'space' or (match == 'auto' and inc.has_boxes and dets is not None)
        hits = []
        for k, e in enumerate(rows):
            if e.start_frame > last or e.end_frame < first:
                continue
            if (inc.object_class and e.object_class != inc.object_class) or (inc.rule_id and e.rule_id != inc.rule_id):
                continue
            if spatial and not _overlaps_in_space(inc, first, last, by_event.get(e.event_id, ()) if e.event_id else (),
                                                  iou_min):
                continue
            hits.append(k)
        matched_events.update(hits)
        entry: dict[str, Any] = {'id': inc.id, 'first_frame': first, 'last_frame': last,
                                 'start_s': timeline.time(first), 'end_s': timeline.time(last),
                                 'object_class': inc.object_class, 'rule_id': inc.rule_id,
                                 'matched_in': 'space' if spatial else 'time', 'caught': bool(hits),
                                 'events': [rows[k].event_id if rows[k].event_id is not None else k for k in hits],
                                 'first_alarm_frame': None, 'first_alarm_delay_s': None}
        if hits:
            alarm = min(rows[k].start_frame for k in hits)
            entry['first_alarm_frame'] = alarm
            t0, t1 = timeline.time(first), timeline.time(max(alarm, first))
            if t0 is not None and t1 is not None:
                entry['first_alarm_delay_s'] = round(max(0.0, t1 - t0), 6)
                delays.append(entry['first_alarm_delay_s'])
        per_incident.append(entry)
    report = _event_summary(len(per_incident), sum(e['caught'] for e in per_incident), len(rows),
                            len(matched_events), delays, timeline.frames, timeline.seconds)
    report.update({'match': match, 'iou': iou_min, 'per_incident': per_incident,
                   'missed': [e['id'] for e in per_incident if not e['caught']],
                   'outside_run': [inc.id for inc, _ in outside]})
    report['regions'] = None
    if dets is not None and any(inc.has_boxes for inc, _ in resolved):
        report['regions'] = region_metrics(region_data(dets, [(inc, span) for inc, span in resolved], timeline.frames,
                                                       iou_min), coverage)
    return report


def _overlaps_in_space(inc: Incident, first: int, last: int, dets: Iterable[Detection], iou_min: float) -> bool:
    for d in dets:
        if first <= d.frame <= last:
            box = inc.box_at(d.frame)
            if box is not None and iou(d.box, box) >= iou_min:
                return True
    return False


def _event_summary(incidents: int, caught: int, events: int, matching: int, delays: list[float], frames: int,
                   seconds: float | None) -> dict[str, Any]:
    hours = seconds / 3600.0 if seconds else None
    false = events - matching
    return {'incidents': incidents, 'caught': caught, 'caught_rate': _ratio(caught, incidents),
            'events': events, 'matching_events': matching, 'events_per_incident': _ratio(matching, caught),
            'false_events': false, 'false_events_per_hour': _ratio(false, hours) if hours else math.nan,
            'alarm_precision': _ratio(matching, events),
            'first_alarm_delay_median_s': float(np.median(delays)) if delays else math.nan,
            'first_alarm_delay_max_s': float(max(delays)) if delays else math.nan,
            'first_alarm_delays_s': list(delays), 'frames': frames, 'seconds': seconds}


# ----------------------------------------------------------------------------------------------- RBDC / TBDC

@dataclass
class RegionData:
    """Per labelled region: its track and the best score among the detections that hit it (IoU >= beta; -inf
    when none); per detection: its score and whether it is a false positive. Pooled over videos by concat()."""

    region_track: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    region_best: np.ndarray = field(default_factory=lambda: np.zeros(0, float))
    det_score: np.ndarray = field(default_factory=lambda: np.zeros(0, float))
    det_false: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    frames: int = 0
    tracks: int = 0

    @staticmethod
    def concat(parts: Sequence['RegionData']) -> 'RegionData':
        offsets = np.cumsum([0] + [p.tracks for p in parts[:-1]]) if parts else []
        tracks = [p.region_track + o for p, o in zip(parts, offsets)]
        return RegionData(np.concatenate(tracks or [np.zeros(0, np.int64)]),
                          np.concatenate([p.region_best for p in parts] or [np.zeros(0)]),
                          np.concatenate([p.det_score for p in parts] or [np.zeros(0)]),
                          np.concatenate([p.det_false for p in parts] or [np.zeros(0, bool)]),
                          sum(p.frames for p in parts), sum(p.tracks for p in parts))


def region_data(dets: Sequence[Detection], incidents: Sequence[tuple[Incident, tuple[int, int]]], frames: int,
                iou_min: float = IOU) -> RegionData:
    """Labelled regions (incidents with boxes, one region per frame of [first, last] within the run) against
    detected regions (`dets`; exact duplicates of a box in one frame, e.g. one object breaking two rules, count
    once), in a run of `frames` frames."""
    truth: dict[int, list[tuple[int, Box]]] = {}
    tracks = 0
    for inc, (first, last) in incidents:
        if not inc.has_boxes:
            continue
        for f in range(first, last + 1):
            truth.setdefault(f, []).append((tracks, inc.box_at(f)))
        tracks += 1
    seen: dict[tuple[int, Box], float] = {}
    for d in dets:
        if 0 <= d.frame < frames:
            key = (d.frame, d.box)
            seen[key] = max(seen.get(key, -math.inf), d.score)
    region_index = {}
    region_track, region_best = [], []
    for f in sorted(truth):
        for track, box in truth[f]:
            region_index[(f, track)] = len(region_track)
            region_track.append(track)
            region_best.append(-math.inf)
    det_score, det_false = [], []
    for (f, box), score in seen.items():
        hit = False
        for track, gt in truth.get(f, ()):
            if iou(box, gt) >= iou_min:
                hit = True
                r = region_index[(f, track)]
                region_best[r] = max(region_best[r], score)
        det_score.append(score)
        det_false.append(not hit)
    return RegionData(np.array(region_track, np.int64), np.array(region_best, float), np.array(det_score, float),
                      np.array(det_false, bool), frames, tracks)


def _track_thresholds(data: RegionData, coverage: float) -> np.ndarray:
    """Per track, the highest threshold at which it is detected: the k-th best of its regions' best scores,
    k = the fewest regions that make `coverage` of it (rounding allowed for); -inf when never detected."""
    out = np.full(data.tracks, -math.inf)
    order = np.argsort(data.region_track, kind='stable')
    tracks, best = data.region_track[order], data.region_best[order]
    bounds = np.searchsorted(tracks, np.arange(data.tracks + 1))
    for t in range(data.tracks):
        scores = np.sort(best[bounds[t]:bounds[t + 1]])[::-1]
        if len(scores):
            k = max(1, math.ceil(coverage * len(scores) - 1e-9))
            out[t] = scores[k - 1]
    return out


def _at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold, how many of the (ascending) values are >= it."""
    return len(sorted_values) - np.searchsorted(sorted_values, thresholds, side='left')


def _area(fpr: list[float], rate: list[float], last_rate: float) -> float:
    """Area under the (false positives per frame, detection rate) curve from 0 to 1, starting at (0, 0) and held
    at `last_rate` after the last point."""
    xs, ys = [0.0] + fpr, [0.0] + rate
    area = 0.0
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 >= 1.0:
            break
        if x1 > 1.0:
            y1, x1 = y0 + (y1 - y0) * (1.0 - x0) / (x1 - x0), 1.0
        area += (x1 - x0) * (y0 + y1) / 2
    if xs[-1] < 1.0:
        area += (1.0 - xs[-1]) * last_rate
    return area


def region_metrics(data: RegionData, coverage: float = COVERAGE) -> dict[str, Any]:
    """RBDC / TBDC at the operating point (every detection) and their areas over a sweep of the detections'
    scores (false positives per frame from 0 to 1; held at the operating point's rate beyond it, a lower bound
    of a full sweep's area since lower thresholds only add detections)."""
    regions, tracks = len(data.region_best), data.tracks
    detected = int(np.sum(np.isfinite(data.region_best)))
    false = int(np.sum(data.det_false))
    track_thresholds = _track_thresholds(data, coverage)
    tracks_hit = int(np.sum(np.isfinite(track_thresholds)))
    report = {'regions': regions, 'regions_detected': detected, 'rbdr': _ratio(detected, regions),
              'tracks': tracks, 'tracks_detected': tracks_hit, 'tbdr': _ratio(tracks_hit, tracks),
              'detections': int(len(data.det_score)), 'false_positive_regions': false,
              'false_positives_per_frame': _ratio(false, data.frames), 'frames': data.frames,
              'rbdc_auc': math.nan, 'tbdc_auc': math.nan, 'coverage': coverage}
    if regions and data.frames:
        thresholds = np.unique(data.det_score)[::-1]                  # each distinct score, high to low
        fpr = _at_least(np.sort(data.det_score[data.det_false]), thresholds) / data.frames
        rbdr = _at_least(np.sort(data.region_best), thresholds) / regions
        tbdr = _at_least(np.sort(track_thresholds), thresholds) / tracks
        report['rbdc_auc'] = _area(fpr.tolist(), rbdr.tolist(), report['rbdr'])
        report['tbdc_auc'] = _area(fpr.tolist(), tbdr.tolist(), report['tbdr'])
    return report


# ----------------------------------------------------------------------------------------------- several videos

def combine(reports: Sequence[dict[str, Any]], regions: Sequence[RegionData] = (), coverage: float = COVERAGE
            ) -> dict[str, Any]:
    """The event-level metrics of several videos pooled: counts summed, delays pooled, rates recomputed; RBDC /
    TBDC from the pooled RegionData of the videos with boxes."""
    seconds = [r['seconds'] for r in reports]
    total_s = sum(seconds) if reports and all(s is not None for s in seconds) else None
    out = _event_summary(sum(r['incidents'] for r in reports), sum(r['caught'] for r in reports),
                         sum(r['events'] for r in reports), sum(r['matching_events'] for r in reports),
                         [d for r in reports for d in r['first_alarm_delays_s']], sum(r['frames'] for r in reports),
                         total_s)
    out['videos'] = len(reports)
    out['regions'] = region_metrics(RegionData.concat(list(regions)), coverage) if regions else None
    return out


# ----------------------------------------------------------------------------------------------- a run's folder

def read_jsonl(path: Path) -> list[dict]:
    rows = []
    try:
        with open(path, encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as e:
                        raise LabelError(f"{path}:{n}: not a JSON line ({e}); the file is damaged: run vad-video "
                                         'again') from None
    except OSError as e:
        raise LabelError(f"cannot read '{path}': {e.strerror or e} (the output folder of a vad-video run)") from None
    return rows


def read_frames_csv(path: Path) -> tuple[Timeline, np.ndarray, np.ndarray]:
    """frames.csv of a run: its Timeline and per frame the decision (bool) and the score."""
    stamps, decisions, scores = [], [], []
    try:
        with open(path, newline='', encoding='utf-8') as f:
            for n, row in enumerate(csv.DictReader(f), 2):
                try:
                    stamps.append(float(row['timestamp']) if row['timestamp'] else None)
                    decisions.append(row['anomalous'] == '1')
                    scores.append(float(row['score']))
                except (KeyError, TypeError, ValueError):
                    raise LabelError(f'{path}:{n}: not a row of a vad-video frames.csv') from None
    except OSError as e:
        raise LabelError(f"cannot read '{path}': {e.strerror or e} (the output folder of a vad-video run)") from None
    return (Timeline(len(stamps), tuple(stamps) if any(s is not None for s in stamps) else None),
            np.array(decisions, bool), np.array(scores, float))


def truth_from_incidents(labels: VideoIncidents, timeline: Timeline) -> np.ndarray:
    """Per frame: inside an incident (the frame-level ground truth the incidents imply)."""
    truth = np.zeros(timeline.frames, bool)
    for inc in labels.incidents:
        span = resolve(inc, timeline)
        if span:
            truth[span[0]:span[1] + 1] = True
    return truth


def evaluate_folder(out_dir: str | os.PathLike, labels: VideoIncidents, match: str = 'auto',
                    fps: float | None = None) -> tuple[dict[str, Any], RegionData | None]:
    """Event-level (and, from the incidents' intervals, frame-level) metrics of a vad-video output folder
    (frames.csv, events.jsonl, anomalies.jsonl); also the RegionData for pooling (None without boxes)."""
    out = Path(out_dir)
    timeline, decisions, scores = read_frames_csv(out / 'frames.csv')
    if fps and timeline.stamps is None:
        timeline = Timeline(timeline.frames, None, fps)
    events = read_jsonl(out / 'events.jsonl')
    anomalies = read_jsonl(out / 'anomalies.jsonl')
    report = evaluate_events(_named(events, out / 'events.jsonl'), labels, timeline,
                             _named(anomalies, out / 'anomalies.jsonl'), match)
    truth = truth_from_incidents(labels, timeline)
    m = frame_metrics.binary_metrics(decisions, truth)
    report['frame_level'] = {'frames': int(len(truth)), 'incident_frames': int(truth.sum()),
                             'accuracy': m['accuracy'], 'recall': m['recall'], 'precision': m['precision'],
                             'f1': m['f1'], 'auc': frame_metrics.roc_auc(scores, truth),
                             'tp': m['tp'], 'fp': m['fp'], 'fn': m['fn'], 'tn': m['tn']}
    report['video'] = labels.name
    report['labels'] = labels.source
    data = None
    if report['regions'] is not None:
        spans = [(inc, resolve(inc, timeline)) for inc in labels.incidents]
        data = region_data(detections(anomalies), [(i, s) for i, s in spans if s], timeline.frames)
    return report, data


def write_evaluation(out_dir: str | os.PathLike, labels: VideoIncidents, match: str = 'auto') -> str:
    """vad-video --labels: score the run in `out_dir` against `labels`, write out_dir/events_eval.json and
    return the summary for stdout."""
    from vad_ros.media.writers import OutputError
    out = Path(out_dir)
    report, _ = evaluate_folder(out, labels, match)
    try:
        with open(out / 'events_eval.json', 'w', encoding='utf-8') as f:
            json.dump(json_safe(report), f, indent=2, allow_nan=False)
    except OSError as e:
        raise OutputError(f"cannot write '{out / 'events_eval.json'}': {e.strerror or e}") from None
    return (f"events vs the incidents of '{labels.source}' (video '{labels.name}', match: {match}):\n"
            f'{format_report(report)}\n-> {out / "events_eval.json"}')


class _named(list):
    """Rows that remember their file, for messages."""

    def __init__(self, rows, path):
        super().__init__(rows)
        self.path = str(path)


# ----------------------------------------------------------------------------------------------- text

def _pct(x: float) -> str:
    return 'n/a' if x is None or (isinstance(x, float) and math.isnan(x)) else f'{100 * x:.1f} %'


def _num(x: float | None, fmt: str = '.2f') -> str:
    return 'n/a' if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def format_report(r: dict[str, Any]) -> str:
    """A few lines for an operator: incidents caught, events per incident, false events, first-alarm delays,
    then the frame level and RBDC / TBDC where present."""
    seconds = f" in {_num(r['seconds'], '.1f')} s" if r.get('seconds') else ''
    lines = [f"incidents caught {r['caught']}/{r['incidents']} ({_pct(r['caught_rate'])}), "
             f"{_num(r['events_per_incident'])} events per caught incident, {r['false_events']} false events of "
             f"{r['events']}{seconds} ({_num(r['false_events_per_hour'], '.1f')} per hour), first alarm after "
             f"median {_num(r['first_alarm_delay_median_s'])} s, max {_num(r['first_alarm_delay_max_s'])} s"]
    if r.get('missed'):
        lines.append(f"missed: {', '.join(r['missed'])}")
    if r.get('outside_run'):
        lines.append(f"not in the frames run: {', '.join(r['outside_run'])}")
    fl = r.get('frame_level')
    if fl:
        lines.append(f"frames vs incidents: accuracy {_pct(fl['accuracy'])}, recall {_pct(fl['recall'])}, "
                     f"precision {_pct(fl['precision'])}, F1 {_pct(fl['f1'])}, AUC {_num(fl['auc'], '.3f')}")
    g = r.get('regions')
    if g:
        lines.append(f"RBDC {g['regions_detected']}/{g['regions']} regions ({_pct(g['rbdr'])}), TBDC "
                     f"{g['tracks_detected']}/{g['tracks']} tracks ({_pct(g['tbdr'])}) at "
                     f"{_num(g['false_positives_per_frame'], '.3f')} false regions per frame; areas to 1 FP/frame: "
                     f"RBDC {_num(g['rbdc_auc'], '.3f')}, TBDC {_num(g['tbdc_auc'], '.3f')}")
    return '\n'.join(lines)


def json_safe(value: Any) -> Any:
    """NaN -> null, numpy scalars -> Python, tuples -> lists (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
