"""A progress line on stderr: a bar on a terminal, a plain line every 10 s otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = self._last = time.monotonic()

    def update(self, done: int, anomalous: int) -> None:
        now = time.monotonic()
        if not self.tty and now - self._last < 10 and done != self.total:
            return
        self._last = now
        fps = done / (now - self.start) if now > self.start else 0.0
        if self.total:
            width = 30
            filled = int(width * done / self.total)
            text = f'[{"#" * filled}{"." * (width - filled)}] {done}/{self.total} frames'
        else:
            text = f'{done} frames'
        text += f', {anomalous} anomalous, {fps:.1f} fps'
        self.stream.write(('\r' + text) if self.tty else text + '\n')
        if self.tty and done == self.total:
            self.stream.write('\n')
        self.stream.flush()
