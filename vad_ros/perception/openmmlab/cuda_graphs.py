"""A network's forward pass replayed from CUDA graphs, one graph per input shape: the eager pass of the large
models at 1080p is bound by kernel launches from Python, which a graph replays with one launch (bench/RESULTS.md,
"GPU: NVIDIA H200").

A camera's frames all give the same input shape, so a few graphs (camera sizes, batch sizes) cover a stream.
Each graph is checked when captured, as every load-time variant (variants.py): its outputs must match an eager
pass on the same input; else, or where the model cannot be captured (CPU synchronisation, data-dependent
shapes), graphs are switched off for the model, which runs eagerly, and the refusal is recorded in the
backend's runtime report. Replay overwrites a graph's outputs, so callers get copies.
"""
from __future__ import annotations

from typing import Callable

from vad_ros.perception.openmmlab.variants import Variants, map_tensors, mismatch

MAX_GRAPHS = 8          # input shapes kept per model (one per camera size and batch size); more run eagerly
WARMUP_RUNS = 2         # eager passes on a side stream before capture (lazy initialisation, autotuning)


class CudaGraphs:
    """forward(inputs) -> nested tensors, replayed from one CUDA graph per input shape (see the module doc).
    Call it inside the context the forward pass needs (inference mode, autocast without its weight cache)."""

    def __init__(self, forward: Callable, variants: Variants):
        self.forward = forward
        self.variants = variants
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
        found = {}

        def build():
            static_input = inputs.clone()
            side = torch.cuda.Stream(device=inputs.device)
            side.wait_stream(torch.cuda.current_stream(inputs.device))
            with torch.cuda.stream(side):
                for _ in range(WARMUP_RUNS):
                    found['expected'] = self.forward(static_input)
            torch.cuda.current_stream(inputs.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_output = self.forward(static_input)
            graph.replay()
            torch.cuda.synchronize(inputs.device)
            return graph, static_input, static_output

        return self.variants.keep_if_equivalent(
            'cuda_graphs', build, lambda entry: mismatch(found['expected'], entry[2], self.variants.tolerance),
            undo=self._disable, kept_why=f'{len(self.graphs) + 1} input shape(s) captured, each checked')

    def _disable(self) -> None:
        self.enabled = False
        self.graphs.clear()
