"""Time: anomalies and events per (object, rule), and which object each track is. The one implementation used
by the pipeline (node, `vad-video`) and the recorder.

Persistence (per (object id, rule)):
- A rule that holds for an object is raised as an anomaly once it has held in min_frames consecutive frames
  (the rule's own min_frames, else the default; 1 = the paper: at once) and, when the rule has a
  min_duration, for min_duration seconds of image stamps (from the first frame it held in this episode). The
  first raised frame starts an Event.
- While the rule holds, the anomaly is reported every frame and the event goes on (an 'ongoing' update).
- When the rule stops holding, the event stays open for grace_seconds of image time (from the last frame in
  which its anomaly was reported) in which nothing is reported; if the rule holds again within them, the
  anomaly is reported again at once (no new wait) and the event goes on. After that the event ends; its end
  is the last frame in which the anomaly was reported. Frames without a stamp cannot measure the grace: the
  event then ends at the first frame without the anomaly. grace_frames (deprecated: its time depends on the
  frame rate) counts frames instead, with or without stamps, where it is set (not None).
- Before an event starts: a frame without the rule restarts the count of a min_frames-only rule (a debounce of
  consecutive frames, as before); a dwell (min_duration) timer survives the same grace without the rule (a
  detector that misses a person for a frame must not restart a 30 s loitering timer).
- cooldown: after an event of (object, rule) ends, no new event of that pair starts (and nothing is reported
  for it) until cooldown seconds after the event's last anomalous stamp.
- Anomaly.duration_frames = frames in which the rule has held during the current episode; Anomaly.duration =
  seconds since the episode's first frame; Anomaly.event_id = the event's id.
- Without a stamp (None) a min_duration cannot be reached and cooldowns do not apply.
Object id 0 (no tracking, or a count rule's group) is an object like any other.

Each frame's result lists event snapshots (types.Event) with state 'started', 'ongoing' or 'ended'.

ObjectIdentities (per track, before the rules; see its docstring): the object id of each track, kept when a
new track takes over a lost one close by (re-acquisition: the events, dwell timers, motion and confirmation
of the object go on), and whether the object is confirmed (seen long enough, scored well enough).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

import numpy as np

from vad_ros.types import EVENT_ENDED, EVENT_ONGOING, EVENT_STARTED, Anomaly, DwellTimer, Event

Key = tuple[int, str]          # (object id, rule id)
EPSILON = 1e-6                 # s: stamps are sums of float steps (0.1 + 0.2 > 0.3)
MAX_STAMP_GAP = 10.0           # s: a larger forward jump of the stamps (or any backward step) restarts all timers


class Candidate:
    """An anomaly whose rule holds this frame, with what the rule asks of time. describe(seconds held) -> the
    sentence, called only for the anomalies that are reported. (A plain class with slots: thousands are made
    per second.)"""

    __slots__ = ('anomaly', 'min_frames', 'min_duration', 'cooldown', 'describe')

    def __init__(self, anomaly: Anomaly, min_frames: int | None = None, min_duration: float = 0.0,
                 cooldown: float = 0.0, describe: Callable[[float], str] | None = None):
        self.anomaly = anomaly
        self.min_frames = min_frames              # None: the Persistence's default
        self.min_duration = min_duration          # seconds
        self.cooldown = cooldown                  # seconds
        self.describe = describe


class Step(NamedTuple):
    reported: list[Anomaly]
    events: list[Event]                    # snapshots: started, ongoing, ended

    @property
    def started(self) -> list[Event]:
        return [e for e in self.events if e.state == EVENT_STARTED]

    @property
    def ended(self) -> list[Event]:
        return [e for e in self.events if e.state == EVENT_ENDED]


@dataclass
class _State:
    onset: float | None                    # stamp of the episode's first frame
    held: int = 0                          # frames the rule has held in this episode
    missed: int = 0                        # consecutive frames it has not held
    last: float | None = None              # stamp of the latest frame it held in
    min_duration: float = 0.0
    cooldown: float = 0.0
    event_id: int = 0
    event: Event | None = None


def _copy(value, **changes):
    """dataclasses.replace for the frozen Anomaly and Event without re-running their __init__ (5x faster; the
    hot path with many anomalies per frame)."""
    new = object.__new__(type(value))
    new.__dict__.update(value.__dict__)
    new.__dict__.update(changes)
    return new


def _as_candidate(c) -> Candidate:
    if isinstance(c, Candidate):
        return c
    anomaly, min_frames = c                # the older (anomaly, rule min_frames) pairs
    return Candidate(anomaly, min_frames)


class Persistence:
    def __init__(self, min_frames: int = 1, grace_frames: int | None = None, grace_seconds: float = 0.0):
        """grace_seconds: image time an event (or a dwell timer) outlives its rule; grace_frames (deprecated)
        counts frames instead where it is not None."""
        self.min_frames = min_frames
        self.grace_frames = grace_frames
        self.grace_seconds = grace_seconds
        self._states: dict[Key, _State] = {}
        self._cooldown_until: dict[Key, float] = {}
        self._next_id = 1

    @property
    def open_events(self) -> list[Event]:
        return [s.event for s in self._states.values() if s.event is not None]

    def timers(self, stamp: float | None) -> list[DwellTimer]:
        """The (track, rule) pairs with a min_duration whose episode is running, with seconds held."""
        if stamp is None:
            return []
        return [DwellTimer(key[0], key[1], max(0.0, stamp - s.onset), s.min_duration)
                for key, s in self._states.items() if s.min_duration > 0 and s.onset is not None]

    def step(self, frame_index: int, stamp: float | None, candidates: Iterable[Candidate]) -> Step:
        """candidates: one per anomaly whose rule holds this frame (several of one (track, rule) are allowed:
        all are reported, the best one describes the event). Returns the anomalies to report (candidate
        order) and the event snapshots of this frame."""
        groups: dict[Key, list[Candidate]] = {}
        for c in candidates:
            c = _as_candidate(c)
            groups.setdefault((c.anomaly.track_id, c.anomaly.rule_id), []).append(c)
        reported: list[Anomaly] = []
        events: list[Event] = []
        for key, group in groups.items():
            state = self._state_for(key, group[-1], stamp)
            if state is None:                          # cooling down
                continue
            state.held += 1
            state.missed = 0
            state.last = stamp
            held_s = 0.0 if stamp is None or state.onset is None else max(0.0, stamp - state.onset)
            if state.event is None and not self._ready(state, group[-1], stamp, held_s):
                continue
            if state.event is None:
                state.event_id = self._next_id
                self._next_id += 1
            anomalies = [self._finish(c, state, held_s) for c in group]
            reported.extend(anomalies)
            events.append(self._advance(state, anomalies, frame_index, stamp))
        events.extend(self._age(groups, stamp))
        self._forget_cooldowns(stamp)
        return Step(reported, events)

    def flush(self, end_reason: str = '') -> list[Event]:
        """End every open event (end of stream, or time that jumped: end_reason, one of types.END_*) and forget
        all state, cooldowns included; event ids go on increasing. The events come in event id order: the order
        in which the recorder writes the events still open when it stops, so that its events.jsonl is the same
        whether the node's ended updates reached it first or not (test/launching/test_demo.py)."""
        ended = [_copy(e, state=EVENT_ENDED, end_reason=end_reason)
                 for e in sorted(self.open_events, key=lambda e: e.event_id)]
        self._states.clear()
        self._cooldown_until.clear()
        return ended

    # ---------------------------------------------------------------- helpers
    def _state_for(self, key: Key, c: Candidate, stamp: float | None) -> _State | None:
        state = self._states.get(key)
        if state is not None:
            return state
        until = self._cooldown_until.get(key)
        if until is not None and stamp is not None and stamp < until:
            return None
        state = self._states[key] = _State(stamp, min_duration=c.min_duration, cooldown=c.cooldown)
        return state

    def _ready(self, state: _State, c: Candidate, stamp: float | None, held_s: float) -> bool:
        needed = max(1, c.min_frames if c.min_frames is not None else self.min_frames)
        if state.held < needed:
            return False
        if c.min_duration > 0:
            return stamp is not None and held_s >= c.min_duration - EPSILON
        return True

    @staticmethod
    def _finish(c: Candidate, state: _State, held_s: float) -> Anomaly:
        sentence = c.describe(held_s) if c.describe is not None else c.anomaly.sentence
        return _copy(c.anomaly, duration_frames=state.held, duration=held_s, event_id=state.event_id,
                     sentence=sentence)

    @staticmethod
    def _advance(state: _State, anomalies: list[Anomaly], frame_index: int, stamp: float | None) -> Event:
        if state.event is not None:
            state.event = advance(state.event, anomalies, frame_index, stamp)
            return state.event
        top = max(anomalies, key=lambda a: a.score)
        state.event = Event(top.rule_id, top.track_id, top.object_class, top.background_class, frame_index,
                            frame_index, stamp, stamp, top.score, top.sentence, state.event_id, EVENT_STARTED,
                            top.severity, top.box, state.onset, top.score)
        return state.event

    def _expired(self, state: _State, stamp: float | None) -> bool:
        """Whether the grace of a pair that did not hold this frame has run out."""
        if self.grace_frames is not None:
            return state.missed > self.grace_frames
        if stamp is None or state.last is None:
            return True
        return stamp - state.last > self.grace_seconds + EPSILON

    def _age(self, seen: dict, stamp: float | None) -> list[Event]:
        """Count a missed frame for every pair not seen this frame; returns the events that end."""
        ended = []
        for key in [k for k in self._states if k not in seen]:
            state = self._states[key]
            state.missed += 1
            if state.event is None:
                if state.min_duration <= 0 or self._expired(state, stamp):
                    del self._states[key]
                continue
            if self._expired(state, stamp):
                ended.append(_copy(state.event, state=EVENT_ENDED))
                if state.cooldown > 0 and state.event.end_stamp is not None:
                    self._cooldown_until[key] = state.event.end_stamp + state.cooldown
                del self._states[key]
        return ended

    def _forget_cooldowns(self, stamp: float | None) -> None:
        if stamp is None or not self._cooldown_until:
            return
        for key in [k for k, until in self._cooldown_until.items() if until <= stamp]:
            del self._cooldown_until[key]


