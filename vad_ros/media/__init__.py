"""Frames in and results out, used online and offline: image buffer codec, frame sources, result writers."""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)  # source folder + colcon install folder, see vad_ros/__init__.py
