"""Hostile YAML texts for the loaders' tests and benchmarks (not used at run time)."""
from __future__ import annotations


def alias_bomb(levels: int = 9) -> str:
    """A rule whose objects hold 9 ** levels strings through anchors and aliases (382 bytes at 9 levels, padded
    with a comment to the probe's size)."""
    lines = ['rules:', '- id: bomb', '  sentence: s', '  forbidden: [grass]', '  objects:',
             '  - &a [x,x,x,x,x,x,x,x,x]']
    for level in range(1, levels):
        prev, name = chr(ord('a') + level - 1), chr(ord('a') + level)
        lines.append(f'  - &{name} [' + ','.join([f'*{prev}'] * 9) + ']')
    text = '\n'.join(lines) + '\n'
    return text + ('#' * (381 - len(text)) + '\n' if len(text) < 381 else '')