def advance(event: Event, anomalies: list[Anomaly], frame_index: int, stamp: float | None) -> Event:
    """The 'ongoing' snapshot of an open event after a frame in which its anomalies (at least one) were
    reported: that frame as its end, the box and score of its best anomaly there; peak score, sentence and
    background of the best frame so far. (Also how the recorder keeps an event current between the updates the
    node publishes, see vad_ros/event_updates.py.)"""
    top = max(anomalies, key=lambda a: a.score)
    better = top.score > event.peak_score
    return _copy(event, end_frame=frame_index, end_stamp=stamp, state=EVENT_ONGOING, box=top.box, score=top.score,
                 peak_score=top.score if better else event.peak_score,
                 sentence=top.sentence if better else event.sentence,
                 background_class=top.background_class if better else event.background_class)


# ---------------------------------------------------------------- objects: re-acquisition and confirmation
KEEP_SECONDS = 10.0            # s of image time a lost object is remembered (its track may come back)
KEEP_FRAMES = 300              # the same in frames, for frames without stamps
SIZE_FACTOR = 2.0              # re-acquisition: box heights within this factor of each other


def _median(rows: np.ndarray) -> np.ndarray:
    """The median of each row (np.median's values, by a partial sort: 20x faster for short rows)."""
    width = rows.shape[1]
    half = width // 2
    if width % 2:
        return np.partition(rows, half, axis=1)[:, half]
    part = np.partition(rows, (half - 1, half), axis=1)
    return (part[:, half - 1] + part[:, half]) / 2


