"""The rule-file life cycle (vad_ros.rule_source) without ROS: path resolution, start-up with a broken file,
watching, switching files, status; its retired command line points to vad-check."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vad_ros.reasoning.rules import PAPER_RULES_PATH, RuleFileError, load_rules
from vad_ros.vocabulary import ADE20K_CLASSES, COCO_CLASSES
from vad_ros.rule_source import ERROR, OK, WARN, RuleSource, main, rules_path

VOCABS = (COCO_CLASSES, ADE20K_CLASSES)
ROOT = Path(__file__).resolve().parents[1]


def write(path, text: str, second: int) -> None:
    """Write and set the mtime, so that a change is seen even within one filesystem tick."""
    path.write_text(text)
    os.utime(path, ns=(second * 10**9, second * 10**9))


def rule(rule_id: str, forbidden: str = 'road', obj: str = 'person') -> str:
    return f'rules:\n  - {{id: {rule_id}, objects: [{obj}], forbidden: [{forbidden}], sentence: s}}\n'


def ids(source: RuleSource) -> list[str]:
    return [r.id for r in source.rules]


def test_empty_value_means_the_papers_rules_and_relative_paths_use_the_base_dirs(tmp_path):
    assert rules_path('') == str(PAPER_RULES_PATH)
    write(tmp_path / 'site.yaml', rule('a'), 1000)
    assert rules_path('site.yaml', [str(tmp_path / 'nowhere'), str(tmp_path)]) == str(tmp_path / 'site.yaml')
    source = RuleSource('', *VOCABS)
    assert len(source.rules) == len(load_rules(PAPER_RULES_PATH)) and source.status.level == OK


def test_strict_start_with_a_bad_file_raises_and_lenient_start_watches_until_fixed(tmp_path):
    path = tmp_path / 'rules.yaml'
    write(path, rule('bad', forbidden='raod'), 1000)
    with pytest.raises(RuleFileError, match=r"rules.yaml:2: .*'raod' \(closest known: road"):
        RuleSource(str(path), *VOCABS)
    source = RuleSource(str(path), *VOCABS, strict=False)
    assert source.rules.is_empty and source.status.level == ERROR and "'raod'" in source.status.message
    assert source.poll() is None                              # not re-read until it changes
    write(path, rule('fixed'), 2000)
    change = source.poll()
    assert change.level == OK and ids(source) == ['fixed'] and source.status.level == OK


def test_poll_reloads_changes_and_keeps_the_rules_in_force_on_a_bad_version(tmp_path):
    path = tmp_path / 'rules.yaml'
    write(path, rule('a'), 1000)
    source = RuleSource(str(path), *VOCABS)
    assert source.poll() is None and ids(source) == ['a']
    write(path, rule('b', 'grass'), 2000)
    assert source.poll().level == OK and ids(source) == ['b']
    assert source.poll() is None
    write(path, rule('c', obj='persn'), 3000)
    change = source.poll()
    assert change.level == ERROR and "'persn'" in change.message and 'previous rules stay' in change.message
    assert ids(source) == ['b'] and source.status.level == ERROR
    assert source.poll() is None                              # the bad version is not re-read
    path.unlink()
    assert source.poll().level == ERROR and ids(source) == ['b']
    write(path, 'rules: []\n', 4000)
    change = source.poll()
    assert change.level == WARN and source.rules.is_empty
    assert source.status.level == WARN and 'empty' in source.status.message


def test_switch_puts_another_file_in_force_or_changes_nothing(tmp_path):
    first, second, bad = tmp_path / 'first.yaml', tmp_path / 'second.yaml', tmp_path / 'bad.yaml'
    write(first, rule('first'), 1000)
    write(second, rule('second', 'grass'), 1000)
    write(bad, 'rules: [', 1000)
    source = RuleSource(str(first), *VOCABS)
    source.switch(str(second))
    assert ids(source) == ['second'] and source.path == str(second)
    with pytest.raises(RuleFileError, match='not valid YAML'):
        source.switch(str(bad))
    assert ids(source) == ['second'] and source.path == str(second) and source.status.level == OK
    write(second, rule('edited', 'grass'), 2000)              # the new file is the one watched
    assert source.poll() is not None and ids(source) == ['edited']
    source.switch('')
    assert source.path == str(PAPER_RULES_PATH)


def test_a_fixed_rule_set_watches_nothing():
    rules = load_rules(PAPER_RULES_PATH)
    source = RuleSource.fixed(rules)
    assert source.rules is rules and source.poll() is None and source.status.level == OK


@pytest.mark.parametrize('argv, code', [(['--help'], 0), (['-h'], 0), (['rules.yaml'], 2), ([], 2),
                                        (['--params', 'p.yaml', 'rules.yaml'], 2)])
def test_the_retired_command_line_names_vad_check_in_one_line(capsys, argv, code):
    assert main(argv) == code
    out, err = capsys.readouterr()
    line = out if code == 0 else err
    assert (out if code else err) == ''
    assert line.count('\n') == 1 and 'vad-check --rules FILE' in line and 'python -m vad_ros.check' in line


def test_python_dash_m_runs_the_retired_command_line():
    run = subprocess.run([sys.executable, '-m', 'vad_ros.rule_source', 'rules.yaml'], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 2 and run.stdout == '' and 'vad-check --rules FILE' in run.stderr
