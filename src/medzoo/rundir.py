"""The run directory: one folder per run, written once, never overwritten.

Layout: ``config.yaml`` (resolved), ``manifest.csv`` (every image with its split),
``metrics.json``, ``predictions.csv``, ``report.md``, ``roc.png``, ``confusion.png``,
``checkpoints/`` and ``logs/``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from medzoo.data.manifest import ManifestError


class RunDirectory:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, base: str | Path, name: str) -> RunDirectory:
        """A fresh ``base/name/<timestamp>[-k]`` folder; an existing run is never reused."""
        parent = Path(base) / name
        parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        for attempt in range(1000):
            path = parent / (stamp if attempt == 0 else f"{stamp}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise FileExistsError(f"could not create a new run folder under {parent}")

    @classmethod
    def open(cls, path: str | Path) -> RunDirectory:
        """An existing run; raises with a clear message when ``path`` is not one."""
        run = cls(Path(path).expanduser())
        if not (run.path / "config.yaml").is_file():
            raise FileNotFoundError(
                f"{run.path} is not a medzoo run directory (no config.yaml); pass the folder "
                "that `python -m medzoo.train` printed, e.g. outputs/<task>/<timestamp>"
            )
        return run

    @classmethod
    def locate(cls, target: str | Path) -> tuple[RunDirectory, Path]:
        """The run and checkpoint that ``target`` (a run folder or a ``.ckpt`` in one) names."""
        path = Path(target).expanduser()
        if path.is_file() and path.suffix == ".ckpt":
            return cls.open(path.parent.parent), path
        run = cls.open(path)
        return run, run.best_checkpoint()

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def file(self, name: str) -> Path:
        """Path for a new file; refuses to replace one that a run already wrote."""
        target = self.path / name
        if target.exists():
            raise FileExistsError(f"{target} exists; a run directory is written once")
        return target

    def write_text(self, name: str, text: str) -> Path:
        target = self.file(name)
        target.write_text(text, encoding="utf-8")
        return target

    def write_json(self, name: str, document: object) -> Path:
        return self.write_text(name, json.dumps(document, indent=2) + "\n")

    def write_config(self, cfg: DictConfig) -> Path:
        return self.write_text("config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    def read_config(self) -> DictConfig:
        return OmegaConf.load(self.path / "config.yaml")

    def read_json(self, name: str) -> dict:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def check_split(self, current: pd.DataFrame) -> None:
        """Raise unless ``current`` (a manifest built now) holds the images and splits this
        run saved in ``manifest.csv``."""
        saved = pd.read_csv(self.path / "manifest.csv", dtype=str, keep_default_na=False)
        if (
            saved[["image", "split"]].to_numpy().tolist()
            != current[["image", "split"]].astype(str).to_numpy().tolist()
        ):
            raise ManifestError(
                f"the data no longer match the split saved in {self.path / 'manifest.csv'} "
                "(images were added, removed or moved): continuing from this run would not be "
                "comparable. Restore the data, or train a new run."
            )

    def best_checkpoint(self) -> Path:
        for name in ("best.ckpt", "last.ckpt"):
            if (self.checkpoints / name).is_file():
                return self.checkpoints / name
        if (self.path / "model.json").is_file():
            raise FileNotFoundError(
                f"{self.path} is a text-baseline run: its model is model.json (no checkpoint), "
                "evaluated when trained (metrics.json)"
            )
        if (self.checkpoints / "detector.pt").is_file():
            raise FileNotFoundError(
                f"{self.path} is a detection run (detector.pt + verifier.ckpt): load it with "
                "medzoo.detection.pipeline.TwoStagePipeline.from_run, or run "
                "python -m medzoo.predict run=<run> input=<video or frames>"
            )
        raise FileNotFoundError(f"no checkpoint in {self.checkpoints}; the run did not finish")
