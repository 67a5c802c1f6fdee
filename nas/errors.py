"""Exception types shared by every part of the toolkit.

Every error that is the user's fault (bad flags, bad files, bad data paths, a
locked run) derives from :class:`NasError`. The CLI turns these into exactly one
``nas: error: ...`` line on stderr and the error's :attr:`NasError.exit_code`
(2 for bad input); anything else is a bug and keeps its traceback.

:class:`MachineFault` is the one :class:`NasError` that is nobody's input: a write
of the toolkit failed because of the machine (a full disk, an I/O error, a
read-only remount). It is never a candidate's failure: evaluators re-raise it, the
search stops without journaling anything for the interrupted trials and the CLI exits
with :data:`EXIT_MACHINE_FAULT`; ``nas search --resume`` re-runs those trials once the
fault is cleared.
"""
from __future__ import annotations

import errno as _errno
import os

#: exit code of a machine fault: EX_TEMPFAIL of BSD ``sysexits.h`` ("try again later")
EXIT_MACHINE_FAULT = 75

#: errno values of a failed write that are faults of the machine, not of the input or the
#: candidate: no space or quota left, a file over the size limit, an I/O error, a read-only
#: file system (e.g. remounted after errors), the kernel out of memory, a stale NFS handle.
FAULT_ERRNOS = frozenset({_errno.ENOSPC, _errno.EDQUOT, _errno.EFBIG, _errno.EIO, _errno.EROFS, _errno.ENOMEM,
                          _errno.ESTALE})


class NasError(Exception):
    """Base class for user-facing errors (exit code :attr:`exit_code` from the CLI, 2 by default)."""

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


class MachineFault(NasError):
    """A write failed with one of :data:`FAULT_ERRNOS` (exit code :data:`EXIT_MACHINE_FAULT`).

    ``detail`` names the file and the system's message (``PATH: [Errno 28] No space left on
    device``); ``run`` is set by the search driver so that the message says how to resume.
    Plain data only, so that it survives pickling across a Ray task boundary.
    """

    exit_code = EXIT_MACHINE_FAULT

    def __init__(self, detail: str, errno: int | None = None, run: str | None = None) -> None:
        super().__init__(detail, errno, run)
        self.detail, self.errno, self.run = detail, errno, run

    @classmethod
    def from_os_error(cls, e: OSError, path: str | os.PathLike[str] | None = None) -> "MachineFault":
        where = path if path is not None else e.filename
        text = f"[Errno {e.errno}] {e.strerror or os.strerror(e.errno or 0)}"
        return cls(f"{where}: {text}" if where is not None else text, e.errno)

    def for_run(self, run: str | os.PathLike[str]) -> "MachineFault":
        """The same fault, with the resume command for the run at ``run`` in the message."""
        return MachineFault(self.detail, self.errno, str(run))

    def __str__(self) -> str:
        if self.errno in (_errno.ENOSPC, _errno.EDQUOT, _errno.EFBIG):
            fix = "free space"
        elif self.errno == _errno.EROFS:
            fix = "make the file system writable"
        else:
            fix = "fix the storage"
        then = f"resume with: nas search --resume {self.run}" if self.run else "run the command again"
        return f"machine fault: {self.detail}; {fix} and {then}"


def is_machine_fault(e: BaseException) -> bool:
    """Whether ``e`` is a :class:`MachineFault` or an :class:`OSError` with an errno of :data:`FAULT_ERRNOS`."""
    return isinstance(e, MachineFault) or (isinstance(e, OSError) and e.errno in FAULT_ERRNOS)


def as_machine_fault(e: BaseException) -> MachineFault:
    """``e`` as a :class:`MachineFault` (for an exception where :func:`is_machine_fault` holds)."""
    return e if isinstance(e, MachineFault) else MachineFault.from_os_error(e)  # type: ignore[arg-type]
