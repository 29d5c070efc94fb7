"""Test sets in their published layouts: each test video as a frame source with frame-level ground truth.

ShanghaiTech Campus (as released; ROOT = the folder holding `testing/`):
    ROOT/testing/frames/<video>/<n>.jpg         frames of each test video (natural order: 0.jpg or 000.jpg ...)
    ROOT/testing/test_frame_mask/<video>.npy    per-frame 0/1 (ROOT/test_frame_mask/ is accepted too)
NWPU Campus (ROOT = the unpacked release folder, or a folder converted to the same per-video form):
    videos:  ROOT/videos/Test/<video>.avi (release)  or  ROOT/test/<video>.avi|.mp4  or  ROOT/test/<video>/<n>.jpg
    labels:  ROOT/test_frame_mask/<video>.npy  or  ROOT/groundtruth/*.npz (release: one 0/1 array per video id)
Label files must hold one 0/1 value per frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vad_ros.media.sources import IMAGE_SUFFIXES, SourceError, natural_key, open_source

DATASETS = ('shanghaitech', 'nwpu')
VIDEO_SUFFIXES = ('.avi', '.mp4', '.mkv', '.mov')
LAYOUTS = {
    'shanghaitech': 'ROOT/testing/frames/<video>/<n>.jpg + ROOT/testing/test_frame_mask/<video>.npy',
    'nwpu': 'ROOT/videos/Test/<video>.avi or ROOT/test/<video>.avi or ROOT/test/<video>/<n>.jpg, '
            '+ ROOT/test_frame_mask/<video>.npy or ROOT/groundtruth/<name>.npz',
}


@dataclass(frozen=True)
class DatasetVideo:
    name: str
    path: str             # frame folder or video file
    labels: np.ndarray    # (frames,) bool, True = anomalous

    @property
    def is_frame_folder(self) -> bool:
        return Path(self.path).is_dir()

    def source(self, fps: float | None = None, start: float | None = None):
        """The frames; `start`: the stamp of the first frame (seconds since 1970 UTC; None = 0)."""
        return open_source(self.path, fps=fps if self.is_frame_folder else None, start=start)


def check_labels(labels, where: str) -> np.ndarray:
    """A (frames,) bool array from per-frame 0/1 labels; SourceError naming `where` otherwise."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        hint = ' (a pixel mask? use the frame-level mask)' if labels.ndim > 1 else ''
        raise SourceError(f"labels {where}: expected one 0/1 value per frame, got shape {labels.shape}{hint}")
    if not np.isin(labels, (0, 1)).all():
        raise SourceError(f'labels {where}: values must be 0 (normal) or 1 (anomalous), got '
                          f'{np.unique(labels)[:6].tolist()}')
    return labels.astype(bool)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return check_labels(np.load(path, allow_pickle=False), f"'{path}'")
    except (OSError, ValueError) as e:
        if isinstance(e, SourceError):
            raise
        raise SourceError(f"cannot read labels '{path}': {e}") from None


class _Labels:
    """Per-video labels from a folder of <video>.npy or from .npz archives keyed by video id."""

    def __init__(self, mask_dir: Path | None, archives: list[Path]):
        self.mask_dir, self.archives = mask_dir, archives
        self._arrays: dict[str, np.ndarray] = {}
        for archive in archives:
            try:
                with np.load(archive, allow_pickle=False) as data:
                    for key in data.files:
                        self._arrays[Path(key).stem if Path(key).suffix in VIDEO_SUFFIXES else key] = data[key]
            except (OSError, ValueError) as e:
                raise SourceError(f"cannot read labels '{archive}': {e}") from None

    def get(self, video: str) -> np.ndarray:
        if self.mask_dir is not None and (self.mask_dir / f'{video}.npy').is_file():
            return _load_npy(self.mask_dir / f'{video}.npy')
        if video in self._arrays:
            return check_labels(self._arrays[video], f"of '{video}' in {', '.join(map(str, self.archives))}")
        where = [str(self.mask_dir / f'{video}.npy')] if self.mask_dir is not None else []
        where += [f"a '{video}' entry in {a}" for a in self.archives]
        raise SourceError(f"no labels for video '{video}': expected {' or '.join(where)}")


