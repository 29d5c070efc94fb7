"""Where the package's shared files (config/, launch/) are: the ament install space, else this checkout."""
from __future__ import annotations

from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """share/vad_ros of the sourced install space, or the repository root when running from a checkout."""
    try:
        from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
        try:
            return Path(get_package_share_directory('vad_ros'))
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    return SOURCE_ROOT

