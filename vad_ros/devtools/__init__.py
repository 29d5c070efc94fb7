"""Tools for tests and smoke tests, not used at run time (random-weight checkpoints)."""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)  # source folder + colcon install folder, see vad_ros/__init__.py
