"""vad_ros: rule-based zero-shot video anomaly detection for ROS 2.

The pure-Python core (perception interface, background vote, rules, tracking, pipeline) works without ROS;
`vad_ros.msg` exists once the package is built with colcon, whose install space holds a second `vad_ros`
folder (generated messages + symlinks to this one). Both folders are merged into one package here.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = '0.1.0'
