"""Load-time variants: faster ways to run a model that must compute what the model as loaded computes.

Every speed-up of the PyTorch backends (norm folding, channels-last memory, torch.compile, CUDA graphs, direct
pre-processing, the package's decoding) goes through one step, `Variants.keep_if_equivalent`: build the
variant, compare its outputs with the plain path's on a probe (`tensors.mismatch` at the tolerance of the
model's device and precision, TOLERANCES), keep it only if they agree, and record the outcome with its reason
(kept, refused with the difference or the error, or off with the reason of its default). A backend declares
its variants once, in the order they apply (`Variant`, openmmlab.ModelBackend.PLAN); each variant's default
carries the measurement behind it (bench/RESULTS.md, "Load-time variants").

The outcomes go into the backend's runtime report (vad_ros.perception.base.RuntimeReport).
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


def tolerance(device: str, precision: str) -> float:
    return TOLERANCES[(device.split(':')[0], precision)]


@dataclass(frozen=True)
class Variant:
    """One speed-up a backend may run, as declared in its plan."""
    name: str
    stage: str                          # 'prepare', 'network' or 'decode'
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
        """build() -> the variant; check(variant) -> None where its outputs equal the plain path's (within
        self.tolerance, see tensors.mismatch), else what differs. Returns the variant, or None (then undo() runs)
        when they differ or either raises: any failure of the model's code under the variant."""
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
