"""Composing medzoo's Hydra config from Python (tests, notebooks, ``medzoo.create_task``)."""

from __future__ import annotations

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig

from medzoo.paths import config_dir


def compose(overrides: list[str] | None = None, config_name: str = "config") -> DictConfig:
    """The same config ``python -m medzoo.train <overrides>`` would see."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides or []))
