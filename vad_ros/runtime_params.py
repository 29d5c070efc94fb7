"""The parameter values in force, checked, with a version that goes up on every change (pure Python, no ROS).

One object holds what the node, its cameras and their pipelines read, so nothing is copied and kept in step by
hand:
- the node holds the root (every parameter of vad_ros/params.py, checked); the parameter API calls update();
- each camera reads a child (`child(own)`): the root's values with the camera's own files pinned (a named
  camera's rules_file / scene_map_file); a root update reaches every child, pinned names aside;
- a pipeline reads a child of its camera's object (or a root made from a dict) and, before each frame, compares
  `version` with the version it last applied and re-derives what depends on the values (Pipeline.sync): no
  caller has to tell it that something changed.
Writers and readers may be on different threads (the parameter API, the file watcher, the worker): a reader
takes `changes_since(v)`, one consistent (version, values, names set since v) triple.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

from vad_ros import params as vparams


class RuntimeParams(Mapping):
    """Checked parameter values (a read-only mapping) with a version; see the module doc."""

    def __init__(self, values: Mapping[str, Any] | None = None, *, _parent: 'RuntimeParams | None' = None,
                 _pinned: Mapping[str, Any] | None = None):
        """values: a full or partial params mapping (dotted names); missing = defaults; each value is checked
        (ParamError names the parameter and the fix)."""
        self._lock = _parent._lock if _parent is not None else threading.RLock()   # one lock per family
        self._parent = _parent            # kept alive by its children (a parent holds them weakly)
        self._pinned = dict(_pinned or {})
        base = dict(_parent._values) if _parent is not None else vparams.resolve(dict(values or {}))
        self._values = {**base, **{k: vparams.check_value(k, v) for k, v in self._pinned.items()}}
        self._version = 0
        self._set_at: dict[str, int] = {}          # name -> the version at which it was last set
        self._children: weakref.WeakSet[RuntimeParams] = weakref.WeakSet()
        if _parent is not None:
            _parent._children.add(self)

    def child(self, pinned: Mapping[str, Any] | None = None) -> 'RuntimeParams':
        """A view that follows this object's changes, except for the `pinned` names, which keep the values
        given here (a camera's own files; a pipeline built without the scene map it waits for)."""
        with self._lock:
            return RuntimeParams(_parent=self, _pinned=pinned)

    @property
    def version(self) -> int:
        """Goes up with every update that sets a value (here, or inherited from the parent)."""
        return self._version

    def update(self, changed: Mapping[str, Any]) -> None:
        """Check every value first (ParamError: nothing applied), then put them in force here and in every
        child (except where a child pins the name); the version goes up wherever a name was set."""
        checked = {name: vparams.check_value(name, value) for name, value in changed.items()}
        with self._lock:
            self._apply(checked)

    def _apply(self, checked: dict[str, Any]) -> None:
        names = [k for k in checked if k not in self._pinned]
        if not names:
            return
        self._version += 1
        for name in names:
            self._values[name] = checked[name]
            self._set_at[name] = self._version
        for child in list(self._children):
            child._apply({k: checked[k] for k in names})

    def changes_since(self, version: int) -> tuple[int, dict[str, Any], frozenset[str]]:
        """(version, a copy of the values, the names set after `version`: changed or set again to the same
        value, as the parameter API may): one consistent triple, whatever other threads do meanwhile."""
        with self._lock:
            return (self._version, dict(self._values),
                    frozenset(k for k, at in self._set_at.items() if at > version))

    # Mapping: reading a value needs no lock (one dict look-up).
    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.changes_since(self._version)[1])

    def __len__(self) -> int:
        return len(self._values)

    __eq__ = object.__eq__                 # one object per holder (kept in weak sets), not compared by value
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f'RuntimeParams(version {self._version}, {len(self._values)} values, pinned {sorted(self._pinned)})'


def pinned(params: Mapping[str, Any], values: Mapping[str, Any]) -> Mapping[str, Any]:
    """`params` with `values` in place of its own: a child that still follows a RuntimeParams, a new dict
    otherwise."""
    if isinstance(params, RuntimeParams):
        return params.child(values)
    return {**params, **values}
