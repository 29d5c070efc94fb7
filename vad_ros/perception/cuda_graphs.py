"""A network's forward pass replayed from CUDA graphs, one graph per input shape.

Measured on an H200 (bench/RESULTS.md, GPU): RTMDet-l and SegFormer-B5 at 1080p spend most of their eager
forward pass launching kernels from Python, not computing, so the GPU waits on the CPU (float16 is no faster than
float32 there). A CUDA graph records the pass once and replays all its kernels with one launch. A camera's frames
all give the same network input shape, so one graph per shape (a few: batch sizes of several cameras) covers a
stream. Each graph is checked when it is captured: its outputs must match an eager pass on the same input (floats
within TOLERANCE of their largest magnitude, labels equal on all but LABEL_MISMATCH of the pixels), else, or if
the model cannot be captured (CPU synchronisation, data-dependent shapes), graphs are switched off for the model
and it runs eagerly, logged at info. Replay overwrites a graph's outputs, so callers get copies.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger('vad_ros.perception')

TOLERANCE = 1e-3        # of the outputs' largest magnitude (float16 sums may differ in their last bits)
LABEL_MISMATCH = 1e-3   # share of integer outputs (label maps) allowed to differ
MAX_GRAPHS = 8          # input shapes kept per model (one per camera size and batch size); more run eagerly
WARMUP_RUNS = 2         # eager passes on a side stream before capture (lazy initialisation, autotuning)


def map_tensors(value: Any, fn: Callable) -> Any:
    """`fn` applied to every tensor of nested lists / tuples (None kept)."""
    if isinstance(value, (list, tuple)):
        return type(value)(map_tensors(v, fn) for v in value)
    return value if value is None else fn(value)


def flat_tensors(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flat_tensors(v)]
    return [] if value is None else [value]


def same_outputs(expected: Any, got: Any, tolerance: float = TOLERANCE) -> bool:
    """True when two nested outputs have the same structure, shapes and dtypes and agree: floats within
    `tolerance` of the expected ones' largest magnitude (at least 1), integers (label maps) on all but
    LABEL_MISMATCH of their elements. Also the check of the load-time speed-ups (ModelBackend)."""
    a, b = flat_tensors(expected), flat_tensors(got)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.is_floating_point():
            scale = max(1.0, float(x.float().abs().max())) if x.numel() else 1.0
            if x.numel() and float((x.float() - y.float()).abs().max()) > tolerance * scale:
                return False
        elif x.numel() and float((x != y).float().mean()) > LABEL_MISMATCH:
            return False
    return True


class CudaGraphs:
    """forward(inputs) -> nested tensors, replayed from one CUDA graph per input shape (see the module doc).
    Call it inside the context the forward pass needs (inference mode, autocast without its weight cache)."""

    def __init__(self, forward: Callable, role: str):
        self.forward = forward
        self.role = role
        self.graphs: dict[tuple, tuple] = {}
        self.enabled = True

    def __call__(self, inputs):
        if not self.enabled:
            return self.forward(inputs)
        key = (tuple(inputs.shape), inputs.dtype, inputs.stride(), str(inputs.device))
        entry = self.graphs.get(key)
        if entry is None:
            if len(self.graphs) >= MAX_GRAPHS:
                return self.forward(inputs)
            entry = self._capture(inputs)
            if entry is None:
                return self.forward(inputs)
            self.graphs[key] = entry
        graph, static_input, static_output = entry
        static_input.copy_(inputs)
        graph.replay()
        return map_tensors(static_output, lambda t: t.clone())

    def _capture(self, inputs):
        import torch
        try:
            static_input = inputs.clone()
            side = torch.cuda.Stream(device=inputs.device)
            side.wait_stream(torch.cuda.current_stream(inputs.device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP_RUNS):
                    expected = self.forward(static_input)
            torch.cuda.current_stream(inputs.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_output = self.forward(static_input)
            graph.replay()
            torch.cuda.synchronize(inputs.device)
            if not same_outputs(expected, static_output):
                self._disable('its replayed outputs differ from the eager pass')
                return None
        except Exception as e:  # noqa: BLE001 - any model code that cannot be captured: run eagerly
            self._disable(f'it cannot be captured ({type(e).__name__}: {e})')
            return None
        log.info('%s: network input %s runs as a CUDA graph', self.role, tuple(inputs.shape))
        return graph, static_input, static_output

    def _disable(self, why: str) -> None:
        self.enabled = False
        self.graphs.clear()
        log.info('%s: CUDA graphs not used, the network runs eagerly: %s', self.role, why)
