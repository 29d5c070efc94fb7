"""Generic helpers for a network's nested outputs (lists / tuples of tensors, None kept): mapping, flattening and
the one comparison that every load-time variant (vad_ros.perception.openmmlab.variants) and CUDA graph is checked by."""
from __future__ import annotations

from typing import Any, Callable

LABEL_MISMATCH = 1e-3   # share of integer outputs (label maps) allowed to differ (float16 ties)


def map_tensors(value: Any, fn: Callable) -> Any:
    """`fn` applied to every tensor of nested lists / tuples (None kept)."""
    if isinstance(value, (list, tuple)):
        return type(value)(map_tensors(v, fn) for v in value)
    return value if value is None else fn(value)


def flat_tensors(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flat_tensors(v)]
    return [] if value is None else [value]


def mismatch(expected: Any, got: Any, tolerance: float) -> str | None:
    """None when two nested outputs have the same structure, shapes and dtypes and agree: floats within
    `tolerance` of the expected ones' largest magnitude (at least 1), integers (label maps) on all but
    LABEL_MISMATCH of their elements; else what differs, for people."""
    a, b = flat_tensors(expected), flat_tensors(got)
    if len(a) != len(b):
        return f'{len(b)} outputs instead of {len(a)}'
    for x, y in zip(a, b):
        if x.shape != y.shape or x.dtype != y.dtype:
            return f'{y.dtype} {tuple(y.shape)} instead of {x.dtype} {tuple(x.shape)}'
        if not x.numel():
            continue
        if x.is_floating_point():
            scale = max(1.0, float(x.float().abs().max()))
            worst = float((x.float() - y.float()).abs().max()) / scale
            if not worst <= tolerance:
                return f'max difference {worst:.2g} of the largest magnitude > {tolerance:g}'
        elif float((x != y).float().mean()) > LABEL_MISMATCH:
            return f'{float((x != y).float().mean()):.2%} of the labels differ (> {LABEL_MISMATCH:.1%})'
    return None

