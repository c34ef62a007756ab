"""The errors a user can fix, shared by every layer; ``medzoo.commands`` makes each one line."""

from __future__ import annotations


class UsageError(ValueError):
    """A command or definition the user wrote that cannot be run; the message says why."""


class ManifestError(ValueError):
    """A manifest that cannot be trained on; the message names the file and the fix."""
