"""The scene tools' user errors."""
from __future__ import annotations

from vad_ros.errors import VadError


class SceneToolError(VadError):
    """A scene tool cannot do what was asked; the message names the input or option and the fix."""
