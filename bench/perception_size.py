"""How big vad_ros/perception/ is, per family, at git revisions: all lines (`wc -l`) and code lines (no blank,
comment or docstring lines), and at the newest revision the code lines of the definitions that issues 25 and 26
added (NanoDet's ONNX runner, int8 and compiled pre/post-processing; vad-check's vocabularies without models),
so a size comparison with b950450 (issue 24's "smaller than today") can be made like for like.

    python bench/perception_size.py                  # b950450 and HEAD
    python bench/perception_size.py b950450 bb30693 HEAD

Files are read from git (`git show REV:path`), so the working tree is not touched. Files of b950450's flat
layout are put into the family they moved to (FLAT_PREFIXES, FLAT_OPENMMLAB).
"""
from __future__ import annotations

import argparse
import ast
import io
import subprocess
import tokenize
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = 'vad_ros/perception/'
FAMILIES = ('nanodet', 'openmmlab', 'onnx')
# before the folders (issue 24): flat files by name -> family; the others are the top
FLAT_PREFIXES = {'nanodet': 'nanodet', 'tfjs_graph': 'nanodet', 'onnx_': 'onnx'}
FLAT_OPENMMLAB = ('openmmlab.py', 'model_backend.py', 'mmdet_detector.py', 'mmseg_segmenter.py', 'segformer_head.py',
                  'cuda_graphs.py', 'direct_inputs.py', 'dense_decode.py', 'tensors.py', 'variants.py')
# (file at the newest revision, top-level definition or '*' for the whole file) that another issue added
ADDED_BY = {
    'issue 25 (NanoDet on ONNX Runtime, int8, compiled pre/post)': [
        ('nanodet/onnx_file.py', '*'), ('nanodet/detector.py', 'choose_runner'),
        ('nanodet/detector.py', 'TorchNetwork'), ('nanodet/detector.py', 'OnnxNetwork'),
        ('nanodet/detector.py', 'build_network'), ('nanodet/detector.py', '_decode_level_compiled'),
        ('nanodet/preprocess.py', '_normalise_compiled')],
    'issue 26 (vad-check reads vocabularies without building models)': [
        ('factory.py', 'Vocabulary'), ('factory.py', 'vocabularies'), ('factory.py', 'detector_vocabulary'),
        ('factory.py', 'segmenter_vocabulary'), ('factory.py', '_toolbox_vocabulary'),
        ('factory.py', '_exported_vocabulary'), ('openmmlab/toolbox.py', 'vocabulary_from_files'),
        ('nanodet/detector.py', 'hog_fallback_warning')],
}


def git(*args: str) -> str:
    return subprocess.run(['git', *args], cwd=REPO, capture_output=True, text=True, check=True).stdout


def code_lines(source: str, first: int = 1, last: int | None = None) -> int:
    """Lines first..last of `source` that hold code: not blank, not only a comment, not a docstring."""
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            head = node.body[0]
            if isinstance(head, ast.Expr) and isinstance(head.value, ast.Constant) and isinstance(head.value.value,
                                                                                                  str):
                docstrings.update(range(head.lineno, head.end_lineno + 1))
    lines = set()
    skipped = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len([n for n in lines if n >= first and (last is None or n <= last)])


def family(path: str) -> str:
    relative = path[len(ROOT):]
    folder = relative.split('/')[0]
    if folder in FAMILIES:
        return folder
    if relative in FLAT_OPENMMLAB:
        return 'openmmlab'
    return next((name for prefix, name in FLAT_PREFIXES.items() if relative.startswith(prefix)), 'top')


def sizes(rev: str) -> dict[str, list[int]]:
    """family -> [all lines, code lines] at rev."""
    found = {name: [0, 0] for name in ('top',) + FAMILIES}
    for path in git('ls-tree', '-r', '--name-only', rev, ROOT).split():
        if path.endswith('.py'):
            source = git('show', f'{rev}:{path}')
            found[family(path)][0] += source.count('\n')
            found[family(path)][1] += code_lines(source)
    return found


def added_code_lines(rev: str) -> dict[str, int]:
    """The code lines of ADDED_BY's definitions at rev, per issue."""
    totals = {}
    for issue, places in ADDED_BY.items():
        totals[issue] = 0
        for path, name in places:
            source = git('show', f'{rev}:{ROOT}{path}')
            if name == '*':
                totals[issue] += code_lines(source)
                continue
            node = next((n for n in ast.parse(source).body if getattr(n, 'name', None) == name), None)
            if node is None:
                raise SystemExit(f'{path}: no top-level {name} at {rev}: update ADDED_BY')
            first = min([node.lineno] + [d.lineno for d in getattr(node, 'decorator_list', [])])
            totals[issue] += code_lines(source, first, node.end_lineno)
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('revs', nargs='*', default=['b950450', 'HEAD'])
    revs = parser.parse_args(argv).revs
    table = {rev: sizes(rev) for rev in revs}
    print('| part | ' + ' | '.join(f'{rev}: lines / code lines' for rev in revs) + ' |')
    print('|---|' + '---|' * len(revs))
    for name in ('top',) + FAMILIES + ('total',):
        cells = []
        for rev in revs:
            all_lines, code = (table[rev][name] if name != 'total' else
                               [sum(v[i] for v in table[rev].values()) for i in (0, 1)])
            cells.append(f'{all_lines:,} / {code:,}')
        print(f'| {name} | ' + ' | '.join(cells) + ' |')
    newest = revs[-1]
    added = added_code_lines(newest)
    total_code = sum(v[1] for v in table[newest].values())
    print()
    for issue, count in added.items():
        print(f'{newest}: code lines added by {issue}: {count:,}')
    print(f'{newest}: code lines without them: {total_code - sum(added.values()):,} (of {total_code:,})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
