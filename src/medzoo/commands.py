"""What every command shares: ``key=value`` arguments, and user errors that end in one clear
line, not a traceback. Commands that compose a config (train, evaluate, predict, …) are Hydra
apps; the others read the same ``key=value`` style here."""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from medzoo.data.images import ImageReadError
from medzoo.errors import ManifestError, UsageError
from medzoo.models.weights import WeightsUnavailableError
from medzoo.rundir import INTERRUPTED, RunStateError, failure_note

__all__ = [
    "USER_ERRORS",
    "UsageError",
    "flag",
    "key_values",
    "split_arguments",
    "user_errors",
    "user_message",
]

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


def split_arguments(
    argv: Sequence[str], allowed: Sequence[str], usage: str
) -> tuple[dict[str, str], list[str]]:
    """The command's own ``key=value`` options, and every other ``key=value`` argument in order
    (overrides the command passes on to the runs it starts). An argument without ``=`` is a
    ``UsageError`` that quotes ``usage``."""
    options: dict[str, str] = {}
    rest: list[str] = []
    for argument in argv:
        key, sep, value = argument.partition("=")
        if not sep:
            raise UsageError(f"cannot read argument {argument!r}; {usage}")
        if key in allowed:
            options[key] = value
        else:
            rest.append(argument)
    return options, rest


def key_values(
    argv: Sequence[str], allowed: Sequence[str], usage: str, required: Sequence[str] = ()
) -> dict[str, str]:
    """``key=value`` arguments of a command that is not a Hydra app; anything else, an unknown
    key or a missing required key is a ``UsageError`` that quotes ``usage``."""
    options, rest = split_arguments(argv, allowed, usage)
    if rest:
        raise UsageError(f"cannot read argument {rest[0]!r}; {usage}")
    missing = [key for key in required if key not in options]
    if missing:
        raise UsageError(f"missing {', '.join(f'{key}=' for key in missing)}; {usage}")
    return options


TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no")


def flag(options: Mapping[str, str], key: str, usage: str) -> bool:
    """A yes/no option (``key=true|false``, also 1/0, yes/no; absent: false). Anything else is a
    ``UsageError``: ``publish=ture`` must not quietly mean false."""
    value = options.get(key, "false").lower()
    if value not in TRUE + FALSE:
        raise UsageError(f"{key}={options[key]!r}: give {key}=true or {key}=false; {usage}")
    return value in TRUE
