"""Each pixel's most frequent background class over many frames.

Pixels of "thing" classes (person, car, ... : vad_ros.vocabulary.THING_CLASSES) and pixels under
detected objects do not vote: people walk over the road, the road stays. A pixel that never got a vote is
NO_CLASS in the result.
"""
from __future__ import annotations

import numpy as np

from vad_ros.vocabulary import THING_CLASSES
from vad_ros.scene_tools.errors import SceneToolError
from vad_ros.types import NO_CLASS, ClassMap


class BackgroundVote:
    """Accumulates class maps (add) and gives the per-pixel majority (result)."""

    def __init__(self, ignore: frozenset[str] | set[str] = THING_CLASSES):
        self.ignore = frozenset(ignore)
        self.class_names: tuple[str, ...] | None = None
        self.shape: tuple[int, int] | None = None
        self.frames = 0
        self._counts: dict[int, np.ndarray] = {}      # class index -> (H, W) uint16 votes
        self._ignored: np.ndarray | None = None        # lookup: class index -> ignored

    def _start(self, class_map: ClassMap) -> None:
        self.class_names, self.shape = tuple(class_map.class_names), class_map.shape
        ignored = np.ones(int(NO_CLASS) + 1, bool)
        ignored[:len(self.class_names)] = [name.strip() in self.ignore for name in self.class_names]
        self._ignored = ignored

    def add(self, class_map: ClassMap, boxes: np.ndarray | None = None) -> None:
        """One frame's class map; boxes (N, 4) xyxy pixels of detected objects are left out."""
        if self.class_names is None:
            self._start(class_map)
        if class_map.shape != self.shape:
            raise SceneToolError(f'frame {self.frames} is {class_map.shape[1]}x{class_map.shape[0]}, earlier '
                                 f'frames {self.shape[1]}x{self.shape[0]}: the input must keep one image size')
        if tuple(class_map.class_names) != self.class_names:
            raise SceneToolError('the segmenter changed its vocabulary between frames')
        labels = class_map.labels
        voting = ~self._ignored[labels]
        for box in (() if boxes is None else np.asarray(boxes, np.float64)):
            x0, y0 = int(np.floor(max(box[0], 0))), int(np.floor(max(box[1], 0)))
            x1, y1 = int(np.ceil(box[2])) + 1, int(np.ceil(box[3])) + 1
            voting[y0:y1, x0:x1] = False
        for value in np.unique(labels[voting]):
            plane = self._counts.get(int(value))
            if plane is None:
                plane = self._counts[int(value)] = np.zeros(self.shape, np.uint16)
            plane[voting & (labels == value)] += 1
        self.frames += 1

    def result(self) -> ClassMap:
        """The majority class per pixel (ties: the lower class index), NO_CLASS where nothing voted."""
        if self.class_names is None:
            raise SceneToolError('no frame was added to the vote')
        if not self._counts:
            return ClassMap(np.full(self.shape, NO_CLASS, np.uint16), self.class_names)
        values = np.array(sorted(self._counts), np.uint16)
        stack = np.stack([self._counts[int(v)] for v in values])
        best = values[np.argmax(stack, axis=0)]
        best[stack.max(axis=0) == 0] = NO_CLASS
        return ClassMap(best.astype(np.uint16), self.class_names)
