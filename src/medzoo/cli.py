"""What the command-line entry points share: user errors end in one clear line, not a traceback."""

from __future__ import annotations

import errno
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from medzoo.data.images import ImageReadError
from medzoo.errors import ManifestError, UsageError
from medzoo.models.weights import WeightsUnavailableError
from medzoo.rundir import INTERRUPTED, RunStateError, failure_note

__all__ = ["USER_ERRORS", "UsageError", "key_values", "user_errors", "user_message"]

USER_ERRORS = (
    ManifestError,
    ImageReadError,
    WeightsUnavailableError,
    UsageError,
    RunStateError,
    FileNotFoundError,
    FileExistsError,
)

# Failures of the machine rather than of medzoo: the user can fix them, a traceback cannot.
ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
}


def user_message(err: BaseException) -> str | None:
    """The one-line explanation of an error the user can act on; ``None`` for a defect in
    medzoo itself, which keeps its traceback."""
    if isinstance(err, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(err, USER_ERRORS):
        return str(err)
    if isinstance(err, OSError) and err.errno in ENVIRONMENT_ERRNOS:
        where = f" writing {err.filename}" if err.filename else ""
        return (
            f"{ENVIRONMENT_ERRNOS[err.errno]}{where}: free space or choose another folder "
            "(output_dir=...), then run again"
        )
    return None


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn bad input (data, weights, paths), a full disk or Ctrl-C into one line
    ``medzoo: <message>`` and exit status 1; a run the error stopped says so in that line."""
    try:
        yield
    except (Exception, KeyboardInterrupt) as err:
        message = user_message(err)
        if message is None:
            raise
        raise SystemExit(f"medzoo: {message}{failure_note(err)}") from err


def key_values(
    argv: Sequence[str], allowed: Sequence[str], usage: str, required: Sequence[str] = ()
) -> dict[str, str]:
    """``key=value`` arguments of a command that is not a Hydra app; anything else, an unknown
    key or a missing required key is a ``UsageError`` that quotes ``usage``."""
    options: dict[str, str] = {}
    for argument in argv:
        key, sep, value = argument.partition("=")
        if not sep or key not in allowed:
            raise UsageError(f"cannot read argument {argument!r}; {usage}")
        options[key] = value
    missing = [key for key in required if key not in options]
    if missing:
        raise UsageError(f"missing {', '.join(f'{key}=' for key in missing)}; {usage}")
    return options
