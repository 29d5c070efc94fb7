"""Starting graphs: one graph description shared by the launch files, vad-launch and vad-demo."""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)  # source folder + colcon install folder, see vad_ros/__init__.py
