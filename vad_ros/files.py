"""Reading the package's small user-written files (params, rule files, scene maps) with errors that name the
file, the line and the fix, raised as the caller's own error type.

YAML is read with a safe loader whose strings, mappings and lists remember their 1-based line (`line_of`,
`key_line`); numbers and booleans do not keep a line of their own. Duplicate keys are an error.
"""
from __future__ import annotations

import os
from typing import Any

import yaml


def read_text(path: str, what: str, fix: str, error: type[Exception]) -> str:
    """The text of `path`; raises `error` "<what> '<path>' does not exist (<fix>)" or "... cannot be read"."""
    if not os.path.isfile(path):
        raise error(f"{what} '{path}' does not exist ({fix})")
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{what} '{path}' cannot be read: {e}") from None


def read_yaml(path: str, what: str, fix: str, error: type[Exception]) -> Any:
    """read_text, then the YAML document with line numbers (parse_yaml); raises `error`
    "<path>:<line>: not valid YAML: ..." too."""
    return parse_yaml(read_text(path, what, fix, error), path, error)


def parse_yaml(text: str, source: str, error: type[Exception]) -> Any:
    """The YAML document of `text` (safe loader, lines kept); `source` names the file in the error."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None) or getattr(e, 'context_mark', None)
        problem = getattr(e, 'problem', None) or str(e)
        raise error(f'{source}:{mark.line + 1 if mark else 1}: not valid YAML: {problem}') from None


def line_of(value: Any, fallback: int = 0) -> int:
    """The line a YAML string, mapping or list came from; `fallback` for other values."""
    return getattr(value, 'line', 0) or fallback


def key_line(mapping: dict, key: str, fallback: int = 0) -> int:
    """Line of `key` in a mapping read by read_yaml/parse_yaml."""
    for k in mapping:
        if k == key:
            return line_of(k, fallback)
    return fallback


class LineStr(str):
    line = 0


class LineDict(dict):
    line = 0


class LineList(list):
    line = 0


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose strings, mappings and lists remember their line (1-based); duplicate keys fail."""


def _construct_str(loader, node):
    s = LineStr(loader.construct_scalar(node))
    s.line = node.start_mark.line + 1
    return s


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f'duplicate key {key!r}', key_node.start_mark)
        seen.add(key)
    d = LineDict(loader.construct_mapping(node, deep=True))
    d.line = node.start_mark.line + 1
    return d


def _construct_seq(loader, node):
    seq = LineList(loader.construct_sequence(node, deep=True))
    seq.line = node.start_mark.line + 1
    return seq


_LineLoader.add_constructor('tag:yaml.org,2002:str', _construct_str)
_LineLoader.add_constructor('tag:yaml.org,2002:map', _construct_map)
_LineLoader.add_constructor('tag:yaml.org,2002:seq', _construct_seq)
