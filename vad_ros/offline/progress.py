"""Progress on stderr: a redrawn bar on a terminal, a plain line every `period` seconds otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, label: str = '', stream=None, period: float = 10.0):
        self.total = total if total and total > 0 else None
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, 'isatty', lambda: False)())
        self.period = period
        self.start = time.monotonic()
        self._last = -float('inf') if self.tty else self.start
        self._open_line = False

    def text(self, done: int, anomalous: int, elapsed: float) -> str:
        fps = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            width = 30
            filled = min(width, int(width * done / self.total))
            text = f'[{"#" * filled}{"." * (width - filled)}] {done}/{self.total} frames'
        else:
            text = f'{done} frames'
        text += f', {anomalous} anomalous, {fps:.1f} fps'
        return f'{self.label}: {text}' if self.label else text

    def update(self, done: int, anomalous: int) -> None:
        now = time.monotonic()
        if now - self._last < (0.2 if self.tty else self.period):
            return
        self._last = now
        self._show(self.text(done, anomalous, now - self.start))

    def finish(self, done: int, anomalous: int) -> None:
        """The final state, always shown; ends the terminal line."""
        self._show(self.text(done, anomalous, time.monotonic() - self.start))
        if self._open_line:
            self.stream.write('\n')
            self._open_line = False
        self.stream.flush()

    def _show(self, text: str) -> None:
        if self.tty:
            self.stream.write('\r\x1b[2K' + text)
            self._open_line = True
        else:
            self.stream.write(text + '\n')
        self.stream.flush()
