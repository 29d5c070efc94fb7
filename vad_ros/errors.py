"""The one family of errors a user can fix (a parameter, a file, a model, an input, an output folder).

Every such error derives from VadError and its message names the field or file and the fix. Entry points and
the node catch VadError, and only VadError: anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class VadError(Exception):
    """Something the user can fix; str(error) says what and how."""
