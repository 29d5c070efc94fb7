"""Test sets in their standard layouts: videos as frame sources with frame-level ground truth.

ShanghaiTech Campus (as released):
    ROOT/testing/frames/<video>/<n>.jpg           frames, natural order (0.jpg ... or 000.jpg ...)
    ROOT/testing/test_frame_mask/<video>.npy      one 0/1 per frame (ROOT/test_frame_mask/ is accepted too)
NWPU Campus (frame-level labels converted to the same form):
    ROOT/test/<video>/<n>.jpg  or  ROOT/test/<video>.avi|.mp4
    ROOT/test_frame_mask/<video>.npy              one 0/1 per frame
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vad_ros.offline.sources import SourceError, open_source

VIDEO_SUFFIXES = ('.avi', '.mp4', '.mkv', '.mov')


@dataclass(frozen=True)
class DatasetVideo:
    name: str
    path: str             # frame folder or video file
    labels: np.ndarray    # (frames,) bool

    def source(self, fps: float | None = None):
        return open_source(self.path, fps=fps)


def _labels(path: Path) -> np.ndarray:
    try:
        labels = np.load(path)
    except (OSError, ValueError) as e:
        raise SourceError(f"cannot read labels '{path}': {e}") from None
    return np.asarray(labels).reshape(-1).astype(bool)


def _mask_dir(root: Path, candidates: list[str]) -> Path:
    for c in candidates:
        if (root / c).is_dir():
            return root / c
    raise SourceError(f"no frame masks under '{root}': expected {' or '.join(str(root / c) for c in candidates)}")


def list_videos(dataset: str, root: str, only: list[str] | None = None) -> list[DatasetVideo]:
    base = Path(root)
    if dataset == 'shanghaitech':
        frames_dir = base / 'testing' / 'frames'
        masks = _mask_dir(base, ['testing/test_frame_mask', 'test_frame_mask'])
        if not frames_dir.is_dir():
            raise SourceError(f"'{frames_dir}' does not exist: ShanghaiTech layout is "
                              'ROOT/testing/frames/<video>/<n>.jpg + ROOT/testing/test_frame_mask/<video>.npy')
        entries = {p.name: p for p in frames_dir.iterdir() if p.is_dir()}
    elif dataset == 'nwpu':
        test_dir = base / 'test'
        masks = _mask_dir(base, ['test_frame_mask'])
        if not test_dir.is_dir():
            raise SourceError(f"'{test_dir}' does not exist: NWPU Campus layout is ROOT/test/<video>/ or "
                              'ROOT/test/<video>.avi + ROOT/test_frame_mask/<video>.npy')
        entries = {}
        for p in test_dir.iterdir():
            if p.is_dir():
                entries[p.name] = p
            elif p.suffix.lower() in VIDEO_SUFFIXES:
                entries[p.stem] = p
    else:
        raise SourceError(f"unknown dataset '{dataset}' (shanghaitech or nwpu)")
    names = sorted(entries) if only is None else only
    unknown = [n for n in names if n not in entries]
    if unknown:
        raise SourceError(f"video(s) {', '.join(unknown)} not in {dataset} at '{root}'")
    videos = []
    for name in names:
        mask = masks / f'{name}.npy'
        if not mask.is_file():
            raise SourceError(f"no labels for video '{name}': expected '{mask}'")
        videos.append(DatasetVideo(name, str(entries[name]), _labels(mask)))
    if not videos:
        raise SourceError(f"no test videos found for {dataset} under '{root}'")
    return videos


def parse_video_list(text: str | None) -> list[str] | None:
    """--videos: a comma-separated list, or a file with one video id per line (# comments)."""
    if not text:
        return None
    path = Path(text)
    if path.is_file():
        lines = [ln.split('#')[0].strip() for ln in path.read_text().splitlines()]
        return [ln for ln in lines if ln]
    return [v.strip() for v in text.split(',') if v.strip()]
