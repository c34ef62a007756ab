"""What the command-line entry points share: user errors end in one clear line, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from medzoo.data.manifest import ManifestError
from medzoo.models.weights import WeightsUnavailableError


class UsageError(ValueError):
    """A command or definition the user wrote that cannot be run; the message says why."""


USER_ERRORS = (
    ManifestError,
    WeightsUnavailableError,
    UsageError,
    FileNotFoundError,
    FileExistsError,
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn bad input (data, weights, paths) into ``medzoo: <message>`` and exit status 1."""
    try:
        yield
    except USER_ERRORS as err:
        raise SystemExit(f"medzoo: {err}") from err


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
