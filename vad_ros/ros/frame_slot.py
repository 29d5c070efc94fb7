"""A one-frame mailbox between the image callback and the perception worker: the worker always gets the
newest frame; a frame replaced before the worker took it is counted as dropped."""
from __future__ import annotations

import threading
from typing import Any


class LatestFrameSlot:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            self.received += 1
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float | None = None) -> Any:
        """The newest item (and empties the slot), or None after `timeout` seconds or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class RateMeter:
    """Events per second over a sliding window of wall-clock time."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: list[float] = []
        self._lock = threading.Lock()

    def tick(self, now: float) -> None:
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self, now: float) -> float:
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = now - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        cut = now - self.window_s
        while self._times and self._times[0] < cut:
            self._times.pop(0)
