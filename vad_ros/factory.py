"""Parameters -> a ready Pipeline (detector, segmenter, rules, scene map). Used by the node and offline tools."""
from __future__ import annotations

from typing import Any

from vad_ros.perception.factory import build_detector, build_segmenter
from vad_ros.pipeline import Pipeline


def build_pipeline(params: dict[str, Any]) -> Pipeline:
    """Raises PerceptionError (models), RuleFileError / SceneMapError (files) with a clear message."""
    return Pipeline.from_params(params, build_detector(params), build_segmenter(params))
