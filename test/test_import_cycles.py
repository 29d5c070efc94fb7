"""No import cycles anywhere in vad_ros/: every module's imports, at module level and inside functions (those
run later, but a cycle through them still ties two modules into one), read with ast, and the graph of imports
between vad_ros modules checked for cycles. Imports under `if TYPE_CHECKING:` never run and are left out.
On the same graph: perception (models -> boxes and label maps) never imports reasoning (rules about them)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'vad_ros'


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob('*.py')}


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, 'test', None)
    return isinstance(node, ast.If) and getattr(test, 'id', getattr(test, 'attr', None)) == 'TYPE_CHECKING'


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The vad_ros modules that `name` imports (a `from package import module` names the module)."""
    tree = ast.parse(path.read_text(encoding='utf-8'), str(path))
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    skipped = {id(n) for node in ast.walk(tree) if _type_checking_only(node) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f'{base}.{alias.name}' for alias in node.names)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_cycles_and_reads_relative_and_function_level_imports(tmp_path):
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []
    source = tmp_path / 'vad_ros' / 'pkg' / 'mod.py'
    source.parent.mkdir(parents=True)
    source.write_text('from . import other\nfrom ..top import x\nfrom typing import TYPE_CHECKING\n'
                      'if TYPE_CHECKING:\n    import vad_ros.hidden\n'
                      'def f():\n    import vad_ros.late\n')
    known = {'vad_ros.pkg.other', 'vad_ros.top', 'vad_ros.late', 'vad_ros.hidden', 'vad_ros.pkg.mod'}
    assert imported('vad_ros.pkg.mod', source, known) == {'vad_ros.pkg.other', 'vad_ros.top', 'vad_ros.late'}


# Cycles left for their owners (issue 24). Any other cycle fails this test, and so does the removal of one of
# these until it is taken off this list: the goal is an empty list. (nanodet <-> nanodet_onnx is gone: both
# read the model files and the input from nanodet_files and nanodet_input.)
KNOWN_CYCLES: list[list[str]] = []


def test_vad_ros_has_no_import_cycle():
    graph = import_graph()
    assert 'vad_ros.perception.openmmlab.backend' in graph['vad_ros.perception.openmmlab.mmdet_detector']
    assert sorted(cycles(graph)) == KNOWN_CYCLES


def layer_violations(graph: dict[str, set[str]], lower: str, upper: str) -> list[str]:
    """'a -> b' for each module a in package `lower` that imports a module b of package `upper`."""
    def inside(name: str, package: str) -> bool:
        return name == package or name.startswith(package + '.')
    return sorted(f'{a} -> {b}' for a, imports in graph.items() if inside(a, lower)
                  for b in imports if inside(b, upper))


def test_perception_imports_nothing_from_reasoning():
    example = {'vad_ros.perception.x': {'vad_ros.reasoning.kernels', 'vad_ros.vocabulary'},
               'vad_ros.reasoning.rules': {'vad_ros.perception.base'}}
    assert layer_violations(example, 'vad_ros.perception', 'vad_ros.reasoning') == [
        'vad_ros.perception.x -> vad_ros.reasoning.kernels']
    graph = import_graph()
    assert 'vad_ros.perception.base' in graph['vad_ros.perception.factory']      # perception's imports are read
    assert layer_violations(graph, 'vad_ros.perception', 'vad_ros.reasoning') == []


FAMILIES = ('vad_ros.perception.nanodet', 'vad_ros.perception.openmmlab', 'vad_ros.perception.onnx')
# The edges between perception's families that are meant: the export tool reads OpenMMLab models (the tool depends
# on the run-time pieces, never the reverse), and NanoDet starts its ONNX Runtime session as the exported backends do.
FAMILY_EDGES = {('vad_ros.perception.onnx.export', 'vad_ros.perception.openmmlab'),
                ('vad_ros.perception.nanodet.detector', 'vad_ros.perception.onnx')}


def family_edges(graph: dict[str, set[str]]) -> list[str]:
    """'a -> b' for each perception module a that imports a module b of a family (perception/<family>/) that a
    is not in, other than FAMILY_EDGES and perception/factory.py (the choice, which builds every family)."""
    def family(name: str) -> str:
        return next((f for f in FAMILIES if name == f or name.startswith(f + '.')), '')
    return sorted(f'{a} -> {b}' for a, imports in graph.items()
                  if a.startswith('vad_ros.perception.') and a != 'vad_ros.perception.factory'
                  for b in imports if family(b) and family(b) != family(a) and (a, family(b)) not in FAMILY_EDGES)


def test_perception_families_import_the_shared_top_not_each_other():
    example = {'vad_ros.perception.dense': {'vad_ros.perception.nanodet.files'},
               'vad_ros.perception.onnx.export': {'vad_ros.perception.openmmlab.toolbox'},
               'vad_ros.perception.factory': {'vad_ros.perception.onnx.detector'}}
    assert family_edges(example) == ['vad_ros.perception.dense -> vad_ros.perception.nanodet.files']
    graph = import_graph()
    assert 'vad_ros.perception.openmmlab.toolbox' in graph['vad_ros.perception.onnx.export']
    assert family_edges(graph) == []
