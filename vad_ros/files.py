"""Reading the package's small user-written files (params, rule files, scene maps) with errors that name the
file, the line and the fix, raised as the caller's own error type.

YAML is read with a safe loader whose strings, mappings and lists remember their 1-based line (`line_of`,
`key_line`); numbers and booleans do not keep a line of their own. Duplicate keys are an error.

Every file and text is bounded before it costs memory or time (vad_ros.limits): its size in bytes
(MAX_YAML_BYTES, checked before the file is read), and, on the composed node graph before any Python object
is built, the nesting of mappings and lists (MAX_YAML_DEPTH), the number of values (MAX_YAML_NODES) and the
characters of all scalars (MAX_YAML_CHARS), aliases counted each time they are used (memoised per node, so
that a "billion laughs" document is measured in linear time). Whatever the text, the caller gets its own error
type with the file and line, never RecursionError, MemoryError or a converter's ValueError.
"""
from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode

from vad_ros import limits
from vad_ros.limits import excerpt


def read_text(path: str, what: str, fix: str, error: type[Exception], max_bytes: int | None = None) -> str:
    """The text of `path`; raises `error` "<what> '<path>' does not exist (<fix>)", "... cannot be read" or
    "... is <n> bytes, more than ..." (max_bytes, default limits.MAX_YAML_BYTES: checked before the file is
    read, and at most max_bytes + 1 bytes are read)."""
    max_bytes = limits.MAX_YAML_BYTES if max_bytes is None else max_bytes
    if not os.path.isfile(path):
        raise error(f"{what} '{path}' does not exist ({fix})")
    try:
        with open(path, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            if size <= max_bytes:
                data = f.read(max_bytes + 1)       # the file may have grown since fstat
                size = len(data)
        if size > max_bytes:
            raise error(_too_large(f"{what} '{path}'", size, max_bytes))
        text = data.decode('utf-8')
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{what} '{path}' cannot be read: {limits.bounded_message(str(e), 300)}") from None
    return text.replace('\r\n', '\n').replace('\r', '\n')    # as open(..., 'r') reads it


def read_yaml(path: str, what: str, fix: str, error: type[Exception]) -> Any:
    """read_text, then the YAML document with line numbers (parse_yaml); raises `error`
    "<path>:<line>: not valid YAML: ..." or "<path>:<line>: <limit> ..." too."""
    return parse_yaml(read_text(path, what, fix, error), path, error)


def parse_yaml(text: str, source: str, error: type[Exception]) -> Any:
    """The YAML document of `text` (safe loader, lines kept, the limits above checked before anything is
    built); `source` names the file in the error. For text from any party (a file, a browser, a parameter)."""
    size = len(text)                # characters; utf-8 takes 1 to 4 bytes for each
    if 4 * size > limits.MAX_YAML_BYTES:
        if size <= limits.MAX_YAML_BYTES:
            size = len(text.encode('utf-8', 'surrogatepass'))
        if size > limits.MAX_YAML_BYTES:
            raise error(_too_large(f"'{source}'", size, limits.MAX_YAML_BYTES))
    loader = None
    try:
        loader = _LineLoader(text)          # refuses special characters already
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return loader.construct_document(node)
    except _Limit as e:
        raise error(f'{source}:{e.line}: {e.message}') from None
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None) or getattr(e, 'context_mark', None)
        problem = getattr(e, 'problem', None) or str(e)
        context, context_mark = getattr(e, 'context', None), getattr(e, 'context_mark', None)
        if context and getattr(e, 'problem', None):          # e.g. "while parsing a flow sequence", line 3
            problem += f" ({context}{f' at line {context_mark.line + 1}' if context_mark else ''})"
        line = mark.line + 1 if mark else 1
        raise error(f'{source}:{line}: not valid YAML: {limits.bounded_message(problem, 300)}') from None
    except RecursionError:      # not expected below MAX_YAML_DEPTH; the caller's stack may be deep already
        raise error(f'{source}:1: nested too deeply to be read; write it flatter') from None
    except MemoryError:
        raise error(f'{source}:1: too large to be read (out of memory); shorten it') from None
    finally:
        if loader is not None:
            loader.dispose()


def _too_large(what: str, size: int, limit: int) -> str:
    name = ' (vad_ros.limits.MAX_YAML_BYTES)' if limit == limits.MAX_YAML_BYTES else ''
    return (f'{what} is {size} bytes, more than the {limit} bytes{name} a YAML file may have; shorten it (a '
            f'params, rule or scene-map file is a few KB; simplify polygons)')


