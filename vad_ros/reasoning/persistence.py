"""Time: anomalies and events per (track, rule). The one implementation used by the pipeline (node,
`vad-video`) and the recorder.

- A rule that holds for a track is raised as an anomaly once it has held in min_frames consecutive frames
  (the rule's own min_frames, else the default; 1 = the paper: at once) and, when the rule has a
  min_duration, for min_duration seconds of image stamps (from the first frame it held in this episode). The
  first raised frame starts an Event.
- While the rule holds, the anomaly is reported every frame and the event goes on (an 'ongoing' update).
- When the rule stops holding, the event stays open for grace_frames frames in which nothing is reported;
  if the rule holds again within them, the anomaly is reported again at once (no new wait) and the event
  goes on. After grace_frames frames without the rule the event ends; its end is the last frame in which the
  anomaly was reported.
- Before an event starts: a frame without the rule restarts the count of a min_frames-only rule (a debounce of
  consecutive frames, as before); a dwell (min_duration) timer survives up to grace_frames frames without the
  rule (a detector that misses a person for a frame must not restart a 30 s loitering timer).
- cooldown: after an event of (track, rule) ends, no new event of that pair starts (and nothing is reported
  for it) until cooldown seconds after the event's last anomalous stamp.
- Anomaly.duration_frames = frames in which the rule has held during the current episode; Anomaly.duration =
  seconds since the episode's first frame; Anomaly.event_id = the event's id.
- Without a stamp (None) a min_duration cannot be reached and cooldowns do not apply.
Track id 0 (no tracking, or a count rule's group) is a track like any other.

Each frame's result lists event snapshots (types.Event) with state 'started', 'ongoing' or 'ended'.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

from vad_ros.types import EVENT_ENDED, EVENT_ONGOING, EVENT_STARTED, Anomaly, DwellTimer, Event

Key = tuple[int, str]          # (track id, rule id)


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
    def __init__(self, min_frames: int = 1, grace_frames: int = 0):
        self.min_frames = min_frames
        self.grace_frames = grace_frames
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
            held_s = 0.0 if stamp is None or state.onset is None else max(0.0, stamp - state.onset)
            if state.event is None and not self._ready(state, group[-1], stamp, held_s):
                continue
            if state.event is None:
                state.event_id = self._next_id
                self._next_id += 1
            anomalies = [self._finish(c, state, held_s) for c in group]
            reported.extend(anomalies)
            events.append(self._advance(state, anomalies, frame_index, stamp))
        events.extend(self._age(groups))
        self._forget_cooldowns(stamp)
        return Step(reported, events)

    def flush(self) -> list[Event]:
        """End every open event (end of stream, or time that jumped) and forget all state, cooldowns included;
        event ids go on increasing."""
        ended = [_copy(e, state=EVENT_ENDED) for e in self.open_events]
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
            return stamp is not None and held_s >= c.min_duration
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

    def _age(self, seen: dict) -> list[Event]:
        """Count a missed frame for every pair not seen this frame; returns the events that end."""
        ended = []
        for key in [k for k in self._states if k not in seen]:
            state = self._states[key]
            state.missed += 1
            if state.event is None:
                if state.min_duration <= 0 or state.missed > self.grace_frames:
                    del self._states[key]
                continue
            if state.missed > self.grace_frames:
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
