"""The rule file in force, from the `rules_file` parameter to the RuleSet the pipeline applies (no ROS).

One object owns the whole life cycle, so the node and the offline tools only call it:
- the parameter value -> a path ('' = the paper's rules, stated here and nowhere else; relative paths are
  looked up in the given folders, see vad_ros.params.resolve_path);
- loading and checking against the models' vocabularies (object classes; background classes of the
  segmenter and scene map);
- a broken file at start-up: `strict=False` starts with an empty rule set (status ERROR) and watches the file,
  which is loaded once it is fixed; `strict=True` raises RuleFileError (the offline tools);
- `poll()`: the file changed on disk -> reloaded; a bad new version is rejected and the rules in force stay;
- `switch(value)`: another file (the parameter API); a bad file raises RuleFileError, nothing changes;
- `status`: (level, message) for diagnostics; an empty rule set is a warning, a rejected file an error.
Rule files are checked from the command line by vad-check --rules FILE (vad_ros.check); this module's old command
line only points there.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Iterable

from vad_ros.params import resolve_path
from vad_ros.reasoning.rules import PAPER_RULES_PATH, UNCHECKED, RuleFileError, RuleSet, empty_rules, load_rules

OK, WARN, ERROR = 'ok', 'warn', 'error'


@dataclass(frozen=True)
class RuleStatus:
    level: str          # OK, WARN or ERROR
    message: str


@dataclass(frozen=True)
class RuleChange:
    """What poll() saw: new rules in force (level OK/WARN) or a rejected version (level ERROR)."""
    level: str
    message: str


def rules_path(value: str, base_dirs: Iterable[str] = ()) -> str:
    """The file a `rules_file` parameter value names: '' = the paper's rule set."""
    return resolve_path(value, list(base_dirs)) if value else str(PAPER_RULES_PATH)


class RuleSource:
    """The rules of one file, checked against the vocabularies, watched for changes (see the module doc)."""

    def __init__(self, value: str, object_vocab: Iterable[str] | None = None,
                 background_vocab: Iterable[str] | None = None, base_dirs: Iterable[str] = (),
                 strict: bool = True, scene=UNCHECKED):
        """scene: the SceneMap (or None: no scene map) whose zones and tripwires the rules may name."""
        self._vocabs = (None if object_vocab is None else tuple(object_vocab),
                        None if background_vocab is None else tuple(background_vocab))
        self._scene = scene
        self._base_dirs = tuple(base_dirs)
        self.path = rules_path(value, self._base_dirs)
        self._watched = True
        self._stamp = file_stamp(self.path)
        try:
            self.rules = load_rules(self.path, *self._vocabs, scene=self._scene)
            self._error: str | None = None
        except RuleFileError as e:
            if strict:
                raise
            self.rules, self._error = empty_rules(self.path), str(e)

    @classmethod
    def fixed(cls, rules: RuleSet) -> 'RuleSource':
        """A source that holds `rules` and watches no file (tests, callers with their own rules)."""
        source = cls.__new__(cls)
        source._vocabs, source._base_dirs, source._scene = (None, None), (), UNCHECKED
        source.path, source._stamp, source._error, source._watched = rules.source, None, None, False
        source.rules = rules
        return source

    @property
    def status(self) -> RuleStatus:
        if self._error is not None:
            return RuleStatus(ERROR, f'{self._error} (rules in force: {len(self.rules)})')
        if self.rules.is_empty:
            return RuleStatus(WARN, f'{self.path}: the rule set is empty, nothing will be flagged')
        return RuleStatus(OK, f'{len(self.rules)} rule(s) from {self.path}')

    @property
    def warnings(self) -> tuple[str, ...]:
        """The rule set's own warnings (e.g. a class the configured models cannot produce)."""
        return self.rules.warnings

    def poll(self) -> RuleChange | None:
        """Reload the file if it changed on disk since it was last read; None when nothing changed."""
        if not self._watched:
            return None
        stamp = file_stamp(self.path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            rules = load_rules(self.path, *self._vocabs, scene=self._scene)
        except RuleFileError as e:
            self._error = str(e)
            return RuleChange(ERROR, f'rule file change rejected, the previous rules stay in force: {e}')
        self.rules, self._error = rules, None
        return RuleChange(self.status.level, f'rule file changed: {len(rules)} rule(s) now in force from '
                                             f'{self.path}')

    def switch(self, value: str) -> RuleSet:
        """Put another file's rules in force ('' = the paper's). Raises RuleFileError (nothing changes)."""
        path = rules_path(value, self._base_dirs)
        rules = load_rules(path, *self._vocabs, scene=self._scene)
        self.path, self._stamp, self.rules, self._error = path, file_stamp(path), rules, None
        self._watched = True
        return rules


RETIRED = ('python -m vad_ros.rule_source is retired: check a rule file with `vad-check --rules FILE` '
           '(python -m vad_ros.check --rules FILE; --params and --scene as before, see vad-check --help)')


def main(argv: list[str] | None = None) -> int:
    """The retired command line (it ran vad-check): one line naming vad-check; exit 0 for --help/-h, else 2.
    It does not import vad_ros.check, whose pipeline reads its rules through this module."""
    args = sys.argv[1:] if argv is None else argv
    asked_for_help = bool({'--help', '-h'} & set(args))
    print(RETIRED, file=sys.stdout if asked_for_help else sys.stderr)
    return 0 if asked_for_help else 2


def file_stamp(path: str) -> tuple[int, int] | None:
    """(mtime, size) of a file, None when it does not exist: a change of either means "read it again"."""
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return None


if __name__ == '__main__':
    raise SystemExit(main())
