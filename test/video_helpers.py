"""Cutting clips out of the sample video for tests."""
from __future__ import annotations

import cv2


def cut(vtest_path, tmp_path, start: int, stop: int) -> str:
    """Frames [start, stop) of vtest.avi as an MJPG .avi in tmp_path; returns its path."""
    cap = cv2.VideoCapture(str(vtest_path))
    path = str(tmp_path / f'cut_{start}_{stop}.avi')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10, (768, 576))
    for i in range(stop):
        ok, frame = cap.read()
        assert ok
        if i >= start:
            writer.write(frame)
    writer.release()
    cap.release()
    return path
