"""A small error hierarchy. OS errors are translated once, at the boundary.

Only ``cli.py`` turns these into exit codes and one-line messages.
"""

from __future__ import annotations


class OomkitError(Exception):
    """Base class: the message is one line, names the thing and says what to do."""


class ProcessGone(OomkitError):
    """The process exited between listing and reading (ENOENT/ESRCH mid-read)."""


class AccessDenied(OomkitError):
    """EPERM/EACCES: the message says which privilege is missing and how to get it."""


class SourceUnavailable(OomkitError):
    """A log source cannot be read (absent, no permission, tool missing)."""


class ParseError(OomkitError):
    """Text did not match what was expected (file, line and the first bad bytes)."""


class ConfigError(OomkitError):
    """The configuration file is invalid: names the file, the key and the fix."""


class UsageError(OomkitError):
    """A command-line value is invalid."""
