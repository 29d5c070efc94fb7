"""Load time and peak memory of the YAML loader (vad_ros.files.read_yaml: params, rule files, scene maps) on
files at and beyond the caps of vad_ros.limits, on libyaml's parser and on the pure-Python one.

    python bench/bench_yaml.py [--repeat 3] [--case rules_20000 ...] [--mode libyaml ...]

Cases (written to a temporary folder first):
- rules_20000: 20,000 short rules (1.2 MB, 180,003 YAML values; load_rules refuses it afterwards: > MAX_RULES);
- scene_50000: a scene map of 5 polygons of 10,000 vertices (50,000 vertices, 0.4 MB, 150,032 values);
- deep_1000: `rules: [[[...]]]` 1000 deep (2 KB), refused at depth MAX_YAML_DEPTH;
- alias_bomb: the 382-byte alias bomb of test_yaml_limits.py (9 ** 9 strings when expanded), refused;
- brackets_2mib: 2 MiB of '[' (the byte cap), refused at depth MAX_YAML_DEPTH;
- flat_2mib: `[0,0,0,...]`, 2 MiB, a million values in one list, refused at MAX_YAML_NODES.

Modes:
- python-gc: the loader as it was before libyaml was used (pure Python, the garbage collector running as
  usual; _check_graph's fix, freeing its memo at once, included);
- python: the pure-Python fallback of today's loader (PyYAML without libyaml), collector paused;
- libyaml: today's loader (libyaml's parser, the node graph composed from its events).

Each case and mode runs in a fresh process: seconds = the best of --repeat loads; traced peak = tracemalloc's
peak over one more load (Python allocations only); RSS growth = the process's peak resident memory after the
first load minus before it (every allocation, libyaml's included; 0 when below the imports' own peak). The
modes must give the same result: the same value, lines included, or the same error message (checked).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vad_ros import files, limits  # noqa: E402
from vad_ros.devtools.hostile_yaml import alias_bomb  # noqa: E402

MODES = ('python-gc', 'python', 'libyaml')
SHORT_RULE = '- {id: r%d, objects: person, forbidden: grass, sentence: s}\n'     # 9 YAML values


def polygon(n: int, offset: int = 0) -> str:
    return '[' + ','.join(f'[{(i + offset) % 90},{i % 40}]' for i in range(n)) + ']'




CASES = {
    'rules_20000': lambda: 'rules:\n' + ''.join(SHORT_RULE % i for i in range(20_000)),
    'scene_50000': lambda: 'image_size: [100, 50]\nregions:\n' + ''.join(
        f'  - {{label: r{i}, polygon: {polygon(10_000, i)}}}\n' for i in range(5)),
    'deep_1000': lambda: 'rules: ' + '[' * 1000 + ']' * 1000 + '\n',
    'alias_bomb': alias_bomb,
    'brackets_2mib': lambda: '[' * limits.MAX_YAML_BYTES,
    'flat_2mib': lambda: '[' + '0,' * ((limits.MAX_YAML_BYTES - 3) // 2) + '0]',
}


class Refused(Exception):
    pass


def digest(value) -> str:
    """A hash of a loaded value with the type and line of every string, mapping and list."""
    h = hashlib.sha256()

    def walk(v):
        h.update(f'{type(v).__name__}:{getattr(v, "line", "")}:'.encode())
        if isinstance(v, dict):
            h.update(b'{')
            for k, x in v.items():
                walk(k)
                walk(x)
            h.update(b'}')
        elif isinstance(v, (list, tuple)):
            h.update(b'[')
            for x in v:
                walk(x)
            h.update(b']')
        else:
            h.update(repr(v).encode('utf-8', 'surrogatepass'))
    walk(value)
    return h.hexdigest()[:16]


def load(path: str) -> str:
    """'ok <digest>' or 'refused: <message, the path cut off>'."""
    try:
        value = files.read_yaml(path, 'file', 'fix it', Refused)
    except Refused as e:
        return 'refused: ' + str(e).replace(path, '<file>')
    return 'ok ' + digest(value)


def child(path: str, mode: str, repeat: int) -> dict:
    if mode != 'libyaml':
        files._CLineLoader = None                      # as where PyYAML has no libyaml
    if mode == 'python-gc':
        files._gc_paused = contextlib.nullcontext      # the loader as it was: the collector runs
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = load(path)
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        again = load(path)
        seconds.append(time.perf_counter() - start)
        assert again == result
    tracemalloc.start()
    load(path)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {'result': result, 'seconds': min(seconds), 'all_seconds': seconds, 'traced_peak_mb': traced / 1e6,
            'rss_growth_mb': rss_growth / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--case', nargs='*', choices=sorted(CASES), default=list(CASES))
    parser.add_argument('--mode', nargs='*', choices=MODES, default=list(MODES))
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--child', nargs=2, metavar=('PATH', 'MODE'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.repeat)))
        return 0

    import yaml
    print(f'# {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, PyYAML {yaml.__version__}'
          f' (libyaml {yaml._yaml.get_version_string() if yaml.__with_libyaml__ else "missing"}), '
          f'load {os.getloadavg()[0]:.1f}')
    rows, failed = [], False
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.case:
            path = os.path.join(tmp, case + '.yaml')
            with open(path, 'w') as f:
                f.write(CASES[case]())
            size = os.path.getsize(path)
            results = {}
            for mode in args.mode:
                out = subprocess.run([sys.executable, __file__, '--child', path, mode, '--repeat', str(args.repeat)],
                                     capture_output=True, text=True, check=True)
                r = results[mode] = json.loads(out.stdout)
                rows.append({'case': case, 'bytes': size, 'mode': mode, **r})
                print(f'{case:14} {size:>9} B {mode:9} {r["seconds"]:8.3f} s  traced peak {r["traced_peak_mb"]:7.1f} MB'
                      f'  RSS growth {r["rss_growth_mb"]:7.1f} MB  {r["result"][:90]}', flush=True)
            if len({r['result'] for r in results.values()}) != 1:
                print(f'!! {case}: the modes differ', file=sys.stderr)
                failed = True
    print('\n| case | bytes | result | ' + ' | '.join(f'{m}: s / traced MB / RSS MB' for m in args.mode) + ' |')
    print('| --- | --- | --- | ' + ' | '.join('---' for _ in args.mode) + ' |')
    for case in args.case:
        mine = {r['mode']: r for r in rows if r['case'] == case}
        first = next(iter(mine.values()))
        result = first['result'] if first['result'].startswith('ok') else first['result'][:70] + '...'
        print(f'| {case} | {first["bytes"]} | {result} | ' + ' | '.join(
            f'{mine[m]["seconds"]:.3f} / {mine[m]["traced_peak_mb"]:.1f} / {mine[m]["rss_growth_mb"]:.1f}'
            for m in args.mode) + ' |')
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + '\n')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
