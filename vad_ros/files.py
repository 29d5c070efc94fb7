"""Reading the package's small user-written files (params, rule files, scene maps) with errors that name the
file and the fix, raised as the caller's own error type."""
from __future__ import annotations

import os
from typing import Any

import yaml


def read_text(path: str, what: str, fix: str, error: type[Exception]) -> str:
    """The text of `path`; raises `error` "<what> '<path>' does not exist (<fix>)" or "... cannot be read"."""
    if not os.path.isfile(path):
        raise error(f"{what} '{path}' does not exist ({fix})")
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{what} '{path}' cannot be read: {e}") from None


def read_yaml(path: str, what: str, fix: str, error: type[Exception]) -> Any:
    """read_text, then the YAML document (safe loader); raises `error` "... is not valid YAML" too."""
    text = read_text(path, what, fix, error)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise error(f"{what} '{path}' is not valid YAML: {e}") from None
