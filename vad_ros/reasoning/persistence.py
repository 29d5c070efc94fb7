"""Time: anomalies and events per (track, rule).

- A rule that holds for a track is raised as an anomaly once it has held in min_frames consecutive frames
  (the rule's own min_frames, else the default; 1 = the paper: at once). The first raised frame starts an
  Event.
- While the rule holds, the anomaly is reported every frame and the event is extended to that frame.
- When the rule stops holding, the event stays open for grace_frames frames in which nothing is reported;
  if the rule holds again within them, the anomaly is reported again at once (no new min_frames wait) and
  the event goes on. After grace_frames frames without the rule the event ends; its end is the last frame
  in which the anomaly was reported.
- Anomaly.duration_frames = frames in which the rule has held during the current episode (the count towards
  min_frames, continued through grace gaps).
Track id 0 (no tracking) is a track like any other; the pipeline then uses min_frames 1.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from vad_ros.types import Anomaly, Event


@dataclass
class _State:
    held: int = 0            # frames the rule has held in this episode
    missed: int = 0          # consecutive frames it has not held
    event: Event | None = None


class Persistence:
    def __init__(self, min_frames: int = 1, grace_frames: int = 0):
        self.min_frames = min_frames
        self.grace_frames = grace_frames
        self._states: dict[tuple[int, str], _State] = {}

    @property
    def open_events(self) -> list[Event]:
        return [s.event for s in self._states.values() if s.event is not None]

    def update(self, frame_index: int, stamp: float | None, candidates: list[tuple[Anomaly, int | None]]
               ) -> tuple[list[Anomaly], list[Event], list[Event]]:
        """candidates: (anomaly, the rule's own min_frames or None) for every rule that holds this frame
        (several anomalies of one (track, rule) are allowed: all are reported, the best one describes the
        event). Returns (anomalies to report, events started, events ended), in candidate order."""
        groups: dict[tuple[int, str], list[Anomaly]] = {}
        needs: dict[tuple[int, str], int] = {}
        for anomaly, rule_min in candidates:
            key = (anomaly.track_id, anomaly.rule_id)
            groups.setdefault(key, []).append(anomaly)
            needs[key] = max(1, rule_min if rule_min is not None else self.min_frames)
        reported: list[Anomaly] = []
        started: list[Event] = []
        ended: list[Event] = []
        for key, group in groups.items():
            state = self._states.setdefault(key, _State())
            state.held += 1
            state.missed = 0
            if state.event is None and state.held < needs[key]:
                continue
            group = [replace(a, duration_frames=state.held) for a in group]
            reported.extend(group)
            top = max(group, key=lambda a: a.score)
            if state.event is None:
                state.event = Event(top.rule_id, top.track_id, top.object_class, top.background_class,
                                    frame_index, frame_index, stamp, stamp, top.score, top.sentence)
                started.append(state.event)
            else:
                e = state.event
                better = top.score > e.peak_score
                state.event = replace(e, end_frame=frame_index, end_stamp=stamp,
                                      peak_score=top.score if better else e.peak_score,
                                      sentence=top.sentence if better else e.sentence,
                                      background_class=top.background_class if better else e.background_class)
        for key in [k for k in self._states if k not in groups]:
            state = self._states[key]
            if state.event is None:            # building up towards min_frames: interrupted, start again
                del self._states[key]
                continue
            state.missed += 1
            if state.missed > self.grace_frames:
                ended.append(state.event)
                del self._states[key]
        return reported, started, ended

    def flush(self) -> list[Event]:
        """Close every open event (end of stream) and forget all state."""
        ended = self.open_events
        self._states.clear()
        return ended
