"""Load-time variants: faster ways to run a model that must compute what the model as loaded computes.

Every speed-up of the OpenMMLab backends (backend.PLAN) goes through one step, `Variants.keep_if_equivalent`:
build the variant, compare its outputs with the plain path's on a probe (`mismatch`, at the tolerance of the
model's device and precision, TOLERANCES), keep it only if they agree, and record the outcome with its reason
(kept, refused with the difference or the error, or off with the reason of its default) for the backend's
runtime report (vad_ros.perception.base.RuntimeReport).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from vad_ros.perception.base import Outcome

log = logging.getLogger('vad_ros.perception')

# largest difference between a variant's outputs and the plain path's, relative to their largest magnitude:
# on the CPU in float32 they differ in the order of float sums only (~1e-6 measured for RTMDet-tiny and
# SegFormer-B0); GPU kernels (TF32 convolutions, float16 sums) may differ in more bits
TOLERANCES = {('cpu', 'float32'): 1e-4, ('cuda', 'float32'): 1e-3, ('cuda', 'float16'): 1e-3}
LABEL_MISMATCH = 1e-3   # share of integer outputs (label maps) allowed to differ (float16 ties)


def tolerance(device: str, precision: str) -> float:
    return TOLERANCES[(device.split(':')[0], precision)]


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


@dataclass(frozen=True)
class Variant:
    """One speed-up a backend may run, as declared in its plan."""
    name: str
    default: Callable[[Any], bool]      # on by default for this backend?
    why: str                            # the reason of the default (a measurement), said where it is off
    attempt: Callable[[Any], None]      # tries it on a backend (through Variants.keep_if_equivalent)


class Variants:
    """The outcomes of one backend's variants, in the order they were settled."""

    def __init__(self, role: str, device: str, precision: str):
        self.role = role
        self.tolerance = tolerance(device, precision)
        self.outcomes: dict[str, Outcome] = {}

    def record(self, name: str, state: str, reason: str) -> None:
        self.outcomes[name] = Outcome(name, state, reason)
        log.info('%s: %s %s (%s)', self.role, name, state, reason)

    def kept(self, name: str) -> bool:
        outcome = self.outcomes.get(name)
        return outcome is not None and outcome.state == 'kept'

    def keep_if_equivalent(self, name: str, build: Callable[[], Any], check: Callable[[Any], str | None],
                           undo: Callable[[], None] | None = None, kept_why: str = 'outputs checked at load'):
        """build() -> the variant; check(variant) -> None where its outputs equal the plain path's (mismatch
        within self.tolerance), else what differs. Returns the variant, or None (then undo() runs) when they
        differ or either raises: any failure of the model's code under the variant."""
        try:
            candidate = build()
            difference = check(candidate)
        except Exception as e:  # noqa: BLE001 - whatever the model's code raises under the variant
            difference = f'error: {type(e).__name__}: {e}'
        if difference is None:
            self.record(name, 'kept', kept_why)
            return candidate
        if undo is not None:
            undo()
        self.record(name, 'refused', difference)
        return None
