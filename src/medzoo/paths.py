"""Where medzoo finds its configs, data and cache."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The Hydra config directory: inside the installed wheel, or the repository's ``configs/``."""
    for candidate in (_PACKAGE_DIR / "configs", _PACKAGE_DIR.parents[1] / "configs"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"medzoo's Hydra configs were not found next to {_PACKAGE_DIR}; "
        "reinstall medzoo with `pip install .` from the repository root."
    )


def data_root(override: str | os.PathLike | None = None) -> Path:
    """``data.root`` override, else ``$MEDZOO_DATA``, else ``./data``."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("MEDZOO_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return Path("data").resolve()


def cache_dir() -> Path:
    """Decoded-image cache: ``$MEDZOO_CACHE``, else ``~/.cache/medzoo``."""
    env = os.environ.get("MEDZOO_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "medzoo"
    path.mkdir(parents=True, exist_ok=True)
    return path
