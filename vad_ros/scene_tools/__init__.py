"""Scene-map tools (`vad-scene`): bootstrap a map from the segmenter, show it over a frame, edit it in a browser."""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)  # source folder + colcon install folder, see vad_ros/__init__.py
