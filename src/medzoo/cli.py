"""What the command-line entry points share: user errors end in one clear line, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator
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
