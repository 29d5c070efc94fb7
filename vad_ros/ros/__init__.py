"""ROS 2 adapters: the nodes, message building, the frame slot and the node life cycle (thin glue around the core)."""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)  # source folder + colcon install folder, see vad_ros/__init__.py
