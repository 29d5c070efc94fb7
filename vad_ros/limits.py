"""Every size limit on what a camera, a file or a client can send the package, in one place, and the one helper
that quotes an input's value in a message (a bounded excerpt, never the whole value).

Whoever reads input checks it against these numbers before spending memory or time on it; the README's
"Limits" section lists them. Changing a limit here changes it everywhere.
"""
from __future__ import annotations

import reprlib

# ---------------------------------------------------------------- YAML files (params, rules, scene maps, labels)
MAX_YAML_BYTES = 2 * 1024 * 1024      # a file larger than this is refused before it is parsed
MAX_YAML_DEPTH = 32                   # nesting of mappings and lists (the deepest real rule file needs ~6)
MAX_YAML_NODES = 200_000              # scalars + collections, aliases counted as often as they are used

# ---------------------------------------------------------------- rules and scene maps
MAX_RULES = 500                       # rules in one rule file (groups expanded)
MAX_IMAGE_SIDE = 16_384               # a scene map's image_size, per side, in pixels
MAX_POLYGON_VERTICES = 10_000         # vertices of one region / zone / ignore mask
MAX_SCENE_VERTICES = 100_000          # vertices of all shapes of one scene map
COORDINATE_MARGIN = 1.0               # coordinates may lie this many image sizes outside the image, no further

# ---------------------------------------------------------------- images
# max_image_pixels (a parameter, vad_ros/params.py) bounds every frame; compressed frames are checked on the
# size their header declares, before they are decoded (vad_ros/media/image_codec.py).

# ---------------------------------------------------------------- messages
EXCERPT_CHARS = 80                    # an input's value as quoted in an error message
MAX_MESSAGE_CHARS = 2_000             # an error message as logged, published or returned (cut beyond)

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxtuple, _repr.maxlist, _repr.maxdict, _repr.maxset = 2, 4, 4, 4, 4
_repr.maxstring, _repr.maxother, _repr.maxlong = EXCERPT_CHARS, EXCERPT_CHARS, EXCERPT_CHARS


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """repr of a value from the input, at most `limit` characters whatever its size or nesting (a YAML alias
    bomb or a 10^6-element list costs no more than a short string)."""
    try:
        text = _repr.repr(value)
    except RecursionError:  # pragma: no cover - reprlib bounds the depth; belt and braces
        text = f'<{type(value).__name__}>'
    return text if len(text) <= limit else text[:max(limit - 3, 0)] + '...'


def bounded_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to `limit` characters (a message that quotes several values stays bounded)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 20] + ' ... (message cut)'