class _Limit(Exception):
    """A limit is exceeded at `line` (raised by the loader; parse_yaml turns it into the caller's error)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


def _depth_limit(node) -> _Limit:
    return _Limit(node.start_mark.line + 1,
                  f'mappings and lists nested more than {limits.MAX_YAML_DEPTH} deep (vad_ros.limits.MAX_YAML_DEPTH,'
                  f' aliases included); write it flatter (params, rule and scene-map files need a few levels)')


def _nodes_limit(node) -> _Limit:
    return _Limit(node.start_mark.line + 1,
                  f'more than {limits.MAX_YAML_NODES} values (vad_ros.limits.MAX_YAML_NODES; an alias counts each '
                  f'time it is used); shorten it (fewer rules, simpler polygons, no alias chains)')


def _chars_limit(node) -> _Limit:
    return _Limit(node.start_mark.line + 1,
                  f'more than {limits.MAX_YAML_CHARS} characters of text (vad_ros.limits.MAX_YAML_CHARS; an alias '
                  f'counts each time it is used); shorten it (no aliases of long strings)')


def _check_graph(root) -> None:
    """Raise _Limit when the document `root` (a composed node graph) would build more than the limits allow,
    aliases expanded, or when an alias refers to a collection that contains it. Each node is measured once
    (memoised), and the walk never goes deeper than MAX_YAML_DEPTH + 1 calls."""
    sizes: dict[int, tuple[int, int, int]] = {}     # id(node) -> (height, values, characters) expanded
    open_nodes: set[int] = set()

    def measure(node, depth: int) -> tuple[int, int, int]:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if isinstance(node, ScalarNode):
            known = sizes[key] = (0, 1, len(node.value))
            return known
        if key in open_nodes:
            raise _Limit(node.start_mark.line + 1, 'an alias refers to a mapping or list that contains it; '
                                                   'YAML read here must be a tree: copy the values instead')
        if depth >= limits.MAX_YAML_DEPTH:
            raise _depth_limit(node)
        open_nodes.add(key)
        height, values, chars = 0, 1, 0
        children = (n for pair in node.value for n in pair) if isinstance(node, MappingNode) else node.value
        for child in children:
            h, n, c = measure(child, depth + 1)
            height, values, chars = max(height, h), values + n, chars + c
            if depth + 1 + height > limits.MAX_YAML_DEPTH:
                raise _depth_limit(node)
            if values > limits.MAX_YAML_NODES:
                raise _nodes_limit(node)
            if chars > limits.MAX_YAML_CHARS:
                raise _chars_limit(node)
        open_nodes.discard(key)
        known = sizes[key] = (height + 1, values, chars)
        return known

    measure(root, 0)


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
    """SafeLoader whose strings, mappings and lists remember their line (1-based); duplicate keys fail; the
    nesting and the number of values are bounded while composing (before the graph grows), and a value that
    the converters refuse (int('1' * 5000), 2001-02-30, !!float x) is a YAML error at its line."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0          # collections open around the node being composed
        self._nodes = 0          # nodes composed so far, each alias once

    def compose_node(self, parent, index):
        self._nodes += 1
        if self._nodes > limits.MAX_YAML_NODES:
            raise _nodes_limit(self.peek_event())
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= limits.MAX_YAML_DEPTH:
            raise _depth_limit(self.peek_event())
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:
            problem = 'cannot read this value: ' + limits.bounded_message(str(e), 160)
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def _construct_int(loader, node):
    value = yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    if value.bit_length() > _MAX_INT_BITS:       # str() and repr() of it would raise ValueError
        raise yaml.constructor.ConstructorError(None, None, f'an integer of more than {_MAX_INT_DIGITS} digits',
                                                node.start_mark)
    return value


_MAX_INT_DIGITS = 4000
_MAX_INT_BITS = int(_MAX_INT_DIGITS * 3.32)     # log2(10) bits per digit, rounded down


def _construct_str(loader, node):
    s = LineStr(loader.construct_scalar(node))
    s.line = node.start_mark.line + 1
    return s


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(None, None, 'a mapping or list cannot be a key',
                                                    key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f'duplicate key {excerpt(key)}',
                                                    key_node.start_mark)
        seen.add(key)
    d = LineDict(loader.construct_mapping(node, deep=True))
    d.line = node.start_mark.line + 1
    return d


def _construct_seq(loader, node):
    seq = LineList(loader.construct_sequence(node, deep=True))
    seq.line = node.start_mark.line + 1
    return seq


_LineLoader.add_constructor('tag:yaml.org,2002:int', _construct_int)
_LineLoader.add_constructor('tag:yaml.org,2002:str', _construct_str)
_LineLoader.add_constructor('tag:yaml.org,2002:map', _construct_map)
_LineLoader.add_constructor('tag:yaml.org,2002:seq', _construct_seq)
