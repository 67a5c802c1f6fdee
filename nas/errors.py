"""Exception types shared by every part of the toolkit.

Every error that is the user's fault (bad flags, bad files, bad data paths, a
locked run) derives from :class:`NasError`. The CLI turns these into exactly one
``nas: error: ...`` line on stderr and exit code 2 (DESIGN §6); anything else is
a bug and keeps its traceback.
"""
from __future__ import annotations


class NasError(Exception):
    """Base class for user-facing errors (exit code 2 from the CLI)."""

    exit_code = 2


class InvalidArchitecture(NasError, ValueError):
    """An architecture, genotype string or YAML file is malformed.

    The message always names the exact problem, for example
    ``cell 'normal', node n2: unknown op 'sep_conv_9x9'``.
    """


class ConfigError(NasError, ValueError):
    """A configuration value, flag or config file is invalid."""


class DataError(NasError):
    """A dataset is missing or corrupt; the message says how to provide it."""


class RunLocked(NasError):
    """Another driver holds the run directory's lock."""


class UnknownName(NasError, KeyError):
    """A registry lookup used a name that is not registered."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""
