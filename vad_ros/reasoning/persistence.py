"""Time: an anomaly is raised once a rule has held for min_frames consecutive frames of one track, and is
an Event from its first to its last anomalous frame; the event ends after grace_frames frames in which the
rule no longer holds. Without tracking every object has track id 0, so persistence then applies per rule
to the frame as a whole (the rule fired on some object in consecutive frames)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from vad_ros.types import Anomaly, Event


@dataclass
class _State:
    consecutive: int = 0     # frames in a row the rule held
    missed: int = 0          # frames in a row it did not, while an event is open
    event: Event | None = None


class Persistence:
    def __init__(self, min_frames: int = 1, grace_frames: int = 0):
        self.min_frames = min_frames
        self.grace_frames = grace_frames
        self._states: dict[tuple[int, str], _State] = {}

    def update(self, frame_index: int, stamp: float | None, candidates: list[tuple[Anomaly, int | None]]
               ) -> tuple[list[Anomaly], list[Event], list[Event]]:
        """candidates: (anomaly, the rule's own min_frames or None) for every rule that holds this frame.
        Returns (anomalies to report, events started, events ended)."""
        groups: dict[tuple[int, str], list[Anomaly]] = {}
        needs: dict[tuple[int, str], int] = {}
        for anomaly, rule_min in candidates:
            key = (anomaly.track_id, anomaly.rule_id)
            groups.setdefault(key, []).append(anomaly)
            needs[key] = rule_min if rule_min is not None else self.min_frames
        reported, started, ended = [], [], []
        for key, group in groups.items():
            state = self._states.setdefault(key, _State())
            state.consecutive += 1
            state.missed = 0
            if state.consecutive < needs[key]:
                continue
            group = [replace(a, duration_frames=state.consecutive) for a in group]
            reported.extend(group)
            top = max(group, key=lambda a: a.score)
            if state.event is None:
                state.event = Event(top.rule_id, top.track_id, top.object_class, top.background_class,
                                    frame_index, frame_index, stamp, stamp, top.score, top.sentence)
                started.append(state.event)
            else:
                e = state.event
                state.event = replace(e, end_frame=frame_index, end_stamp=stamp,
                                      peak_score=max(e.peak_score, top.score),
                                      sentence=top.sentence if top.score > e.peak_score else e.sentence)
        for key in [k for k in self._states if k not in groups]:
            state = self._states[key]
            state.consecutive = 0
            if state.event is None:
                del self._states[key]
                continue
            state.missed += 1
            if state.missed > self.grace_frames:
                ended.append(state.event)
                del self._states[key]
        return reported, started, ended

    def flush(self) -> list[Event]:
        """Close every open event (end of stream)."""
        ended = [s.event for s in self._states.values() if s.event is not None]
        self._states.clear()
        return ended
