"""pip install of the pure-Python core of vad_ros (no ROS needed).

The ROS 2 package itself builds with ament_cmake (CMakeLists.txt) because it generates its own messages.
This file makes the same vad_ros/ folder installable with pip, for the offline tools (vad-video, vad-eval)
and for use as a library; vad_ros.msg and the nodes need the colcon build (see README.md).
"""
from setuptools import find_packages, setup

setup(
    name='vad_ros',
    version='0.1.0',
    description='Rule-based zero-shot video anomaly detection (object on forbidden background), ROS 2 package core',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['vad_ros', 'vad_ros.*']),
    package_data={'vad_ros': ['data/*', 'scene_tools/web/*']},
    install_requires=['numpy', 'opencv-python-headless<5', 'pyyaml'],
    extras_require={
        'models': ['torch', 'onedl-mmengine', 'onedl-mmcv', 'onedl-mmdetection', 'onedl-mmsegmentation'],
        'onnx': ['onnxruntime'],                 # run exported models (no torch); GPUs: onnxruntime-gpu
        'export': ['onnx'],                      # vad-export, with the 'models' extra
        'offline': ['rosbags', 'matplotlib', 'imageio-ffmpeg'],
        'fast': ['numba'],                      # compiled per-object loops (vad_ros/reasoning/kernels.py)
        'test': ['pytest', 'hypothesis'],
    },
    entry_points={
        'console_scripts': [
            'vad-video = vad_ros.offline.runner:main',
            'vad-eval = vad_ros.offline.evaluate:main',
            'vad-launch = vad_ros.launching.launcher:main',
            'vad-demo = vad_ros.launching.demo:main',
            'vad-export = vad_ros.perception.onnx.export:main',
            'vad-scene = vad_ros.scene_tools.cli:main',
            'vad-check = vad_ros.check:main',
        ],
    },
)
