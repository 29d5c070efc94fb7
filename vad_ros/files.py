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

Where PyYAML has libyaml (yaml.__with_libyaml__), libyaml scans and parses, and the node graph is composed here
from its events with the same bounds, counted at the same events (a file at the caps loads 5-8x faster:
bench/bench_yaml.py). Text that libyaml refuses or may read otherwise than the pure-Python loader is read again
by that loader, the reference: the results and messages are the pure-Python loader's in every case
(test_yaml_limits.py compares them).

Writing (write_atomically): a file the package makes (a scene map, the picture it was drawn on, NanoDet's ONNX
file) goes to a temporary file in the target's folder and is renamed over the target, so a reader never sees
half a file; it keeps the target's permissions, else rw-r--r-- less the umask.
"""
from __future__ import annotations

import gc
import os
import re
import tempfile
from collections.abc import Hashable
from contextlib import contextmanager
from typing import Any, Callable

import yaml
from yaml.events import AliasEvent, MappingEndEvent, ScalarEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

try:
    from yaml._yaml import CParser as _CParser          # PyYAML built with libyaml (yaml.__with_libyaml__)
except ImportError:                                     # pragma: no cover - depends on the PyYAML build
    _CParser = None

from vad_ros import limits
from vad_ros.limits import excerpt


def write_atomically(target: str | os.PathLike, make: Callable[[str], None]) -> None:
    """make(a temporary path in target's folder), then that file renamed to target with target's permissions
    (else rw-r--r-- less the umask; mkstemp makes 0600, which a node run by another user could not read).
    On any failure the temporary file is removed and target is as it was."""
    target = os.fspath(target)
    handle, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(target) + '.', suffix='.tmp',
                                   dir=os.path.dirname(os.path.abspath(target)))
    os.close(handle)
    try:
        make(tmp)
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _mode_for(target: str) -> int:
    """The target's permissions when it exists, else rw-r--r-- less the umask."""
    try:
        return os.stat(target).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o644 & ~umask


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
    try:
        with _gc_paused():
            return _load(text)
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


def _load(text: str) -> Any:
    """The document of `text`, or _Limit / yaml.YAMLError. libyaml (_CLineLoader) reads it where it is
    installed and the text has nothing on which libyaml and the pure-Python reader differ; where libyaml
    refuses the text or meets such a difference while reading, the pure-Python loader (_LineLoader, the
    reference) reads it again and decides, with its own message. Both build the same node graph (same
    lines, same counts at the same events), checked by _check_graph and built by the same constructors."""
    if _CLineLoader is not None and _PYTHON_ONLY.search(text) is None:
        loader = _CLineLoader(text)
        try:
            try:
                node = loader.get_bounded_node()
            except (yaml.YAMLError, _NotForLibyaml):
                pass
            except _Limit:
                if _LIMIT_UNSURE.search(text) is None:
                    raise
            else:
                return _construct(loader, node)
        finally:
            loader.dispose()
    loader = _LineLoader(text)          # refuses special characters already
    try:
        return _construct(loader, loader.get_single_node())
    finally:
        loader.dispose()


def _construct(loader, node) -> Any:
    if node is None:
        return None
    _check_graph(node)
    return loader.construct_document(node)


@contextmanager
def _gc_paused():
    """The cyclic garbage collector paused while a document is read: building 10^5 nodes and objects, all
    alive until the end, otherwise sets off collections that walk them again and again (half the time of a
    1.2 MB rule file on libyaml, a third on the pure-Python loader). The loaders leave no cyclic garbage to
    speak of; the collector runs again as it was (paused by the caller: stays paused) when the text is read."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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

    try:
        measure(root, 0)
    finally:
        measure = None      # noqa: F841 - it refers to itself: free it and `sizes` now, not at the next collection


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


# How YAML writes each typed scalar (the resolver's own patterns): a value tagged explicitly (`!!int`, `!!bool`,
# ...) must be written so, or PyYAML's converters fail inside (IndexError on `!!int ''`, KeyError on `!!bool x`).
_TYPED_SCALARS = {tag: pattern for resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.values()
                  for tag, pattern in resolvers
                  if tag.rpartition(':')[2] in ('bool', 'int', 'float', 'timestamp')}


class _LineConstructor(yaml.constructor.SafeConstructor):
    """SafeConstructor whose strings, mappings and lists remember their line (1-based); duplicate keys fail;
    a value that the converters refuse (int('1' * 5000), 2001-02-30, !!float x, !!bool maybe) is a YAML error at
    its line."""

    def construct_object(self, node, deep=False):
        pattern = _TYPED_SCALARS.get(node.tag)
        if pattern is not None and isinstance(node, yaml.ScalarNode) and not pattern.match(node.value):
            kind = node.tag.rpartition(':')[2]
            raise yaml.constructor.ConstructorError(
                None, None, f'{limits.bounded_message(repr(node.value), 60)} is not a valid !!{kind}', node.start_mark)
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:
            problem = 'cannot read this value: ' + limits.bounded_message(str(e), 160)
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


class _LineLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                  _LineConstructor, yaml.resolver.Resolver):
    """yaml.SafeLoader (pure Python) with _LineConstructor; the nesting and the number of values are bounded
    while composing (before the graph grows)."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _LineConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
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


class _NotForLibyaml(Exception):
    """libyaml read something that the pure-Python scanner reads otherwise: _LineLoader reads the text."""


# Text that libyaml (0.2.5/0.2.6) and the pure-Python scanner may read differently (their sources compared, then
# both fuzzed against each other, test_yaml_limits.py), left to the pure-Python loader: special characters
# (its Reader refuses them before anything else), tabs (libyaml takes them as separators: 'a:\t1'), a byte
# order mark after the start (libyaml skips one at the start of any line), NEL / LS / PS line breaks, and ':'
# before '?' (libyaml ends a plain scalar there in a flow collection). Caught on their events instead
# (_CLineLoader): a plain scalar in a flow collection with a '?' (libyaml: one scalar '[a?b]'; pure Python: a
# key indicator), tags (libyaml ends '!x,]' at the ','), block scalars (libyaml takes '|#' as '|' and a comment).
_PYTHON_ONLY = re.compile('[^\n\r -~\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]|:\\?')


# A bound that libyaml's events exceed is the pure-Python loader's result as well, unless the text has a
# character of the differences that _CLineLoader finds on a later event (a tag, a block scalar, a '?' in a flow
# collection): the pure-Python scanner, looking ahead for a key, may refuse the text on it before that bound.
_LIMIT_UNSURE = re.compile('[?!|>]')


_LIBYAML = (_CParser,) if _CParser is not None else ()


class _CLineLoader(*_LIBYAML, _LineConstructor, yaml.resolver.Resolver):
    """The same loader on libyaml's parser (yaml._yaml.CParser): scanning and parsing run in C; the node graph
    is composed here from libyaml's events with _LineLoader's bounds, counted at the same events."""

    def __init__(self, stream):
        _CParser.__init__(self, stream)
        _LineConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    def get_bounded_node(self):
        """yaml.composer.Composer.get_single_node, without recursion (the Resolver of a SafeLoader has no path
        resolvers, so descend/ascend_resolver do nothing), with _LineLoader.compose_node's two bounds: each
        node event and alias is counted before it is composed, and a mapping or list is refused when
        MAX_YAML_DEPTH are open around it. Raises _Limit, _NotForLibyaml or yaml.YAMLError (any document
        the Composer would refuse, with whatever message: the caller reads the text again in Python)."""
        get, resolve = self.get_event, self.resolve
        max_nodes, max_depth = limits.MAX_YAML_NODES, limits.MAX_YAML_DEPTH
        get()                                           # StreamStartEvent
        event = get()                                   # DocumentStartEvent
        if event.__class__ is StreamEndEvent:
            return None
        anchors = {}
        stack = []                                      # [collection, mapping key waiting for its value]
        count = 0
        while True:
            event = get()
            kind = event.__class__
            if kind is SequenceEndEvent or kind is MappingEndEvent:
                node = stack.pop()[0]
                node.end_mark = event.end_mark
            else:
                count += 1
                if count > max_nodes:
                    raise _nodes_limit(event)
                anchor = event.anchor
                if kind is AliasEvent:
                    node = anchors.get(anchor)
                    if node is None:
                        raise _NotForLibyaml('an undefined alias')
                else:
                    if anchor is not None and anchor in anchors:
                        raise _NotForLibyaml('a duplicate anchor')
                    if event.tag is not None:
                        raise _NotForLibyaml('a tag')
                    if kind is ScalarEvent:
                        value, style = event.value, event.style
                        if not style:                   # plain: libyaml says '', the pure-Python parser None
                            style = None
                            if '?' in value and stack and stack[-1][0].flow_style:
                                raise _NotForLibyaml('a plain scalar in a flow collection with a "?"')
                        elif style == '|' or style == '>':
                            raise _NotForLibyaml('a block scalar')
                        node = ScalarNode(resolve(ScalarNode, value, event.implicit), value, event.start_mark,
                                          event.end_mark, style)
                        if anchor is not None:
                            anchors[anchor] = node
                    else:
                        if len(stack) >= max_depth:
                            raise _depth_limit(event)
                        node_class = SequenceNode if kind is SequenceStartEvent else MappingNode
                        node = node_class(resolve(node_class, None, event.implicit), [], event.start_mark, None,
                                          flow_style=event.flow_style)
                        if anchor is not None:
                            anchors[anchor] = node
                        stack.append([node, None])
                        continue
            if not stack:                               # the root is complete
                break
            top = stack[-1]
            if top[0].__class__ is SequenceNode:
                top[0].value.append(node)
            elif top[1] is None:
                top[1] = node
            else:
                top[0].value.append((top[1], node))
                top[1] = None
        get()                                           # DocumentEndEvent
        if get().__class__ is not StreamEndEvent:
            raise _NotForLibyaml('more than one document')
        return node


if _CParser is None:                                    # pragma: no cover - depends on the PyYAML build
    _CLineLoader = None                                 # noqa: F811


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


_LineConstructor.add_constructor('tag:yaml.org,2002:int', _construct_int)
_LineConstructor.add_constructor('tag:yaml.org,2002:str', _construct_str)
_LineConstructor.add_constructor('tag:yaml.org,2002:map', _construct_map)
_LineConstructor.add_constructor('tag:yaml.org,2002:seq', _construct_seq)
