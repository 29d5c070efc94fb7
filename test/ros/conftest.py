"""Fixtures of the ROS tests."""
from __future__ import annotations

import pytest

from node_graph import Graph


@pytest.fixture
def node_graph(tmp_path):
    graphs = []

    def start(params_file: str, **kwargs) -> Graph:
        g = Graph(tmp_path, params_file, **kwargs)
        graphs.append(g)
        return g

    yield start
    for g in graphs:
        g.close()
