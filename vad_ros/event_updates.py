"""Which event updates the node publishes on ~/events (pure Python, no ROS).

Every 'started' and 'ended' update goes out. An 'ongoing' update of an open event goes out when at least
`period` seconds of image time (the event's latest anomalous stamp) have passed since the last update of
that event that went out, so that the reliable event stream stays a few messages per event while the
per-frame detail travels on ~/anomalies. period 0, or frames without stamps: every update goes out.
"""
from __future__ import annotations

from vad_ros.types import EVENT_ENDED, EVENT_ONGOING, Event


class EventUpdates:
    def __init__(self, period: float = 1.0):
        self.period = period                         # seconds; may be changed between frames
        self._last_sent: dict[int, float | None] = {}   # open event id -> stamp of its last update sent

    def select(self, events: list[Event]) -> list[Event]:
        """The updates of this frame to publish, in their order."""
        out = []
        for e in events:
            if e.state == EVENT_ONGOING and self.period > 0 and e.end_stamp is not None:
                last = self._last_sent.get(e.event_id)
                if last is not None and e.end_stamp - last < self.period:
                    continue
            if e.state == EVENT_ENDED:
                self._last_sent.pop(e.event_id, None)
            else:
                self._last_sent[e.event_id] = e.end_stamp
            out.append(e)
        return out

    def clear(self) -> None:
        """Forget the open events (after their ended updates went out, or a restart of the pipeline)."""
        self._last_sent.clear()