def _first_dir(root: Path, candidates: list[str]) -> Path | None:
    return next((root / c for c in candidates if (root / c).is_dir()), None)


def _shanghaitech(root: Path) -> tuple[dict[str, Path], _Labels]:
    frames_dir = root / 'testing' / 'frames'
    if not frames_dir.is_dir():
        raise SourceError(f"'{frames_dir}' does not exist; ShanghaiTech layout: {LAYOUTS['shanghaitech']}")
    masks = _first_dir(root, ['testing/test_frame_mask', 'test_frame_mask'])
    if masks is None:
        raise SourceError(f"no frame masks under '{root}': expected '{root / 'testing' / 'test_frame_mask'}' "
                          f"or '{root / 'test_frame_mask'}'")
    return {p.name: p for p in frames_dir.iterdir() if p.is_dir()}, _Labels(masks, [])


def _nwpu(root: Path) -> tuple[dict[str, Path], _Labels]:
    test_dir = _first_dir(root, ['test', 'Test', 'videos/Test', 'videos/test'])
    if test_dir is None:
        raise SourceError(f"no test videos under '{root}'; NWPU Campus layout: {LAYOUTS['nwpu']}")
    videos: dict[str, Path] = {}
    for p in test_dir.iterdir():
        if p.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir()):
            videos[p.name] = p
        elif p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            videos[p.stem] = p
    masks = _first_dir(root, ['test_frame_mask'])
    gt_dir = _first_dir(root, ['groundtruth', 'ground_truth'])
    archives = sorted(gt_dir.glob('*.npz')) if gt_dir is not None else []
    if masks is None and not archives:
        raise SourceError(f"no labels under '{root}': expected '{root / 'test_frame_mask'}/<video>.npy' or "
                          f"'{root / 'groundtruth'}/*.npz'")
    return videos, _Labels(masks, archives)


def list_videos(dataset: str, root: str | Path, only: list[str] | None = None) -> list[DatasetVideo]:
    """The test videos of `dataset` under `root` (all, in natural order, or those named in `only`) with
    their labels. Raises SourceError naming what is missing and the expected layout."""
    base = Path(root)
    if not base.is_dir():
        raise SourceError(f"dataset root '{root}' is not a folder")
    if dataset == 'shanghaitech':
        entries, labels = _shanghaitech(base)
    elif dataset == 'nwpu':
        entries, labels = _nwpu(base)
    else:
        raise SourceError(f"unknown dataset '{dataset}' ({' or '.join(DATASETS)})")
    names = sorted(entries, key=natural_key) if only is None else list(dict.fromkeys(only))
    unknown = [n for n in names if n not in entries]
    if unknown:
        known = sorted(entries, key=natural_key)
        shown = ', '.join(known[:5]) + (', ...' if len(known) > 5 else '')
        raise SourceError(f"video(s) {', '.join(unknown)} not in {dataset} at '{root}' "
                          f"({len(known)} test videos: {shown or 'none'})")
    if not names:
        raise SourceError(f"no test videos found for {dataset} under '{root}'; layout: {LAYOUTS[dataset]}")
    return [DatasetVideo(name, str(entries[name]), labels.get(name)) for name in names]


def parse_video_list(text: str | None) -> list[str] | None:
    """--videos: a comma-separated list, or a file with one video id per line ('#' starts a comment)."""
    if not text:
        return None
    path = Path(text)
    if path.is_file():
        lines = [ln.split('#')[0].strip() for ln in path.read_text(encoding='utf-8').splitlines()]
        names = [ln for ln in lines if ln]
        if not names:
            raise SourceError(f"video list '{text}' names no video")
        return names
    return [v.strip() for v in text.split(',') if v.strip()]
