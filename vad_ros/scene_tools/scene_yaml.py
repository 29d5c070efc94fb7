"""Writing scene-map files, checked by the node's own loader before they replace anything.

A scene document is the YAML mapping (image_size, regions and whatever else the format has); it is
written with point lists in flow style ([[x, y], ...]), keys in their order, an optional comment on top,
and saved atomically (a temporary file in the same folder, loaded with vad_ros.reasoning.scene_map's
load_scene_map, then renamed over the target), so that a node watching the file never sees half of it.
"""
from __future__ import annotations

import difflib
import os
import tempfile
from typing import Any, Iterable

import numpy as np
import yaml

from vad_ros.files import write_atomically
from vad_ros.reasoning.scene_map import SceneMap, SceneMapError, load_scene_map
from vad_ros.scene_tools.errors import SceneToolError
from vad_ros.scene_tools.geometry import crossing_edges


class SceneEditError(SceneToolError):
    """A scene document is refused; the message names the entry and what to change."""


def number(value: float) -> int | float:
    """A coordinate for the file: an int when whole, else rounded to 0.1 px."""
    value = float(value)
    return int(round(value)) if abs(value - round(value)) < 1e-6 else round(value, 1)


def points(polygon) -> list[list[int | float]]:
    return [[number(x), number(y)] for x, y in np.asarray(polygon, dtype=np.float64)]


def regions_document(image_size: tuple[int, int], regions: Iterable[tuple[str, np.ndarray]]) -> dict[str, Any]:
    return {'image_size': [int(image_size[0]), int(image_size[1])],
            'regions': [{'label': label, 'polygon': points(polygon)} for label, polygon in regions]}


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)     # '  - label: ...' under 'regions:'


def _represent_list(dumper: yaml.SafeDumper, data: list):
    flat = all(not isinstance(v, (dict, list)) for v in data)
    pairs = all(isinstance(v, list) and all(not isinstance(u, (dict, list)) for u in v) for v in data)
    return dumper.represent_sequence('tag:yaml.org,2002:seq', data, flow_style=bool(data) and (flat or pairs))


_Dumper.add_representer(list, _represent_list)


def dump(document: dict[str, Any], comment: str = '') -> str:
    """YAML text of a scene document, `comment` (any number of lines) as '# ' lines on top."""
    header = ''.join(f'# {line}'.rstrip() + '\n' for line in comment.splitlines()) if comment else ''
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 20)
    return header + body


def leading_comment(text: str) -> str:
    """The '#' lines at the top of a file, without the '# ' (kept when the editor saves over it)."""
    lines = []
    for line in text.splitlines():
        if not line.startswith('#'):
            break
        lines.append(line[2:] if line.startswith('# ') else line[1:])
    return '\n'.join(lines)


def _suggest(name: str, vocabulary: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(vocabulary), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ''


def _crossing_error(where: str, polygon) -> None:
    crossing = crossing_edges(polygon)
    if crossing is not None:
        a, b = crossing
        n = len(polygon)
        raise SceneEditError(f"{where}: the polygon crosses itself (edge {a}-{(a + 1) % n} crosses edge "
                             f"{b}-{(b + 1) % n}); move or delete vertices so that the outline does not cross")


def check_regions(scene: SceneMap, vocabulary: Iterable[str] | None = None) -> None:
    """What the loader lets through but an editor should not: a polygon (region, zone, ignore mask) that
    crosses itself, and (with a vocabulary) a region label that no model knows."""
    known = None if vocabulary is None else {v.strip() for v in vocabulary}
    for i, (label, polygon) in enumerate(scene.regions):
        _crossing_error(f"region {i} ('{label}')", polygon)
        if known is not None and label not in known:
            raise SceneEditError(f"region {i}: unknown label '{label}'{_suggest(label, known)}; pick a class of "
                                 "the models' vocabularies (or start the editor with --labels to add one)")
    for what, key in (('zone', 'zones'), ('ignore mask', 'ignore')):
        for i, place in enumerate(getattr(scene, key, None) or ()):
            _crossing_error(f"{what} {i} ('{place.name}')", place.polygon)


def validate_text(text: str, target: str | os.PathLike, vocabulary: Iterable[str] | None = None) -> SceneMap:
    """The SceneMap that the node would load from `text` saved as `target`; raises SceneMapError (the
    loader's own message, naming `target`) or SceneEditError."""
    folder = os.path.dirname(os.path.abspath(target)) or '.'
    fd, temp = tempfile.mkstemp(prefix='.scene-', suffix='.yaml', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(text)
        scene = _load_as(temp, str(target))
        check_regions(scene, vocabulary)
        return scene
    finally:
        os.unlink(temp)


def _load_as(path: str, shown: str) -> SceneMap:
    try:
        scene = load_scene_map(path)
    except SceneMapError as e:
        raise SceneMapError(str(e).replace(path, shown)) from None
    scene.source = shown
    return scene


def save(document: dict[str, Any], target: str | os.PathLike, comment: str = '',
         vocabulary: Iterable[str] | None = None) -> SceneMap:
    """Write `document` to `target` if the node's loader accepts it (and check_regions with vocabulary);
    atomic: the old file stays when anything is refused."""
    text = dump(document, comment)
    scene = validate_text(text, target, vocabulary)

    def write(path: str) -> None:
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
    try:
        write_atomically(target, write)
    except OSError as e:
        raise SceneToolError(f"cannot write scene map '{target}': {e}") from None
    return scene