class ObjectIdentities:
    """Which object each track is, and whether that object is confirmed: one update() per frame, right after
    the tracker, with any tracker (it needs only the track ids).

    Object ids: 1, 2, 3, ... in the order objects first appear, never reused (not even after clear()). A
    track seen for the first time continues a lost object (its id, its score history and first sighting, and
    through the id its events, dwell timers, motion and crossings) when that object
    - has the same class,
    - was last seen at most reacquire_seconds of image time before this frame, and is not seen in it,
    - was last seen close by: the distance between the two box centres is at most reacquire_distance x the
      height of its last box, and the two box heights are within a factor of 2;
    new tracks and such lost objects are paired greedily, nearest (distance / height) first; a track that
    pairs with none is a new object. The track of a continued object is retired: if it comes back, it is a
    new track like any other. Without stamps nothing is re-acquired (the gap cannot be measured).

    Confirmation: an object is confirmed in a frame when it has been seen for at least min_seconds of image
    time (since its first detection; not checked without stamps) and the median of its last `window` detector
    scores is at least `score`, where the scores a new object does not have yet count as 0 (so it needs more
    than half of the window at that score). It is judged every frame: an object whose scores sink (a track
    carried on by weak detections, e.g. onto a rock) loses it again.

    A stamp that goes backwards or jumps forward by more than max_stamp_gap forgets every object (a new
    recording; the tracks become new objects). The state is arrays with one row per remembered object; lost
    objects are forgotten after KEEP_SECONDS (KEEP_FRAMES frames without stamps)."""

    def __init__(self, reacquire_seconds: float = 1.0, reacquire_distance: float = 1.0, min_seconds: float = 0.3,
                 score: float = 0.5, window: int = 5, max_stamp_gap: float = MAX_STAMP_GAP):
        self.reacquire_seconds = reacquire_seconds
        self.reacquire_distance = reacquire_distance
        self.min_seconds = min_seconds
        self.score = score
        self.max_stamp_gap = max_stamp_gap
        self._window = int(window)
        self._next_id = 1
        self._clock: float | None = None
        self._forget_all()

    def _forget_all(self) -> None:
        self._order: np.ndarray | None = None         # rows sorted by current track (None: to be sorted again)
        self._id = np.zeros(0, np.int64)              # object id
        self._track = np.zeros(0, np.int64)           # its current track
        self._label = np.zeros(0, np.int64)
        self._box = np.zeros((0, 4))                  # last box
        self._first = np.zeros(0)                     # stamp of the first sighting (nan: none yet)
        self._last = np.zeros(0)                      # stamp of the last sighting (nan: none)
        self._last_frame = np.zeros(0, np.int64)
        self._scores = np.zeros((0, self._window))    # last scores, newest in the last column; 0 = none yet
        self._ever = np.zeros(0, bool)                # confirmed in some frame
        self._seen: np.ndarray = np.zeros(0, np.int64)   # rows seen in the previous update

    @property
    def window(self) -> int:
        return self._window

    @window.setter
    def window(self, value: int) -> None:
        """A new window keeps each object's newest scores."""
        value = int(value)
        if value != self._window:
            kept = min(value, self._window)
            scores = np.zeros((len(self._id), value))
            scores[:, value - kept:] = self._scores[:, self._window - kept:]
            self._scores, self._window = scores, value

    @property
    def count(self) -> int:
        """Objects remembered (seen now or lost recently)."""
        return len(self._id)

    def clear(self) -> None:
        """Forget every object; later objects get new ids (ids are never reused)."""
        self._forget_all()
        self._clock = None

    def update(self, track_ids: np.ndarray, labels: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
               stamp: float | None, frame_index: int) -> tuple[np.ndarray, np.ndarray]:
        """(object id (N,) int64, confirmed (N,) bool) for this frame's tracked detections: distinct track ids
        (N,), class labels (N,), boxes (N, 4) xyxy and scores (N,)."""
        self._check_clock(stamp)
        track_ids = np.asarray(track_ids, np.int64)
        rows = self._rows_of(track_ids)
        new = np.flatnonzero(rows < 0)
        if len(new):
            rows[new] = self._place(new, rows, track_ids, labels, boxes, stamp, frame_index)
        self._box[rows] = boxes
        self._last_frame[rows] = frame_index
        history = self._scores[rows]
        history[:, :-1] = history[:, 1:]
        history[:, -1] = scores
        self._scores[rows] = history
        confirmed = _median(history) >= self.score - EPSILON
        if stamp is not None:
            self._last[rows] = stamp
            first = self._first[rows]
            unset = np.isnan(first)
            if unset.any():
                first[unset] = stamp
                self._first[rows[unset]] = stamp
            if self.min_seconds > 0:
                confirmed &= stamp - first >= self.min_seconds - EPSILON
        if stamp is not None and self.reacquire_seconds > 0:
            handed = self._hand_over(rows, stamp)
            if handed:
                confirmed = _median(self._scores[rows]) >= self.score - EPSILON
                if self.min_seconds > 0:
                    confirmed &= stamp - self._first[rows] >= self.min_seconds - EPSILON
        self._ever[rows[confirmed]] = True
        ids = self._id[rows]
        self._seen = self._id[rows]
        self._forget_lost(stamp, frame_index)
        return ids, confirmed

    # ---------------------------------------------------------------- helpers
    def _rows_of(self, track_ids: np.ndarray) -> np.ndarray:
        """The row whose current track is each id, -1 for none."""
        if self._order is None:
            self._order = np.argsort(self._track, kind='stable')
        tracks = self._track[self._order]
        if not len(tracks):
            return np.full(len(track_ids), -1, np.int64)
        pos = np.minimum(np.searchsorted(tracks, track_ids), len(tracks) - 1)
        return np.where(tracks[pos] == track_ids, self._order[pos], -1)

    def _check_clock(self, stamp: float | None) -> None:
        if stamp is None:
            return
        last, self._clock = self._clock, stamp
        if last is not None and not last <= stamp <= last + self.max_stamp_gap:
            self._forget_all()

    def _place(self, new: np.ndarray, rows: np.ndarray, track_ids: np.ndarray, labels: np.ndarray,
               boxes: np.ndarray, stamp: float | None, frame_index: int) -> np.ndarray:
        """Rows for the new tracks (indices `new` of this frame's detections): lost objects they continue,
        else new rows."""
        taken = self._reacquired(new, rows, labels, boxes, stamp)
        out = np.empty(len(new), np.int64)
        for j, row in taken.items():
            self._track[row] = track_ids[new[j]]            # the old track is retired
            out[j] = row
        self._order = None
        fresh = [j for j in range(len(new)) if j not in taken]
        if fresh:
            k, start = len(fresh), len(self._id)
            picked = new[fresh]
            self._id = np.concatenate([self._id, np.arange(self._next_id, self._next_id + k, dtype=np.int64)])
            self._next_id += k
            self._track = np.concatenate([self._track, track_ids[picked].astype(np.int64)])
            self._label = np.concatenate([self._label, labels[picked].astype(np.int64)])
            self._box = np.concatenate([self._box, boxes[picked]])
            self._first = np.concatenate([self._first, np.full(k, np.nan)])
            self._last = np.concatenate([self._last, np.full(k, np.nan)])
            self._last_frame = np.concatenate([self._last_frame, np.full(k, frame_index, np.int64)])
            self._scores = np.concatenate([self._scores, np.zeros((k, self._window))])
            self._ever = np.concatenate([self._ever, np.zeros(k, bool)])
            out[fresh] = np.arange(start, start + k)
        return out

    def _reacquired(self, new: np.ndarray, rows: np.ndarray, labels: np.ndarray, boxes: np.ndarray,
                    stamp: float | None) -> dict[int, int]:
        """{index into new: row of the lost object it continues}."""
        if stamp is None or self.reacquire_seconds <= 0 or not len(self._id):
            return {}
        present = np.zeros(len(self._id), bool)
        present[rows[rows >= 0]] = True
        with np.errstate(invalid='ignore'):
            gap = stamp - self._last
            lost = np.flatnonzero(~present & (gap > 0) & (gap <= self.reacquire_seconds + EPSILON))
        if not len(lost):
            return {}
        old = self._box[lost]
        old_h = old[:, 3] - old[:, 1]
        old_c = (old[:, :2] + old[:, 2:]) / 2
        pairs = []
        for j, i in enumerate(new.tolist()):
            b = boxes[i]
            h = b[3] - b[1]
            if not h > 0:
                continue
            ok = (self._label[lost] == labels[i]) & (old_h > 0) & (h <= SIZE_FACTOR * old_h) \
                & (old_h <= SIZE_FACTOR * h)
            with np.errstate(divide='ignore', invalid='ignore'):
                distance = np.hypot(old_c[:, 0] - (b[0] + b[2]) / 2, old_c[:, 1] - (b[1] + b[3]) / 2) / old_h
            ok &= distance <= self.reacquire_distance + EPSILON
            pairs.extend((float(distance[k]), j, int(lost[k])) for k in np.flatnonzero(ok).tolist())
        taken: dict[int, int] = {}
        used: set[int] = set()
        for _, j, row in sorted(pairs):
            if j not in taken and row not in used:
                taken[j] = row
                used.add(row)
        return taken

    def _hand_over(self, rows: np.ndarray, stamp: float) -> bool:
        """A split: an object seen in the previous update and lost in this one hands its id (and first sighting)
        to a young object that has never been confirmed (first seen at most reacquire_seconds ago, after the lost
        one and while it was still seen), close by as for re-acquisition: a box around two people whose own
        boxes took over. Nearest first;
        the young object's id is dropped (it cannot have an event yet). Changes `rows`' objects in place;
        returns whether any id was handed over."""
        if not len(self._seen):
            return False
        present = np.zeros(len(self._id), bool)
        present[rows] = True
        lost = np.flatnonzero(np.isin(self._id, self._seen) & ~present)
        if not len(lost):
            return False
        young = rows[(~self._ever[rows]) & (stamp - self._first[rows] <= self.reacquire_seconds + EPSILON)]
        if not len(young):
            return False
        old = self._box[lost]
        old_h = old[:, 3] - old[:, 1]
        old_c = (old[:, :2] + old[:, 2:]) / 2
        pairs = []
        for y in young.tolist():
            b = self._box[y]
            h = b[3] - b[1]
            if not h > 0:
                continue
            ok = (self._label[lost] == self._label[y]) & (old_h > 0) & (h <= SIZE_FACTOR * old_h) \
                & (old_h <= SIZE_FACTOR * h) & (self._first[lost] < self._first[y]) \
                & (self._first[y] <= self._last[lost] + EPSILON)
            with np.errstate(divide='ignore', invalid='ignore'):
                distance = np.hypot(old_c[:, 0] - (b[0] + b[2]) / 2, old_c[:, 1] - (b[1] + b[3]) / 2) / old_h
            ok &= distance <= self.reacquire_distance + EPSILON
            pairs.extend((float(distance[k]), y, int(lost[k])) for k in np.flatnonzero(ok).tolist())
        if not pairs:
            return False
        used_y: set[int] = set()
        used_l: set[int] = set()
        for _, y, row in sorted(pairs):
            if y not in used_y and row not in used_l:
                used_y.add(y)
                used_l.add(row)
                self._id[y], self._first[y] = self._id[row], self._first[row]
                self._last[row] = -np.inf                   # forgotten below (KEEP_SECONDS ago)
                self._last_frame[row] = np.iinfo(np.int64).min // 2
        return True

    def _forget_lost(self, stamp: float | None, frame_index: int) -> None:
        stale = self._last_frame < frame_index - KEEP_FRAMES        # by frames where no stamp says otherwise
        if stamp is not None:
            with np.errstate(invalid='ignore'):
                stale = np.where(np.isnan(self._last), stale, self._last < stamp - KEEP_SECONDS)
        if not stale.any():
            return
        keep = ~stale
        self._id, self._track, self._label = self._id[keep], self._track[keep], self._label[keep]
        self._box, self._first, self._last = self._box[keep], self._first[keep], self._last[keep]
        self._last_frame, self._scores = self._last_frame[keep], self._scores[keep]
        self._ever = self._ever[keep]
        self._order = None
