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
MAX_YAML_CHARS = 4 * MAX_YAML_BYTES   # characters of all scalars, aliases counted as often as they are used

# ---------------------------------------------------------------- rules and scene maps
MAX_RULES = 500                       # rules in one rule file (groups expanded)
MAX_IMAGE_SIDE = 16_384               # a scene map's image_size, per side, in pixels
MAX_POLYGON_VERTICES = 10_000         # vertices of one region / zone / ignore mask
MAX_SCENE_VERTICES = 50_000           # vertices of all shapes of one scene map (3 YAML values each: below
                                      # MAX_YAML_NODES, so that this limit, with its clearer message, applies)
COORDINATE_MARGIN = 1.0               # coordinates may lie this many image sizes outside the image, no further
MAX_GROUND_METRES = 1e7               # calibration ground coordinates, absolute, in metres

# ---------------------------------------------------------------- the scene editor (vad-scene edit)
MAX_EDITOR_BODY_BYTES = 4 * 1024 * 1024   # one save request: a scene document as JSON, about as long as its
                                      # YAML file (MAX_YAML_BYTES), with room to spare; MAX_SCENE_VERTICES
                                      # vertices take ~20 bytes each ("[-1234.5,678.9],")

# ---------------------------------------------------------------- images
# max_image_pixels (a parameter, vad_ros/params.py) bounds every frame; compressed frames are checked on the
# size their header declares, before they are decoded (vad_ros/media/image_codec.py).
MAX_JPEG_HEADER_SEGMENTS = 512        # marker segments walked to find a JPEG's frame header (real files: < 30)

# ---------------------------------------------------------------- messages
EXCERPT_CHARS = 80                    # an input's value as quoted in an error message
MAX_MESSAGE_CHARS = 2_000             # an error message as logged, published or returned (cut beyond)


class _Excerpt(reprlib.Repr):
    """reprlib.Repr that shows subclasses of str, list, dict, ... (the YAML loader's LineStr, LineList,
    LineDict) as their base type (reprlib calls the full repr() of a type it does not know), and a huge int by
    its size (repr() of one over 4300 digits raises ValueError)."""

    def repr1(self, x, level):
        if not hasattr(self, 'repr_' + type(x).__name__.replace(' ', '_')):
            for base in (str, dict, list, tuple, set, frozenset):
                if isinstance(x, base):
                    return getattr(self, 'repr_' + base.__name__)(x, level)
        return super().repr1(x, level)

    def repr_int(self, x, level):
        if x.bit_length() > 4 * self.maxlong:
            return f'<an integer of {x.bit_length()} bits>'
        return super().repr_int(x, level)


_repr = _Excerpt()
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
